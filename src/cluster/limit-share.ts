// The per-app ingest rate limit across nodes (SPEC 17 in distributed mode).
// Each node keeps its own token buckets (ingest/rate-limit.ts: no Redis on
// the hot path); once a period (1 s) it tells the others how many lines each
// app was sent to it, and sets each app's bucket to its share of the limit:
//
//   share = L × w / (w + O)    w = max(d, L/N)
//
// where L is the limit, d the app's lines/s at this node over the last
// period, O the sum of the other nodes' last reports for the app, and N the
// live nodes. With no other node reporting the app, the share is the whole
// limit, so an app whose lines all arrive at one node gets all of it; when
// several nodes take its lines, the shares follow where they arrive and add
// up to about L (each line has about the same chance of being admitted,
// whichever node it reaches). The floor L/N lets a node that just started
// getting an app's lines admit some at once. Error bounds: docs/reliability.md.
//
// Wire: one string key per node, `lp:node:<id>:limit`, JSON {app: lines/s}
// of the apps it was sent lines for in the last period, written with SET PX
// (3 periods) and read by the others with GET: one pipeline per period per
// node, 1 + (N-1) commands, whatever the traffic. When Redis cannot be
// reached, every bucket falls back to L/N (the sum across nodes stays within
// L) until an exchange goes through again.
import type { Redis } from 'ioredis';
import type { Log } from '../obs/log.js';
import { nodeLimitShare } from '../redis/keys.js';
import { pipelineByOwner } from '../redis/pipeline.js';
import type { NodeRegistry } from './nodes.js';

/** What the shares drive: the node's rate limiter (ingest/rate-limit.ts AppRateLimiter). */
export interface LimitShareTarget {
  /** The limit, lines/s per app. */
  readonly linesPerSec: number;
  /** Each app's lines asked about (admitted or dropped) since the last call, by app id; resets them. */
  takeDemand(): Map<string, number>;
  /** Set one app's bucket to linesPerSec (burst twice that). */
  setShare(appId: string, linesPerSec: number): void;
  /** Set every bucket, and new apps', to linesPerSec. */
  setAllShares(linesPerSec: number): void;
}

export interface LimitSharesOptions {
  periodMs: number;
  log: Log;
  now?: () => number;
}

/** The share of limit L of a node that had d lines/s of an app while the others had O, among n live nodes. */
export function rateShare(limit: number, d: number, others: number, n: number): number {
  if (others <= 0) return limit;
  const w = Math.max(d, limit / Math.max(1, n));
  return (limit * w) / (w + others);
}

export class LimitShares {
  readonly #redis: Redis;
  readonly #nodes: NodeRegistry;
  readonly #target: LimitShareTarget;
  readonly #opts: LimitSharesOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #last: number;
  #busy = false;
  /** Apps set below the limit by the last exchange (set back to it when they drop out). */
  #scaled = new Set<string>();
  /** The last exchange failed: every bucket is at L/N. */
  #fallback = false;

  constructor(redis: Redis, nodes: NodeRegistry, target: LimitShareTarget, opts: LimitSharesOptions) {
    this.#redis = redis;
    this.#nodes = nodes;
    this.#target = target;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#last = this.#now();
  }

  start(): void {
    this.#timer = setInterval(() => void this.exchange(), this.#opts.periodMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One period: report this node's demand, read the others', set the shares. */
  async exchange(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const now = this.#now();
      const elapsed = Math.max(1, now - this.#last);
      this.#last = now;
      const mine = new Map<string, number>();
      const report: Record<string, number> = {};
      for (const [id, n] of this.#target.takeDemand()) {
        const perSec = (n * 1000) / elapsed;
        mine.set(id, perSec);
        report[id] = Math.round(perSec * 10) / 10;
      }
      const self = this.#nodes.id;
      const others = this.#nodes.live.filter((id) => id !== self);
      const p = pipelineByOwner(this.#redis);
      p.set(nodeLimitShare(self), JSON.stringify(report), 'PX', 3 * this.#opts.periodMs);
      for (const id of others) p.get(nodeLimitShare(id));
      const res = (await p.exec()) ?? [];
      const err = res.find((x) => x[0] !== null)?.[0];
      if (err || res.length !== 1 + others.length) throw err ?? new Error('no reply');
      const theirs = new Map<string, number>();
      for (let i = 1; i < res.length; i++) {
        const raw = res[i]![1];
        if (typeof raw !== 'string') continue; // that node reported nothing lately
        let o: unknown;
        try {
          o = JSON.parse(raw);
        } catch {
          continue;
        }
        if (o === null || typeof o !== 'object') continue;
        for (const [id, v] of Object.entries(o as Record<string, unknown>)) if (typeof v === 'number' && v > 0) theirs.set(id, (theirs.get(id) ?? 0) + v);
      }
      this.#apply(mine, theirs, Math.max(1, this.#nodes.live.length));
    } catch (err) {
      this.#fail(err as Error);
    } finally {
      this.#busy = false;
    }
  }

  #apply(mine: Map<string, number>, theirs: Map<string, number>, n: number): void {
    const t = this.#target;
    const limit = t.linesPerSec;
    if (this.#fallback) {
      this.#fallback = false;
      t.setAllShares(limit);
      this.#scaled.clear();
      this.#opts.log.info({ at: 'cluster.rate_shares_ok' }, 'rate limit shares exchanged again');
    }
    const scaled = new Set<string>();
    for (const [id, o] of theirs) {
      const share = rateShare(limit, mine.get(id) ?? 0, o, n);
      t.setShare(id, share);
      scaled.add(id);
    }
    // apps only this node was sent lines for, or none: the whole limit
    for (const id of this.#scaled) if (!scaled.has(id)) t.setShare(id, limit);
    this.#scaled = scaled;
  }

  #fail(err: Error): void {
    if (this.#fallback) return;
    this.#fallback = true;
    const n = Math.max(1, this.#nodes.live.length);
    this.#target.setAllShares(this.#target.linesPerSec / n);
    this.#opts.log.warn({ at: 'cluster.rate_shares_failed', err: err.message, nodes: n }, 'could not exchange rate limit shares; each node admits limit / nodes');
  }
}
