// The console's lines/s of the whole cluster (SPEC 13 on SPEC 9): route()
// counts each line on the node that ingested it (buffer/rates.ts); this part
// shares those counts through Redis so every node answers the stats route
// with the sum over the live nodes.
//
// Writer: once a period (1 s by default, just after each second starts, so
// the second that just ended is complete), a node copies to ONE hash of its
// own, `lp:node:<id>:rates`, the 10-second blocks its apps counted lines in
// since its last write: field `<app>:<block start>` -> `a,h,o,a,h,o,...` (the
// block's seconds, trailing empty seconds left out). Blocks that left the
// 5-minute window are deleted from the hash; the hash's TTL is renewed with
// each write, so a node that dies takes its counts with it after the TTL. A
// period costs one pipeline on that one key, usually 2 to 4 commands (PEXPIRE
// to see the hash is still there, HSET of the changed blocks, HDEL of the
// expired ones, PEXPIRE): its size grows with the apps that had lines in the
// period, never with the lines.
//
// Reader: the stats route adds to this node's own counts (fresh, local) what
// every other live node (NodeRegistry.live) last wrote for the app: one HMGET
// of the window's 31 blocks per other node, each on one key (a Redis Cluster
// needs nothing more). When Redis does not answer, the local counts are the
// answer, marked partial.
import type { Redis } from 'ioredis';
import type { Registry } from '../apps.js';
import { RATE_SOURCES, RATE_WINDOW_S, type RateSeries } from '../buffer/rates.js';
import type { Log } from '../obs/log.js';
import type { Child } from '../obs/metrics.js';
import { nodeRates } from '../redis/keys.js';
import { pipelineByOwner } from '../redis/pipeline.js';

/** Seconds per hash field. */
export const RATE_BLOCK_S = 10;
const NSRC = RATE_SOURCES.length;
/** Fields per HSET / HDEL command (a period after an outage rewrites the whole window of every app). */
const FIELDS_PER_COMMAND = 1000;
/** How long the stats route waits for the other nodes' counts before it answers with its own (partial). */
const READ_TIMEOUT_MS = 1000;

export interface RateShareOptions {
  redis: Redis;
  registry: Registry;
  nodeId: string;
  /** Live node ids (this one included), as the registry last saw them. */
  live: () => readonly string[];
  /** Write period, ms: lines reach the other nodes' stats within about this. */
  periodMs: number;
  /** The hash's lifetime without a write, ms: a dead node's counts go after this (or once it leaves the registry, if sooner). */
  ttlMs: number;
  log: Log;
  /** Counted once per period whose write failed (Redis unreachable, or a reply was an error). */
  writeFailures: Child;
  /** Counted once per stats answer that lacks other nodes' counts (Redis unreachable). */
  partialReads: Child;
}

/** What the reader added: how many nodes' counts the series now sums, and whether some could not be read. */
export interface RateShareRead {
  nodes: number;
  partial: boolean;
}

/** The start of the block holding second s. */
export function blockOf(s: number): number {
  return s - (((s % RATE_BLOCK_S) + RATE_BLOCK_S) % RATE_BLOCK_S);
}

/** The field of one app's block. App ids are [a-z0-9._-]: no ':' in them. */
export function rateField(app: string, block: number): string {
  return `${app}:${block}`;
}

/** A block's counts as written: NSRC numbers per second, comma-separated, trailing empty seconds left out. */
export function encodeBlock(counts: readonly number[]): string {
  let end = counts.length;
  while (end > 0 && counts[end - 1] === 0) end--;
  end = Math.ceil(end / NSRC) * NSRC;
  return counts.slice(0, end).join(',');
}

/** Add an encoded block (its first second `block`) into series, for the seconds of series' window up to nowSec. Malformed numbers count 0. */
export function addBlock(series: RateSeries, nowSec: number, block: number, value: string): void {
  const parts = value.split(',');
  for (let i = 0; i < parts.length; i++) {
    const s = block + Math.floor(i / NSRC);
    if (s < series.start || s > nowSec) continue;
    const n = Number(parts[i]);
    if (!Number.isFinite(n) || n <= 0) continue;
    const arr = series.counts[RATE_SOURCES[i % NSRC]!];
    const at = s - series.start;
    if (at < arr.length) arr[at] = arr[at]! + n;
  }
}

export class RateShare {
  readonly #o: RateShareOptions;
  readonly #key: string;
  /** Fields this node wrote, by block start, until their block leaves the window (then deleted). */
  readonly #held = new Map<number, Set<string>>();
  /** The second of the last successful write; -1: none yet (the first write copies the whole window). */
  #lastOk = -1;
  /** Rewrite the whole window (the first write, and after a failure or a lost hash). */
  #full = true;
  #failing = false;
  #writing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  /** Apps deleted since the last write: their fields go with it (an app made again under the name starts from 0). */
  readonly #deleted = new Set<string>();
  readonly #buf: number[] = new Array<number>(RATE_BLOCK_S * NSRC).fill(0);

  constructor(opts: RateShareOptions) {
    this.#o = opts;
    this.#key = nodeRates(opts.nodeId);
  }

  /** Write once a period, just after each period boundary (a second's counts are complete once it ended). */
  start(): void {
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    const p = this.#o.periodMs;
    const offset = Math.min(100, Math.floor(p / 4));
    const now = Date.now();
    let wait = p - (now % p) + offset;
    if (wait > p) wait -= p;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.write().finally(() => this.#schedule());
    }, wait).unref();
  }

  /** One write (the timer's; tests call it to skip the wait). Resolves when done; never rejects. */
  write(): Promise<void> {
    this.#writing ??= this.#write().finally(() => (this.#writing = null));
    return this.#writing;
  }

  async #write(): Promise<void> {
    const nowSec = Math.floor(Date.now() / 1000);
    const windowStart = nowSec - RATE_WINDOW_S + 1;
    const full = this.#full || this.#lastOk < 0;
    // late lines land in an earlier second (the receive time is taken before a batch is routed): 2 s back covers them
    const from = full ? windowStart : Math.max(windowStart, this.#lastOk - 2);
    const firstBlock = blockOf(from);
    const lastBlock = blockOf(nowSec);
    // the hash should be there already: its TTL renewal says whether it still is
    const hadKey = !full && this.#held.size > 0;
    // deleted apps' fields first (an app made again under the name since writes its own below)
    const gone: string[] = [];
    if (this.#deleted.size > 0) {
      for (const [b, fields] of this.#held) {
        for (const f of fields) {
          if (!this.#deleted.has(f.slice(0, f.lastIndexOf(':')))) continue;
          gone.push(f);
          fields.delete(f);
        }
        if (fields.size === 0) this.#held.delete(b);
      }
      this.#deleted.clear();
    }
    const sets: string[] = [];
    for (const app of this.#o.registry.apps()) {
      if (app.rates.newest < from) continue;
      for (let b = firstBlock; b <= lastBlock; b += RATE_BLOCK_S) {
        const buf = this.#buf;
        app.rates.read(b, RATE_BLOCK_S, buf);
        // the window's first block: its seconds before the window are not shown by any reader
        if (b < windowStart) buf.fill(0, 0, (windowStart - b) * NSRC);
        if (!buf.some((v) => v !== 0)) continue;
        const field = rateField(app.id, b);
        sets.push(field, encodeBlock(this.#buf));
        let held = this.#held.get(b);
        if (!held) this.#held.set(b, (held = new Set()));
        held.add(field);
      }
    }
    for (const [b, fields] of this.#held) {
      if (b + RATE_BLOCK_S - 1 >= windowStart) continue;
      for (const f of fields) gone.push(f);
      this.#held.delete(b);
    }
    if (sets.length === 0 && gone.length === 0 && this.#held.size === 0) {
      this.#ok(nowSec);
      return;
    }
    const p = pipelineByOwner(this.#o.redis);
    let n = 0;
    const probe = hadKey ? n++ : -1;
    if (hadKey) p.pexpire(this.#key, this.#o.ttlMs); // 0: the hash is gone (Redis restarted, flushed): rewrite it all
    // HDEL before HSET: a deleted app's field may be written again by the app made under its name
    for (let i = 0; i < gone.length; i += FIELDS_PER_COMMAND, n++) p.hdel(this.#key, ...gone.slice(i, i + FIELDS_PER_COMMAND));
    for (let i = 0; i < sets.length; i += FIELDS_PER_COMMAND * 2, n++) p.hset(this.#key, ...sets.slice(i, i + FIELDS_PER_COMMAND * 2));
    if (sets.length > 0 || !hadKey) {
      p.pexpire(this.#key, this.#o.ttlMs); // after HSET: a hash it made gets its TTL too
      n++;
    }
    try {
      const res = await p.exec();
      const err = res?.find((r) => r[0] !== null)?.[0];
      if (err || !res || res.length !== n) throw err ?? new Error('no reply');
      if (probe >= 0 && res[probe]![1] === 0) {
        this.#o.log.warn({ at: 'cluster.rates_lost', node: this.#o.nodeId }, "this node's lines/s counts were gone from Redis; rewriting them");
        this.#full = true;
        this.#lastOk = nowSec;
        return;
      }
      this.#ok(nowSec);
    } catch (e) {
      this.#o.writeFailures.inc();
      this.#full = true;
      if (!this.#failing) {
        this.#failing = true;
        this.#o.log.warn({ at: 'cluster.rates_write_failed', err: (e as Error).message }, "could not write this node's lines/s counts to Redis; other nodes' consoles miss them until it can");
      }
    }
  }

  #ok(nowSec: number): void {
    this.#lastOk = nowSec;
    this.#full = false;
    if (this.#failing) {
      this.#failing = false;
      this.#o.log.info({ at: 'cluster.rates_write_ok' }, "this node's lines/s counts are written to Redis again");
    }
  }

  /** An app was deleted: its counts leave the hash with the next write. */
  forget(app: string): void {
    this.#deleted.add(app);
  }

  /**
   * Add every other live node's counts of app to series (this node's own,
   * made by LineRates.series(nowSec)). Never throws: when Redis does not
   * answer (or answers an error for some node), what could be read is added
   * and the answer says partial.
   */
  async addOthers(app: string, series: RateSeries, nowSec: number): Promise<RateShareRead> {
    const others = this.#o.live().filter((id) => id !== this.#o.nodeId);
    if (others.length === 0) return { nodes: 1, partial: false };
    const blocks: number[] = [];
    for (let b = blockOf(series.start); b <= nowSec; b += RATE_BLOCK_S) blocks.push(b);
    const fields = blocks.map((b) => rateField(app, b));
    const p = pipelineByOwner(this.#o.redis);
    for (const id of others) p.hmget(nodeRates(id), ...fields);
    let timer: NodeJS.Timeout | undefined;
    let res: Array<[Error | null, unknown]> | null = null;
    try {
      res = await Promise.race([p.exec(), new Promise<null>((r) => (timer = setTimeout(() => r(null), READ_TIMEOUT_MS)))]);
    } catch {
      res = null;
    } finally {
      clearTimeout(timer);
    }
    let nodes = 1;
    let partial = res === null;
    if (res !== null) {
      for (let k = 0; k < others.length; k++) {
        const r = res[k];
        if (!r || r[0] !== null) {
          partial = true;
          continue;
        }
        nodes++;
        const values = r[1] as Array<string | null>;
        for (let i = 0; i < blocks.length; i++) {
          const v = values[i];
          if (v) addBlock(series, nowSec, blocks[i]!, v);
        }
      }
    }
    if (partial) this.#o.partialReads.inc();
    return { nodes, partial };
  }

  /** Graceful stop: no more writes; the hash is deleted (the node leaves the registry at once too). */
  async stop(): Promise<void> {
    this.kill();
    await this.#writing;
    await this.#o.redis.del(this.#key).catch(() => {});
  }

  /** Stop writing, nothing more (a crash, or Redis already closed): the hash expires by itself. */
  kill(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
