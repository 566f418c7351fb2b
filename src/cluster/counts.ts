// The apps' line counts of the whole cluster (SPEC 7's per-app stats, in
// distributed mode): `GET /v3/channels`' lines_in, bytes_in and rate_limited,
// and the stats route's rate_limited, are the app's counts over every node,
// kept in Redis, instead of the answering node's since it started.
//
// Where: COUNT_SHARDS hashes, `lp:{counts:<s>}:apps` (s = countShard(app):
// FNV-1a of the id, so the apps spread over the shards and the shards over
// a Redis Cluster's masters), field <app> -> `lines,bytes,rate limited`.
//
// Writer: once a period, in the node's stats write (node-stats.ts, the same
// pipeline as its record), the node adds what each app counted on it since
// its last batch: one script call per shard with new counts, usually none
// to a few; their size grows with the apps that had lines, never with the
// lines. A batch is applied exactly once: it carries a sequence number,
// the script applies it only above the last one it applied for the node
// (kept beside the shard, `lp:{counts:<s>}:node:<id>`, one slot with it, for
// a day), and a batch whose reply did not come (Redis away, a timeout) is
// sent again as it was until a reply says applied or already applied; the
// counts made meanwhile wait in the apps' counters for the next batch.
//
// Why a shared total rather than each node's counts since it started,
// summed over the live nodes as the lines/s are: a node's counts would
// leave the sum when the node dies or stops (a deploy restarts them all),
// so the totals would go back; here what a node added stays when it goes.
// A node that dies loses only what it counted since its last batch (about a
// second); one that stops writes until nothing waits (NodeStats.stop). The price is a Redis write per shard per period per node, on
// keys every node writes; a period's batches are as big as the apps with
// lines in it, like the record's blocks.
//
// Reader: one HMGET per shard of the apps asked for (a page of the channel
// list, or one app), so about a period behind for every node's lines, this
// one's too: the answer is the same on every node. When Redis does not
// answer, the answer is this node's own counts since it started, marked
// partial.
import type { Redis } from 'ioredis';
import type { App, Registry } from '../apps.js';
import { COUNT_SHARDS, appCounts, countShard, nodeCountsSeq } from '../redis/keys.js';
import { pipelineByOwner } from '../redis/pipeline.js';
import type { ScriptPipeline } from '../redis/scripts.js';
import { readWithin, type StatsBatch, type StatsReplies } from './stats-batch.js';

/** How long a shard remembers the last batch a node applied (a batch is sent again within seconds, or after an outage). */
export const COUNT_SEQ_TTL_MS = 24 * 3600_000;
/**
 * A value as written: three whole numbers, at most 20 digits each. The
 * script adds in Lua numbers (doubles) and prints them whole (%.0f): exact
 * up to 2^53 (16 digits), past it a double close to the sum, 17 digits from
 * 10^16, which an app's bytes_in can reach (10 PB: at 100 MB/s, in about 3
 * years), so 16 digits would read such a count as 0. 20 digits (10^20: 3,000
 * years at 1 GB/s) cannot be passed; the bound keeps a junk value short.
 */
const COUNTS_RE = /^(\d{1,20}),(\d{1,20}),(\d{1,20})$/;
const MAX_VALUE_CHARS = 3 * 20 + 2;

/** Lines routed, their bytes, lines the rate limit dropped. */
export type Counts = [lines: number, bytes: number, limited: number];

/** A value read from a shard, or null when it is not one (absent, too long, malformed). */
export function parseCounts(v: unknown): Counts | null {
  if (typeof v !== 'string' || v.length > MAX_VALUE_CHARS) return null;
  const m = COUNTS_RE.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** An app's counts on this node since it started (what embedded mode answers). */
export function localCounts(app: App): Counts {
  return [app.linesIn, app.bytesIn, app.rateLimited];
}

/** Counts of apps read from Redis: the apps whose shard answered (absent there: 0), and whether some shard did not. */
export interface CountsRead {
  counts: Map<string, Counts>;
  partial: boolean;
}

interface Shard {
  /** The batch sent and not yet known applied (sent again as it is), its number; null: none. */
  args: string[] | null;
  batch: number;
  /** Apps deleted whose field this node has not removed yet (each node removes it, after its own last batch of the app). */
  forget: Set<string>;
}

export interface AppCountsOptions {
  redis: Redis;
  registry: Registry;
  nodeId: string;
}

export class AppCounts {
  readonly #o: AppCountsOptions;
  /** What each app had counted when its last batch was made. */
  readonly #base = new WeakMap<App, Counts>();
  readonly #shards: Shard[] = Array.from({ length: COUNT_SHARDS }, () => ({ args: null, batch: 0, forget: new Set<string>() }));
  /** The last batch number given (rises for the node's whole life, across shards). */
  #batches = 0;
  /** The last queue() left counts of some app waiting behind a batch of its shard that was out. */
  #held = false;
  /** Batches known applied (the stop: did a write get anywhere). */
  #applied = 0;

  constructor(opts: AppCountsOptions) {
    this.#o = opts;
  }

  /** Batches not yet known applied (tests, the stop). */
  get unsent(): number {
    return this.#shards.filter((s) => s.args !== null).length;
  }

  /** Counts not in Redis yet as of the last write: a batch not known applied, or counts that waited behind one (the stop writes again). */
  get waiting(): boolean {
    return this.#held || this.unsent > 0;
  }

  /** Batches known applied since the node started. */
  get applied(): number {
    return this.#applied;
  }

  /** An app was deleted: its field leaves the shard with the next write (a new app of the name starts from 0). */
  forget(app: string): void {
    this.#shards[countShard(app)]!.forget.add(app);
  }

  /**
   * Queue this period's commands: per shard, the batch not yet known applied
   * (sent again), or a new batch of what the apps counted since their last
   * one; and the deleted apps' fields. Returns what to do with the replies:
   * false when some of them failed (the batch goes again next period).
   */
  queue(b: StatsBatch): (res: StatsReplies | null) => boolean {
    const fresh = new Map<number, string[]>();
    this.#held = false;
    for (const app of this.#o.registry.apps()) {
      // no allocation for an app that counted nothing new (most, most of the time)
      const lines = app.linesIn;
      const bytes = app.bytesIn;
      const limited = app.rateLimited;
      let was = this.#base.get(app);
      if (was ? was[0] === lines && was[1] === bytes && was[2] === limited : lines === 0 && bytes === 0 && limited === 0) continue;
      const s = countShard(app.id);
      // a batch of this shard is out: these counts wait for the next one
      if (this.#shards[s]!.args !== null) {
        this.#held = true;
        continue;
      }
      if (!was) this.#base.set(app, (was = [0, 0, 0]));
      // counters only rise
      const d0 = lines - was[0];
      const d1 = bytes - was[1];
      const d2 = limited - was[2];
      was[0] = lines;
      was[1] = bytes;
      was[2] = limited;
      if (d0 === 0 && d1 === 0 && d2 === 0) continue;
      let args = fresh.get(s);
      if (!args) fresh.set(s, (args = []));
      args.push(app.id, String(d0), String(d1), String(d2));
    }
    const queued: Array<{ shard: Shard; add: number; del: number; dels: string[] }> = [];
    for (let s = 0; s < COUNT_SHARDS; s++) {
      const shard = this.#shards[s]!;
      const resend = shard.args !== null;
      const args = fresh.get(s);
      if (!resend && !args && shard.forget.size === 0) continue;
      const dels = [...shard.forget];
      const key = appCounts(s);
      let del = -1;
      // a new batch holds no counts of a deleted app (it left the registry): delete first, so an app made again
      // under the name keeps its counts; a batch sent again may hold some: delete after it
      if (!resend && dels.length > 0) del = b.add((p) => p.hdel(key, ...dels));
      if (!resend && args) {
        shard.args = args;
        shard.batch = ++this.#batches;
      }
      let add = -1;
      const batch = shard.batch;
      const sent = shard.args;
      if (sent !== null) add = b.add((p) => (p as unknown as ScriptPipeline).lpAddCounts(key, nodeCountsSeq(s, this.#o.nodeId), batch, COUNT_SEQ_TTL_MS, ...sent));
      if (resend && dels.length > 0) del = b.add((p) => p.hdel(key, ...dels));
      queued.push({ shard, add, del, dels });
    }
    return (res) => {
      let ok = res !== null;
      for (const { shard, add, del, dels } of queued) {
        if (add >= 0) {
          if (res !== null && res[add]?.[0] === null) {
            shard.args = null;
            this.#applied++;
          } else ok = false;
        }
        if (del >= 0) {
          if (res !== null && res[del]?.[0] === null) for (const id of dels) shard.forget.delete(id);
          else ok = false;
        }
      }
      return ok;
    };
  }

  /** After the last write of a graceful stop: the shards need not remember this node's batches any more (those not known applied aside). */
  async dropSeqs(): Promise<void> {
    const p = pipelineByOwner(this.#o.redis);
    let n = 0;
    for (let s = 0; s < COUNT_SHARDS; s++) {
      if (this.#shards[s]!.batch === 0 || this.#shards[s]!.args !== null) continue;
      p.del(nodeCountsSeq(s, this.#o.nodeId));
      n++;
    }
    if (n > 0) await p.exec().catch(() => {});
  }

  /** The cluster's counts of these apps (ids of the registry: validated). Never throws: shards that did not answer make it partial. */
  async read(apps: readonly string[]): Promise<CountsRead> {
    const counts = new Map<string, Counts>();
    if (apps.length === 0) return { counts, partial: false };
    const byShard = new Map<number, string[]>();
    for (const id of apps) {
      const s = countShard(id);
      const ids = byShard.get(s);
      if (ids) ids.push(id);
      else byShard.set(s, [id]);
    }
    const p = pipelineByOwner(this.#o.redis);
    const order: string[][] = [];
    for (const [s, ids] of byShard) {
      p.hmget(appCounts(s), ...ids);
      order.push(ids);
    }
    const res = await readWithin(p);
    let partial = res === null;
    if (res !== null) {
      order.forEach((ids, k) => {
        const r = res[k];
        if (!r || r[0] !== null || !Array.isArray(r[1])) {
          partial = true;
          return;
        }
        const values = r[1] as unknown[];
        ids.forEach((id, i) => counts.set(id, parseCounts(values[i]) ?? [0, 0, 0]));
      });
    }
    return { counts, partial };
  }
}
