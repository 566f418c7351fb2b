// Embedded mode's history: the app's ring on this node.
import type { App } from '../apps.js';
import { seqOf } from '../line.js';
import type { GoneCount, HistorySource, HistoryView } from './source.js';

export class LocalHistory implements HistorySource {
  readonly local = true;

  read(app: App, newest = Infinity, gone = false): Promise<HistoryView> {
    const ring = app.ring;
    const from = Math.max(0, ring.count - newest);
    const lines: Buffer[] = new Array<Buffer>(ring.count - from);
    for (let i = from; i < ring.count; i++) lines[i - from] = Buffer.from(ring.at(i));
    const view: HistoryView = { lines, trimmedSeq: 0, complete: true };
    if (gone) view.gone = ringGone(app.seq, ring.count > 0 ? seqOf(ring.at(0)) : app.seq + 1);
    return Promise.resolve(view);
  }
}

/** Embedded mode's seqs are 1, 2, 3...: the app had `head` lines, and the ring holds those from `firstHeld` on. */
export function ringGone(head: number, firstHeld: number): GoneCount {
  return {
    ever: () => ({ lo: head, hi: head }),
    after: (after) => {
      const n = Math.max(0, firstHeld - 1 - after);
      return { lo: n, hi: n };
    },
  };
}
