// The console's lines/s of the whole cluster (SPEC 13 on SPEC 9): route()
// counts each line on the node that ingested it (buffer/rates.ts); this part
// shares those counts through Redis so every node answers the stats route
// with the sum over the live nodes.
//
// Writer: once a period (1 s by default, just after each second starts, so
// the second that just ended is complete), the node's stats write
// (node-stats.ts) copies into the node's record, the hash
// `lp:node:<id>:rates`, the 10-second blocks its apps counted lines in since
// its last write: field `<app>:<block start>` -> `a,h,o,a,h,o,...` (the
// block's seconds, trailing empty seconds left out). Blocks that left the
// 5-minute window are deleted from the hash; the hash's TTL is renewed with
// each write, so a node that dies takes its counts with it after the TTL.
// This part gives the write its fields (HSET of the changed blocks, HDEL of
// the expired ones) and whether to check first that the hash is still there:
// their number grows with the apps that had lines in the period, never with
// the lines.
//
// Reader: the stats route adds to this node's own counts (fresh, local) what
// every other live node (NodeRegistry.live) last wrote for the app: one HMGET
// of the window's 31 blocks per other node, each on one key (a Redis Cluster
// needs nothing more). When Redis does not answer, the local counts are the
// answer, marked partial.

import type { Redis } from 'ioredis';
import type { Registry } from '../apps.js';
import { RATE_SOURCES, RATE_WINDOW_S, type RateSeries } from '../buffer/rates.js';
import { nodeRates } from '../redis/keys.js';
import { pipelineByOwner } from '../redis/pipeline.js';
import { readWithin, type RecordFields } from './stats-batch.js';

/** Seconds per hash field. */
export const RATE_BLOCK_S = 10;
const NSRC = RATE_SOURCES.length;
/** The longest block value a reader parses: 30 numbers of up to 10 digits and their commas (a longer one is not a block this release wrote). */
const MAX_BLOCK_CHARS = RATE_BLOCK_S * NSRC * 11;

export interface RateShareOptions {
  redis: Redis;
  registry: Registry;
  nodeId: string;
  /** Live node ids (this one included), as the registry last saw them. */
  live: () => readonly string[];
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

/** Add an encoded block (its first second `block`) into series, for the seconds of series' window up to nowSec. Malformed numbers count 0; a value longer than a block can be is skipped whole. */
export function addBlock(series: RateSeries, nowSec: number, block: number, value: string): void {
  if (value.length > MAX_BLOCK_CHARS) return;
  const parts = value.split(',');
  for (let i = 0; i < parts.length && i < RATE_BLOCK_S * NSRC; i++) {
    const s = block + Math.floor(i / NSRC);
    if (s < series.start || s > nowSec) continue;
    const n = Number(parts[i]);
    if (!Number.isFinite(n) || n <= 0) continue;
    const arr = series.counts[RATE_SOURCES[i % NSRC]!];
    const at = s - series.start;
    if (at < arr.length) arr[at] = arr[at]! + n;
  }
}

/** How a write of the record went, for the rates part: written, written into a hash that had gone (rewrite it all), or failed. */
export type RecordOutcome = 'ok' | 'lost' | 'failed';

export class RateShare {
  readonly #o: RateShareOptions;
  /** Fields this node wrote, by block start, until their block leaves the window (then deleted). */
  readonly #held = new Map<number, Set<string>>();
  /** The second of the last successful write; -1: none yet (the first write copies the whole window). */
  #lastOk = -1;
  /** Rewrite the whole window (the first write, and after a failure or a lost hash). */
  #full = true;
  /** Apps deleted since the last write: their fields go with it (an app made again under the name starts from 0). */
  readonly #deleted = new Set<string>();
  readonly #buf: number[] = new Array<number>(RATE_BLOCK_S * NSRC).fill(0);

  constructor(opts: RateShareOptions) {
    this.#o = opts;
  }

  /**
   * This period's fields of the record: the blocks that changed since the
   * last write, into rec.sets; the blocks that left the window and deleted
   * apps' blocks, into rec.dels. Returns whether the write should first check
   * that the hash is still there (this node holds fields in it).
   */
  collect(rec: RecordFields, nowSec: number): boolean {
    const windowStart = nowSec - RATE_WINDOW_S + 1;
    const full = this.#full || this.#lastOk < 0;
    // late lines land in an earlier second (the receive time is taken before a batch is routed): 2 s back covers them
    const from = full ? windowStart : Math.max(windowStart, this.#lastOk - 2);
    const firstBlock = blockOf(from);
    const lastBlock = blockOf(nowSec);
    // the hash should be there already: its TTL renewal says whether it still is
    const hadKey = !full && this.#held.size > 0;
    // deleted apps' fields first (an app made again under the name since writes its own below)
    if (this.#deleted.size > 0) {
      for (const [b, fields] of this.#held) {
        for (const f of fields) {
          if (!this.#deleted.has(f.slice(0, f.lastIndexOf(':')))) continue;
          rec.dels.push(f);
          fields.delete(f);
        }
        if (fields.size === 0) this.#held.delete(b);
      }
      this.#deleted.clear();
    }
    for (const app of this.#o.registry.apps()) {
      if (app.rates.newest < from) continue;
      for (let b = firstBlock; b <= lastBlock; b += RATE_BLOCK_S) {
        const buf = this.#buf;
        app.rates.read(b, RATE_BLOCK_S, buf);
        // the window's first block: its seconds before the window are not shown by any reader
        if (b < windowStart) buf.fill(0, 0, (windowStart - b) * NSRC);
        if (!buf.some((v) => v !== 0)) continue;
        const field = rateField(app.id, b);
        rec.sets.push(field, encodeBlock(this.#buf));
        let held = this.#held.get(b);
        if (!held) this.#held.set(b, (held = new Set()));
        held.add(field);
      }
    }
    for (const [b, fields] of this.#held) {
      if (b + RATE_BLOCK_S - 1 >= windowStart) continue;
      for (const f of fields) rec.dels.push(f);
      this.#held.delete(b);
    }
    return hadKey;
  }

  /** The record's write of the period collected at nowSec: done, done into a hash that had gone (rewrite it all next time), or failed (the same). */
  settle(outcome: RecordOutcome, nowSec: number): void {
    if (outcome !== 'failed') this.#lastOk = nowSec;
    this.#full = outcome !== 'ok';
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
    const res = await readWithin(p);
    let nodes = 1;
    let partial = res === null;
    if (res !== null) {
      for (let k = 0; k < others.length; k++) {
        const r = res[k];
        if (!r || r[0] !== null || !Array.isArray(r[1])) {
          partial = true;
          continue;
        }
        nodes++;
        const values = r[1] as unknown[];
        for (let i = 0; i < blocks.length; i++) {
          const v = values[i];
          if (typeof v === 'string' && v) addBlock(series, nowSec, blocks[i]!, v);
        }
      }
    }
    return { nodes, partial };
  }
}
