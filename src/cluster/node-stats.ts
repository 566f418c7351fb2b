// A node's stats write (SPEC 9, 13 and 17 in distributed mode): once a
// period (1 s), just after each second starts, ONE pipeline carries all that
// this node shares about its traffic; there were two writers, each with a
// round trip of its own every second:
//
//   its record, the hash lp:node:<id>:rates (TTL 5 s, renewed by each write):
//     <app>:<block start>  the console's lines/s, by 10-second block (rates.ts)
//     :limit               the rate limit's report, with the limit on (limit-share.ts)
//   one HGET of :limit per other live node (limit-share.ts)
//   the apps' line counts, added to the shared shards lp:{counts:<s>}:apps
//     (counts.ts), a script call per shard with new counts
//
// Every command names one key (the shards' script two keys of one slot), so
// on a Redis Cluster the pipeline is split by master and sent to each in
// parallel: one round trip per period either way. Nothing is written in a
// period with nothing to say (no lines for 5 minutes, no report, no counts).
//
// The readers the routes use are here too: the stats route's lines/s of
// every live node (rates.ts) and rate_limited, and the channel list's
// counts (counts.ts), each within READ_TIMEOUT_MS, partial otherwise.
import type { Redis } from 'ioredis';
import type { App, Registry } from '../apps.js';
import type { RateSeries } from '../buffer/rates.js';
import type { Log } from '../obs/log.js';
import type { Child } from '../obs/metrics.js';
import { nodeRates } from '../redis/keys.js';
import { AppCounts, localCounts, type Counts } from './counts.js';
import type { LimitShares } from './limit-share.js';
import { RateShare } from './rates.js';
import { StatsBatch, type RecordFields, type StatsReplies } from './stats-batch.js';
import { within } from '../basics/within.js';

/** Fields per HSET / HDEL command (a period after an outage rewrites the whole window of every app). */
const FIELDS_PER_COMMAND = 1000;
/** How long a graceful stop waits for its last writes (the counts since the last period). */
const STOP_WRITE_MS = 1000;

export interface NodeStatsOptions {
  redis: Redis;
  registry: Registry;
  nodeId: string;
  /** Live node ids (this one included), as the registry last saw them. */
  live: () => readonly string[];
  /** Write period, ms: lines reach the other nodes' stats within about this. */
  periodMs: number;
  /** The record's lifetime without a write, ms: a dead node's lines/s go after this (or once it leaves the registry, if sooner). */
  ttlMs: number;
  log: Log;
  /** Counted once per period whose write failed (Redis unreachable, or a reply was an error). */
  writeFailures: Child;
  /** Counted once per answer that lacks some figures from Redis (it did not answer in time). */
  partialReads: Child;
}

/** The stats route's figures from Redis: nodes summed for the lines/s, the app's cluster counts, partial when some could not be read. */
export interface AppStatsRead {
  nodes: number;
  partial: boolean;
  counts: Counts;
}

/** The channel list's counts: every app asked for (this node's own where its shard did not answer: partial). */
export interface ListCountsRead {
  counts: Map<string, Counts>;
  partial: boolean;
}

export class NodeStats {
  /** The console's lines/s part (its reader too). */
  readonly rates: RateShare;
  /** The apps' line counts part (its reader too). */
  readonly counts: AppCounts;
  readonly #o: NodeStatsOptions;
  readonly #key: string;
  #limit: LimitShares | null = null;
  #failing = false;
  #writing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(opts: NodeStatsOptions) {
    this.#o = opts;
    this.#key = nodeRates(opts.nodeId);
    this.rates = new RateShare({ redis: opts.redis, registry: opts.registry, nodeId: opts.nodeId, live: opts.live });
    this.counts = new AppCounts({ redis: opts.redis, registry: opts.registry, nodeId: opts.nodeId });
  }

  /** The rate limit's exchange, part of each write while set (null: the limit is off, or stopped). */
  set limit(l: LimitShares | null) {
    this.#limit = l;
  }

  /** An app was deleted: its lines/s and its counts leave Redis with the next write. */
  forget(app: string): void {
    this.rates.forget(app);
    this.counts.forget(app);
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
    const b = new StatsBatch(this.#o.redis);
    const rec: RecordFields = { sets: [], dels: [] };
    const hadKey = this.rates.collect(rec, nowSec);
    const limitDone = this.#limit?.queue(b, rec) ?? null;
    const countsDone = this.counts.queue(b);
    // the record: is it still there (the TTL renewal says; 0: Redis restarted or was flushed, rewrite it all), then its fields
    const key = this.#key;
    const ttl = this.#o.ttlMs;
    const record: number[] = [];
    const probe = hadKey ? b.add((p) => p.pexpire(key, ttl)) : -1;
    if (probe >= 0) record.push(probe);
    // HDEL before HSET: a deleted app's field may be written again by the app made under its name
    for (let i = 0; i < rec.dels.length; i += FIELDS_PER_COMMAND) {
      const f = rec.dels.slice(i, i + FIELDS_PER_COMMAND);
      record.push(b.add((p) => p.hdel(key, ...f)));
    }
    for (let i = 0; i < rec.sets.length; i += FIELDS_PER_COMMAND * 2) {
      const f = rec.sets.slice(i, i + FIELDS_PER_COMMAND * 2);
      record.push(b.add((p) => p.hset(key, ...f)));
    }
    // after HSET: a hash it made gets its TTL too
    if (rec.sets.length > 0 || (rec.dels.length > 0 && !hadKey)) record.push(b.add((p) => p.pexpire(key, ttl)));

    let res: StatsReplies | null = [];
    if (b.size > 0) {
      try {
        res = await b.pipeline.exec();
        if (res && res.length !== b.size) res = null;
      } catch {
        res = null;
      }
    }
    const recordOk = res !== null && record.every((i) => res![i]?.[0] === null);
    const lost = recordOk && probe >= 0 && res![probe]![1] === 0;
    this.rates.settle(!recordOk ? 'failed' : lost ? 'lost' : 'ok', nowSec);
    if (lost) this.#o.log.warn({ at: 'cluster.stats_lost', node: this.#o.nodeId }, "this node's stats record was gone from Redis; rewriting it");
    const limitOk = limitDone ? limitDone(res, recordOk) : true;
    const countsOk = countsDone(res);
    if (recordOk && limitOk && countsOk) {
      if (this.#failing) {
        this.#failing = false;
        this.#o.log.info({ at: 'cluster.stats_write_ok' }, "this node's stats are written to Redis again");
      }
      return;
    }
    this.#o.writeFailures.inc();
    if (!this.#failing) {
      this.#failing = true;
      const err = res === null ? 'no reply' : (res.find((r) => !r || r[0] !== null)?.[0]?.message ?? 'no reply');
      this.#o.log.warn({ at: 'cluster.stats_write_failed', err }, "could not write this node's stats to Redis; other nodes miss its lines/s and its newest line counts until it can");
    }
  }

  /** The stats route's figures of app beyond this node's own lines/s (added into series). Never throws. */
  async appStats(app: App, series: RateSeries, nowSec: number): Promise<AppStatsRead> {
    const [rates, read] = await Promise.all([this.rates.addOthers(app.id, series, nowSec), this.counts.read([app.id])]);
    const partial = rates.partial || read.partial;
    if (partial) this.#o.partialReads.inc();
    return { nodes: rates.nodes, partial, counts: read.counts.get(app.id) ?? localCounts(app) };
  }

  /** The cluster's counts of a page of apps. Never throws. */
  async listCounts(apps: readonly App[]): Promise<ListCountsRead> {
    const read = await this.counts.read(apps.map((a) => a.id));
    if (read.partial) this.#o.partialReads.inc();
    const counts = new Map<string, Counts>();
    for (const a of apps) counts.set(a.id, read.counts.get(a.id) ?? localCounts(a));
    return { counts, partial: read.partial };
  }

  /**
   * Graceful stop: the last writes (the counts since the last period, within
   * STOP_WRITE_MS), then the record is deleted (the node leaves the registry
   * at once too). A shard whose batch was out sends it again, as it was, and
   * its apps' newer counts wait behind it: so write again while counts wait
   * and the last write applied some batch (one that applied none, Redis
   * away, ends it: what waits is lost with the node, as at a crash).
   */
  async stop(): Promise<void> {
    this.kill();
    await this.#writing;
    const end = Date.now() + STOP_WRITE_MS;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) break;
      const applied = this.counts.applied;
      const done = await within(this.write().then(() => true), left, false);
      if (!done || !this.counts.waiting || this.counts.applied === applied) break;
    }
    await this.#o.redis.del(this.#key).catch(() => {});
    await this.counts.dropSeqs();
  }

  /** Stop writing, nothing more (a crash, or Redis already closed): the record expires by itself. */
  kill(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
