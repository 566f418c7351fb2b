// Embedded mode's history: the app's ring on this node.
import type { App } from '../apps.js';
import type { HistorySource, HistoryView } from './source.js';

export class LocalHistory implements HistorySource {
  readonly local = true;

  read(app: App, newest = Infinity): Promise<HistoryView> {
    const ring = app.ring;
    const from = Math.max(0, ring.count - newest);
    const lines: Buffer[] = new Array<Buffer>(ring.count - from);
    for (let i = from; i < ring.count; i++) lines[i - from] = Buffer.from(ring.at(i));
    return Promise.resolve({ lines, trimmedSeq: 0, complete: true });
  }
}
