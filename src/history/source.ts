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
   * into a ring).
   */
  read(app: App, newest?: number): Promise<HistoryView>;
}
