// What an app's shared history (Redis) no longer holds, counted for a drain
// replay's notice (SPEC 16, drains/replay.ts). Seqs in distributed mode carry
// time and node bits, so they say nothing about how many lines lie between
// two of them; ordinals do (every record appended gets the next one). The
// history keeps, for the chunks it dropped, each one's ordinals and highest
// seq (the trims list, redis/scripts.ts LAYOUT2_LUA), and counts its loss
// notices (records that are not lines: meta nn, and the last 100 with their
// ordinals). From those:
//
// - lines ever = records ever - notices ever (+ this node's unwritten lines);
// - lines above seq `after` no longer held = the known-seq lines read but not
//   held (past the cap, or past the merged view's) above it, plus, per
//   dropped chunk: none when its highest seq is <= after; all of its lines
//   when every seq in it is above after, known because a node's seqs rise
//   from one of its chunks to the next (the chunk's lowest seq is above the
//   highest of the same node's previous chunk) or because after is 0; else
//   (after falls inside the chunk) between 1 and all of them.
//
// Dropped chunks older than the trims list remembers (TRIMS_KEPT) or dropped
// by a node of the previous release count as a whole: exactly when after is
// 0 or at least the highest seq ever dropped, else between 0 and all.
import type { Bounds, GoneCount } from '../history/source.js';
import { originOf } from '../basics/seq.js';
import { isLossNotice } from './batch.js';
import type { NoticeMark } from './history-read.js';

/** The notices list keeps this many (redis/scripts.ts NOTICE_LUA); fewer means it holds every notice ever. */
const NOTICES_KEPT = 100;

/** A dropped chunk: ordinals first..last, its highest seq (-1: a loss notice alone). */
export interface DroppedChunk {
  first: number;
  last: number;
  high: number;
}

export interface GoneInput {
  /** Records ever appended to the shared history. */
  total: number;
  /** Loss notices ever appended (meta nn), or null when not counted (notices from before it). */
  noticesEver: number | null;
  /** The last 100 loss notices, oldest first. */
  notices: readonly NoticeMark[];
  /** The trims list: dropped chunks, oldest first. */
  dropped: readonly DroppedChunk[];
  /** Lowest ordinal the read held a record of (all below it were dropped). */
  readFrom: number;
  /** Highest seq of a dropped chunk. */
  droppedSeq: number;
  /** Records read (any ordinal >= readFrom) that are loss notices. */
  readNotices: number;
  /** Seqs of lines read and not held (past the cap, or cut off by the merged view's). */
  knownGone: readonly number[];
  /** This node's lines not in Redis yet (held by the view). */
  unwritten: number;
}

const exact = (n: number): Bounds => ({ lo: n, hi: n });

/** Parse the trims list's `first ordinal:highest seq:last ordinal` elements (oldest first). */
export function parseDropped(elems: readonly string[]): DroppedChunk[] {
  const out: DroppedChunk[] = [];
  for (const e of elems) {
    const [first, high, last] = e.split(':').map(Number) as [number, number, number];
    if (Number.isFinite(first) && Number.isFinite(high) && Number.isFinite(last) && last >= first) out.push({ first, last, high });
  }
  return out;
}

/** Count what a shared history no longer holds (see the file's comment). */
export function sharedGone(g: GoneInput): GoneCount {
  const listComplete = g.notices.length < NOTICES_KEPT;
  const oldestListed = g.notices.length > 0 ? g.notices[0]!.ordinal : Infinity;
  const listed = new Set(g.notices.map((n) => n.ordinal));
  /** Whether the record at ordinal o is a loss notice: true, false or null (unknown). */
  const noticeAt = (o: number): boolean | null => (listed.has(o) ? true : listComplete || o >= oldestListed ? false : null);

  // the dropped chunks the trims list holds without a gap up to readFrom; the ordinals below them are unrecorded
  const chain: DroppedChunk[] = [];
  let below = g.readFrom;
  for (let i = g.dropped.length - 1; i >= 0; i--) {
    const c = g.dropped[i]!;
    if (c.last >= below) continue; // cannot be: a chunk dropped is older than every record held
    if (c.last !== below - 1) break;
    chain.push(c);
    below = c.first;
  }
  chain.reverse();
  const unrecorded = below - 1;

  // lines per recorded chunk, and the notices among the recorded and read ordinals
  const lines: Bounds[] = [];
  const noticesAbove: Bounds = { lo: g.readNotices, hi: g.readNotices };
  for (const c of chain) {
    const n = c.last - c.first + 1;
    const notice = c.high < 0 ? true : n === 1 ? false : noticeAt(c.first);
    if (notice === null) {
      lines.push({ lo: n - 1, hi: n });
      noticesAbove.hi++;
    } else {
      lines.push(exact(notice ? n - 1 : n));
      if (notice) {
        noticesAbove.lo++;
        noticesAbove.hi++;
      }
    }
  }
  // notices ever, and among the unrecorded ordinals
  let ever: Bounds;
  if (g.noticesEver !== null) ever = exact(g.noticesEver);
  else if (listComplete) ever = exact(g.notices.length);
  else ever = { lo: NOTICES_KEPT, hi: Math.min(g.total, NOTICES_KEPT + oldestListed - 1) };
  let unrecordedNotices: Bounds;
  if (listComplete) unrecordedNotices = exact(g.notices.filter((n) => n.ordinal < below).length);
  else if (g.noticesEver !== null) unrecordedNotices = { lo: Math.max(0, g.noticesEver - noticesAbove.hi), hi: Math.max(0, g.noticesEver - noticesAbove.lo) };
  else unrecordedNotices = { lo: 0, hi: unrecorded };
  const unrecordedLines: Bounds = { lo: Math.max(0, unrecorded - Math.min(unrecorded, unrecordedNotices.hi)), hi: Math.max(0, unrecorded - Math.min(unrecorded, unrecordedNotices.lo)) };
  const highestRecorded = chain.reduce((m, c) => Math.max(m, c.high), -1);

  return {
    ever: () => ({ lo: Math.max(0, g.total - ever.hi) + g.unwritten, hi: Math.max(0, g.total - ever.lo) + g.unwritten }),
    after: (after) => {
      let lo = 0;
      let hi = 0;
      for (const s of g.knownGone) if (s > after) lo++;
      hi = lo;
      if (after >= g.droppedSeq && after >= highestRecorded) return { lo, hi };
      if (after === 0 || unrecorded === 0) {
        lo += after === 0 ? unrecordedLines.lo : 0;
        hi += after === 0 ? unrecordedLines.hi : 0;
      } else {
        // some unrecorded line is above after when the highest seq dropped is in none of the recorded chunks
        lo += g.droppedSeq > after && highestRecorded < g.droppedSeq && unrecordedLines.lo > 0 ? 1 : 0;
        hi += unrecordedLines.hi;
      }
      const prevHigh = new Map<number, number>();
      for (let i = 0; i < chain.length; i++) {
        const c = chain[i]!;
        const n = lines[i]!;
        if (c.high < 0) continue;
        const origin = originOf(c.high);
        const floor = prevHigh.get(origin);
        prevHigh.set(origin, c.high);
        if (c.high <= after) continue;
        if (after === 0 || (floor !== undefined && floor >= after) || n.hi === 1) {
          lo += n.lo;
          hi += n.hi;
        } else {
          // after falls inside the chunk: its highest line is above it, the others unknown
          lo += 1;
          hi += n.hi;
        }
      }
      return { lo, hi };
    },
  };
}

/** Loss notices among records. */
export function countNotices(recs: readonly Buffer[]): number {
  let n = 0;
  for (const r of recs) if (isLossNotice(r)) n++;
  return n;
}
