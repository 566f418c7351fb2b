// Where an app's history is read from: one interface, two implementations.
// Embedded mode reads this node's ring (local.ts); distributed mode merges
// the shared history in Redis with the lines of this node not written there
// yet (cluster/merged-history.ts). The API's GET .../logs and the tails'
// replay read through it and do not know which mode they run in.
import type { App } from '../apps.js';

/** An app's history at one moment, oldest first. */
export interface HistoryView {
  lines: Buffer[];
  /** Highest seq ever trimmed from a shared history (0 = none): lines after a resume point below it are gone. */
  trimmedSeq: number;
  /** False when part of the history could not be read (e.g. Redis down: this node's lines only). */
  complete: boolean;
  /** What the history no longer holds, when asked for and known (a drain replay's notice, SPEC 16). */
  gone?: GoneCount;
  /** Distributed mode: the ordinal of the shared history's newest record this view holds (a later readAfter starts past it); absent when Redis could not be read. */
  through?: number;
  /** Distributed mode: lines that never reached the shared history, announced among the lines held (loss notices), oldest first. */
  losses?: HistoryLoss[];
}

/**
 * Lines a node could not write to the shared history (Redis down and its
 * queue full, or the append refused), where a view's lines say they were: a
 * loss notice among the records read (cluster/batch.ts), which is not a line.
 */
export interface HistoryLoss {
  /** The lost lines belong before lines[at] (at = lines.length: after the last line). */
  at: number;
  /** How many lines (the notices' counts, when several fall at one place). */
  n: number;
  /** When the oldest of them was received, ms. */
  since: number;
  /**
   * A resume's late lines (distributed mode), sorted by seq: appended to the
   * shared history after the line it resumes from, with seqs at or below its
   * point, so not sent (HistorySource.read's `resume`); n is their count
   * before a session's filters (the tail counts those that match).
   */
  late?: Buffer[];
  /** With `late`: more of them may have been trimmed from the shared history (n is a lower bound). */
  lowerBound?: boolean;
}

/**
 * The losses a reader of lines[from, length) is told of (a session's history,
 * GET .../logs): `num` history (resumed false): one is reported when a line
 * sent follows it (the lost lines are newer than the line before it, so some
 * of them were among the newest asked for), or when it follows every line
 * (the newest lines were lost); one at the window's first line is older than
 * every line asked for. A resume (resumed true): every one the read kept
 * (HistorySource.read's `resume`: those past the resume point, placed at the
 * first line after it or later).
 */
export function lossesSent(length: number, from: number, losses: readonly HistoryLoss[] | undefined, resumed: boolean): HistoryLoss[] {
  if (losses === undefined) return [];
  if (resumed) return losses.slice();
  return losses.filter((l) => l.at > from || l.at >= length);
}

/** A count that is exact when lo === hi; else the truth lies in [lo, hi]. */
export interface Bounds {
  lo: number;
  hi: number;
}

/**
 * Counts of the lines a history had and no longer holds (drains/replay.ts).
 * Lines are the app's log lines: a loss notice in the shared history is not
 * one, and lines a node could never write to Redis were never in it.
 */
export interface GoneCount {
  /** Lines the history ever had (that this node can know of: the shared history's and its own unwritten ones). */
  ever(): Bounds;
  /** Lines with a seq above `after` that the history had and no longer holds. */
  after(after: number): Bounds;
}

/** Distributed mode: other nodes' lines appended to the shared history after a view was read. */
export interface LaterLines {
  /** Sorted by seq; lines of this node are left out (its tails get them when they are routed). */
  lines: Buffer[];
  /** Lines of other nodes among them that can no longer be read (trimmed first, or never written: their loss notices). */
  lost: number;
  /** When the read was made (a gap's "since"). */
  since: number;
  /** The ordinal of the newest record the read covered: a loss reported for ordinals up to it is counted in `lost` already. */
  through: number;
  /**
   * False when the read failed (e.g. Redis went away between the two reads):
   * which lines were appended after the view is not known, `lines` is empty
   * and `lost` 0; the tail announces a gap with an estimated count (docs/tail.md).
   */
  complete: boolean;
}

export interface HistorySource {
  /**
   * True when the history is this node's ring as it is right now. A tail then
   * replays the ring in place, synchronously, so no line is copied and none
   * routed during the replay is missed or sent twice; otherwise it replays
   * read() while the hub holds the lines that arrive meanwhile.
   */
  readonly local: boolean;
  /**
   * The app's history sorted by seq as of the call: at most historyLines
   * lines, or the newest `newest` of them. The lines are the caller's
   * (copies, not views into a ring). `gone`: also count what the history no
   * longer holds (view.gone; left out when it cannot be known, e.g. Redis
   * down). `resume`: the history is for a reader resuming after that seq;
   * view.losses are then the loss notices it cannot have been told of (in
   * distributed mode: appended after the record holding the newest seq at or
   * below it), placed no earlier than the first line after it, and the lines
   * appended after that record with seqs at or below it (HistoryLoss.late),
   * placed at the first line after it, after those notices.
   */
  read(app: App, newest?: number, gone?: boolean, resume?: number | null): Promise<HistoryView>;
  /**
   * Distributed mode: the history as of now (read()), and later what other
   * nodes appended after it: a tail takes the second once its subscription
   * to their lines is confirmed, so that between the two nothing is missed.
   * Call exactly one of after() and cancel().
   */
  readSplit?(app: App, resume?: number | null): HistorySplit;
}

/** A history read now and the lines appended after it, read later (HistorySource.readSplit). */
export interface HistorySplit {
  view: Promise<HistoryView>;
  /** Other nodes' lines appended after the view's `through`. */
  after(through: number): Promise<LaterLines>;
  /** Not needed after all. */
  cancel(): void;
}
