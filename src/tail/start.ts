// The start of a tail in distributed mode (Tail.startFrom): the history it is
// handed, and the gaps it sends besides lines, worked out from that history
// alone: where a loss notice among the history lines falls, what a history
// read without Redis may miss, how many lines a resume point below the
// history's oldest line missed. The live part is tail.ts's.
import { NODE_SLOTS } from '../basics/seq.js';
import { lossesSent, type HistoryLoss, type HistoryView, type LaterLines } from '../history/source.js';
import { receivedOf, seqOf } from '../line.js';
import type { LineFilter } from '../line-filter.js';
import type { Gap } from './encode.js';

/**
 * What a distributed-mode start is handed: the history as of the tail's
 * subscription (HistorySource.read's view: Redis merged with this node's own
 * lines not yet written there, sorted by seq; `complete` false when Redis
 * could not be read, `lines` then this node's only), and the other nodes'
 * lines appended between that read and the confirmed subscription, all of
 * them live lines of the tail.
 */
export interface StartHistory extends HistoryView {
  newer?: LaterLines;
}

/**
 * Lines missing between a resume point and the oldest line still held, when
 * seqs are not contiguous (distributed mode): estimated from the density of
 * the seqs held (lines per seq unit). At least 1.
 */
export function estimateMissing(lines: readonly Buffer[], after: number, first: number): number {
  const span = first - after - 1;
  if (span <= 0) return 1;
  if (lines.length < 2) return 1;
  const lo = seqOf(lines[0]!);
  const hi = seqOf(lines[lines.length - 1]!);
  if (hi <= lo) return 1;
  const perSeq = (lines.length - 1) / (hi - lo);
  return Math.max(1, Math.round(span * perSeq));
}

/** A gap to write among the lines replayed: before the line at `pos` (pos = the end: after the last). */
export interface Stop {
  /** Where it is among the history's lines (HistoryLoss.at). */
  at: number;
  /** Where it is among the lines replayed (placeStop). */
  pos: number;
  gap: Gap;
  /** A resume's late lines: the gap's from–to are their seqs (else set where it is placed). */
  late: boolean;
}

/**
 * Lines that came too late, as the live path counts them (Tail.deliver) and
 * a resume's late lines: each one the filter matched; their gap has the
 * count and from–to the lowest and highest of their seqs.
 */
export class LateCount {
  n = 0;
  from = 0;
  to = 0;

  add(seq: number): void {
    if (this.n === 0 || seq < this.from) this.from = seq;
    if (seq > this.to) this.to = seq;
    this.n++;
  }

  gap(since: number): Gap {
    return { dropped: this.n, since, from: this.from, to: this.to };
  }
}

/**
 * The loss notices among the history lines sent, lines[from, length), as
 * gaps where their lines would have been (placed by placeStop): those a
 * reader of that part is told of (lossesSent: the `num` window's rule, or a
 * resume's). The gap has the notice's count and time. The filter cannot be
 * applied to lines never seen: for a filtered session the count is an upper
 * bound. A resume's late lines (HistoryLoss.late) are seen: their gap counts
 * those the filter matches (none: no gap, unless more may have been trimmed:
 * then 0 and a lower bound), at `now`, as the live path counts late lines.
 */
export function historyLosses(lines: readonly Buffer[], from: number, losses: readonly HistoryLoss[] | undefined, resumed: boolean, filter: LineFilter, now: number): Stop[] {
  const stops: Stop[] = [];
  for (const l of lossesSent(lines.length, from, losses, resumed)) {
    if (l.late === undefined) {
      stops.push({ at: l.at, pos: 0, gap: { dropped: l.n, since: l.since, from: 0, to: 0 }, late: false });
      continue;
    }
    const count = new LateCount();
    for (const r of l.late) if (filter.matches(r)) count.add(seqOf(r));
    const gap = count.gap(now);
    if (l.lowerBound === true) gap.lowerBound = true;
    // nothing counted: placed as a notice is (from = to = the seq after the line sent before it)
    if (count.n > 0 || l.lowerBound === true) stops.push({ at: l.at, pos: 0, gap, late: count.n > 0 });
  }
  return stops;
}

/**
 * The seq a stop at lines[at] follows when no line was sent before it: the
 * history line before its place, or the resume point when that is newer
 * (the reader had every seq up to it).
 */
export function seqBefore(lines: readonly Buffer[], at: number, after: number | null): number {
  const prev = at > 0 ? seqOf(lines[at - 1]!) : 0;
  return after !== null && after > prev ? after : prev;
}

/**
 * A stop goes at pos, after the line of seq `prev` (0: none): from = to =
 * the seq after it, as the live path reports a notice (Tail.remoteLoss:
 * after the last line sent; the lost lines' seqs are not known). A resume's
 * late lines keep their seqs.
 */
export function placeStop(stop: Stop, pos: number, prev: number): void {
  stop.pos = pos;
  if (!stop.late) stop.gap.from = stop.gap.to = prev + 1;
}

/** A start without the other nodes' lines (partialStart). */
export interface PartialStart {
  /** The seqs [from, ...] in which lines asked for may be missing. */
  from: number;
  /** When the first line sent was received (now when none was). */
  since: number;
  /** Other nodes' lines at or below it were not asked for: once they can be read they do not count as lost. */
  floor: number;
}

/**
 * Where lines asked for may be missing when the history holds this node's
 * lines only (Redis could not be read; view.complete false): other nodes'
 * lines from the resume point on; from the first line of the `num` window
 * when it is full (older lines would not have been among the newest num),
 * else from seq 1 (they could have filled it); with `num` 0 none of the
 * history was asked for, only the live lines: from the seq after the
 * history's newest (as the catch-up gap of Tail.#begin). The floor, at or
 * below which a line of another node read later is not counted as lost (it
 * was not asked for, or this gap covers it): the seq before the window's
 * first line (the head when the window is empty), the resume point, or the
 * history's newest. Null when nothing was asked for (no tail, `num` 0).
 * lines[from, length): the history sent.
 */
export function partialStart(lines: readonly Buffer[], from: number, after: number | null, num: number, tail: boolean, filter: LineFilter, head: number, now: number): PartialStart | null {
  const first = from < lines.length ? lines[from]! : undefined;
  const since = first !== undefined ? receivedOf(first) : now;
  if (after !== null) return { from: after + 1, since, floor: after };
  if (num === 0) {
    if (!tail) return null;
    const newest = lines.length > 0 ? seqOf(lines[lines.length - 1]!) : 0;
    return { from: newest + 1, since, floor: newest };
  }
  if (first === undefined) return { from: 1, since, floor: head };
  let matching = 0;
  for (let i = from; i < lines.length; i++) if (filter.matches(lines[i]!)) matching++;
  return { from: matching >= num ? seqOf(first) : 1, since, floor: seqOf(first) - 1 };
}

/** The gap of a start without other nodes' lines: how many are missing is not known (0, a lower bound), up to `below` (the seq before the first line after it, or the head). */
export function partialGap(p: PartialStart, below: number): Gap {
  return { dropped: 0, since: p.since, from: p.from, to: Math.max(p.from, below), lowerBound: true };
}

/**
 * A loss notice whose lines lie below `before` (the line of its node after
 * it) while the tail's mark for that node is at or past that line: the lost
 * lines were not asked for (below a start's floor), or were counted.
 */
export function belowMark(before: number, marks: Float64Array): boolean {
  return before !== Infinity && before <= marks[before % NODE_SLOTS]!;
}

/** Lines of other nodes that will never arrive, as the stream follower reported them. */
export interface RemoteLoss {
  n: number;
  since: number;
  /** The highest ordinal of the shared history they had. */
  ordinal: number;
  /** A loss notice's: the seq of its node's line after it (its lines are below), Infinity when not known. */
  before: number;
}
