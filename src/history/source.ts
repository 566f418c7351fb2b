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

export interface HistorySource {
  /**
   * True when the history is this node's ring as it is right now. A tail then
   * replays the ring in place, synchronously, so no line is copied and none
   * routed during the replay is missed or sent twice; otherwise it replays
   * read() while the hub holds the lines that arrive meanwhile.
   */
  readonly local: boolean;
  /**
   * The app's history sorted by seq: at most historyLines lines, or the
   * newest `newest` of them. The lines are the caller's (copies, not views
   * into a ring). `gone`: also count what the history no longer holds
   * (view.gone; left out when it cannot be known, e.g. Redis down).
   */
  read(app: App, newest?: number, gone?: boolean): Promise<HistoryView>;
}
