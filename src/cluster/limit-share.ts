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
// Wire: a part of the node's stats write (node-stats.ts), so no round trip
// of its own: the report is the field `:limit` of the node's record
// (`lp:node:<id>:rates`), `<write stamp>|<app>=<lines/s>,...` of the apps it
// was sent lines for in the last period (one empty report follows the last
// non-empty one, then nothing until there are lines), and the others'
// reports are read with one HGET per other live node in the same pipeline.
// A report counts while its stamp changes, and for 3 periods after this node
// first saw its stamp (the previous release's key expired after 3 periods;
// judged on this node's clock, not the writer's). When Redis cannot be
// reached, every bucket falls back to L/N (the sum across nodes stays within
// L) until an exchange goes through again.
//
// Rolling upgrades: a node of the previous release writes and reads the key
// `lp:node:<id>:limit` (JSON {app: lines/s}, SET PX 3 periods) and announces
// no `stats` in its info (`lp:node:<id>`). A node of this release reads each
// other node's info once, and, for a node of the previous release, reads that
// key instead of the field; while any is live, it also writes its own report
// there, so the limit stays the app's across old and new nodes while the
// upgrade runs.

import type { Log } from '../obs/log.js';
import { nodeInfo, nodeLimitShare, nodeRates } from '../redis/keys.js';
import type { NodeRegistry } from './nodes.js';
import { STATS_VERSION, type RecordFields, type StatsBatch, type StatsReplies } from './stats-batch.js';

/** The field of the record holding the report. */
export const LIMIT_FIELD = ':limit';
/** The longest report read (its app ids are ids of up to 100 characters: some 30,000 apps). */
export const MAX_REPORT_CHARS = 4 << 20;
/** The longest node info read (a few fields). */
const MAX_INFO_CHARS = 4096;
/** A report counts for this many periods after its stamp was first seen here. */
const REPORT_PERIODS = 3;
const APP_ID = /^[a-z0-9][a-z0-9._-]{0,99}$/;

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

/** A report as written in the record: the write stamp, then `app=lines/s` of each app. */
export function encodeReport(stamp: number, report: ReadonlyMap<string, number>): string {
  let s = `${stamp}|`;
  let first = true;
  for (const [id, v] of report) {
    s += `${first ? '' : ','}${id}=${v}`;
    first = false;
  }
  return s;
}

/** One figure of a report, if it is one: a valid app id and a positive finite lines/s. */
function addFigure(into: Map<string, number>, id: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 1e12 || !APP_ID.test(id)) return;
  into.set(id, (into.get(id) ?? 0) + v);
}

/** The stamp of a report from the record, or null when it is not one. */
export function reportStamp(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length > MAX_REPORT_CHARS) return null;
  const bar = raw.indexOf('|');
  return bar > 0 && bar <= 20 ? raw.slice(0, bar) : null;
}

/** Add a report from the record into `into` (bounded; malformed figures skipped). */
export function addReport(raw: string, into: Map<string, number>): void {
  const bar = raw.indexOf('|');
  if (bar < 0 || raw.length > MAX_REPORT_CHARS || bar + 1 === raw.length) return;
  for (const part of raw.slice(bar + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) addFigure(into, part.slice(0, eq), Number(part.slice(eq + 1)));
  }
}

/** Add a report of the previous release (JSON {app: lines/s}) into `into` (bounded; malformed skipped). */
export function addPreviousReport(raw: unknown, into: Map<string, number>): void {
  if (typeof raw !== 'string' || raw.length > MAX_REPORT_CHARS) return;
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    return;
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return;
  for (const [id, v] of Object.entries(o as Record<string, unknown>)) addFigure(into, id, v);
}

/** From a node's info: true when it writes the record this release writes, false when it is of the previous release, null when unknown (no info). */
export function writesRecord(raw: unknown): boolean | null {
  if (typeof raw !== 'string' || raw.length > MAX_INFO_CHARS) return null;
  try {
    const info = JSON.parse(raw) as { stats?: unknown } | null;
    if (info === null || typeof info !== 'object') return null;
    return typeof info.stats === 'number' && info.stats >= STATS_VERSION;
  } catch {
    return null;
  }
}

export class LimitShares {
  readonly #nodes: NodeRegistry;
  readonly #target: LimitShareTarget;
  readonly #opts: LimitSharesOptions;
  readonly #now: () => number;
  #last: number;
  /** Apps set below the limit by the last exchange (set back to it when they drop out). */
  #scaled = new Set<string>();
  /** The last exchange failed: every bucket is at L/N. */
  #fallback = false;
  /** The last report written named an app: the next one is written even if empty. */
  #reported = false;
  /** Per other node: whether it writes the record (false: the previous release), from its info. */
  readonly #kinds = new Map<string, boolean>();
  /** Per other node: the last report stamp seen and when this node first saw it. */
  readonly #stamps = new Map<string, { stamp: string; at: number }>();
  /** Nodes of the previous release seen at the last exchange (logged when it changes). */
  #previous = 0;

  constructor(nodes: NodeRegistry, target: LimitShareTarget, opts: LimitSharesOptions) {
    this.#nodes = nodes;
    this.#target = target;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#last = this.#now();
  }

  /**
   * One period: put this node's report in the record (rec), queue the reads
   * of the others' and, while nodes of the previous release run, the
   * previous key's write. Returns what to do with the replies (recordOk:
   * the record's write went through); false when the exchange failed.
   */
  queue(b: StatsBatch, rec: RecordFields): (res: StatsReplies | null, recordOk: boolean) => boolean {
    const now = this.#now();
    const elapsed = Math.max(1, now - this.#last);
    this.#last = now;
    const mine = new Map<string, number>();
    for (const [id, n] of this.#target.takeDemand()) mine.set(id, Math.round(((n * 1000) / elapsed) * 10) / 10);
    if (mine.size > 0 || this.#reported) rec.sets.push(LIMIT_FIELD, encodeReport(now, mine));
    const reported = mine.size > 0;

    const self = this.#nodes.id;
    const others = this.#nodes.live.filter((id) => id !== self);
    for (const id of this.#kinds.keys()) if (!others.includes(id)) this.#kinds.delete(id);
    for (const id of this.#stamps.keys()) if (!others.includes(id)) this.#stamps.delete(id);
    const reads: Array<{ id: string; info: number; record: number; previous: number }> = [];
    let previous = 0;
    for (const id of others) {
      const kind = this.#kinds.get(id);
      if (kind === false) previous++;
      reads.push({
        id,
        info: kind === undefined ? b.add((p) => p.get(nodeInfo(id))) : -1,
        record: kind !== false ? b.add((p) => p.hget(nodeRates(id), LIMIT_FIELD)) : -1,
        previous: kind !== true ? b.add((p) => p.get(nodeLimitShare(id))) : -1,
      });
    }
    if (previous !== this.#previous) {
      this.#previous = previous;
      this.#opts.log.info({ at: 'cluster.rate_shares_previous', nodes: others.length + 1, previous }, previous > 0 ? 'nodes of the previous release are running: rate limit shares are also exchanged in their key' : 'every node exchanges rate limit shares in its record');
    }
    const own = previous > 0 ? b.add((p) => p.set(nodeLimitShare(self), JSON.stringify(Object.fromEntries(mine)), 'PX', REPORT_PERIODS * this.#opts.periodMs)) : -1;

    return (res, recordOk) => {
      const failed = res === null ? new Error('no reply') : !recordOk ? new Error('the record was not written') : firstError(res, reads, own);
      // every node's info read, even when the rest failed
      if (res !== null) {
        for (const r of reads) {
          if (r.info < 0 || res[r.info]?.[0] !== null) continue;
          const k = writesRecord(res[r.info]![1]);
          if (k !== null) this.#kinds.set(r.id, k);
        }
      }
      if (failed || res === null) {
        this.#fail(failed ?? new Error('no reply'));
        return false;
      }
      this.#reported = reported;
      const theirs = new Map<string, number>();
      for (const r of reads) {
        // a node not known yet is read both ways: its record's report, if it has one, is the one
        const raw = r.record >= 0 ? res[r.record]![1] : null;
        if (reportStamp(raw) !== null) {
          if (this.#fresh(r.id, raw, now)) addReport(raw as string, theirs);
        } else if (r.previous >= 0) addPreviousReport(res[r.previous]![1], theirs);
      }
      this.#apply(mine, theirs, Math.max(1, this.#nodes.live.length));
      return true;
    };
  }

  /** Whether another node's report counts: its stamp changed since the last read, or was first seen here less than REPORT_PERIODS periods ago. */
  #fresh(id: string, raw: unknown, now: number): boolean {
    const stamp = reportStamp(raw);
    if (stamp === null) return false;
    const seen = this.#stamps.get(id);
    if (!seen || seen.stamp !== stamp) {
      this.#stamps.set(id, { stamp, at: now });
      return true;
    }
    return now - seen.at < REPORT_PERIODS * this.#opts.periodMs;
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
    // the report goes again next time (others may have missed it)
    this.#reported = true;
    if (this.#fallback) return;
    this.#fallback = true;
    const n = Math.max(1, this.#nodes.live.length);
    this.#target.setAllShares(this.#target.linesPerSec / n);
    this.#opts.log.warn({ at: 'cluster.rate_shares_failed', err: err.message, nodes: n }, 'could not exchange rate limit shares; each node admits limit / nodes');
  }
}

/** The first error among the exchange's replies (a node's info aside: it is read again next time). */
function firstError(res: StatsReplies, reads: ReadonlyArray<{ record: number; previous: number }>, own: number): Error | null {
  const at = (i: number): Error | null => (i < 0 ? null : (res[i]?.[0] ?? (res[i] ? null : new Error('no reply'))));
  for (const r of reads) {
    const e = at(r.record) ?? at(r.previous);
    if (e) return e;
  }
  return at(own);
}
