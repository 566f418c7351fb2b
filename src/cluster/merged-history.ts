// Distributed mode's history (the HistorySource of history/source.ts): the
// shared history in Redis merged with this node's own lines not written there
// yet (the local ring). When Redis cannot be read: the local ring alone,
// marked incomplete.
import type { App } from '../apps.js';
import type { HistorySource, HistoryView } from '../history/source.js';
import { seqOf } from '../line.js';
import { isLossNotice } from './batch.js';
import type { RedisHistory } from './history.js';
import { originOf } from '../basics/seq.js';

/** Sort by seq, in place when needed. */
function sortBySeq(recs: Buffer[]): Buffer[] {
  for (let i = 1; i < recs.length; i++) {
    if (seqOf(recs[i]!) < seqOf(recs[i - 1]!)) return recs.sort((a, b) => seqOf(a) - seqOf(b));
  }
  return recs;
}

export class MergedHistory implements HistorySource {
  readonly local = false;
  readonly #redis: RedisHistory;
  readonly #ownOrigin: (origin: number) => boolean;
  readonly #historyLines: number;

  constructor(redis: RedisHistory, ownOrigin: (origin: number) => boolean, historyLines: number) {
    this.#redis = redis;
    this.#ownOrigin = ownOrigin;
    this.#historyLines = historyLines;
  }

  async read(app: App, newest = Infinity): Promise<HistoryView> {
    let records: Buffer[] = [];
    let trimmedSeq = 0;
    let complete = true;
    try {
      const h = await this.#redis.read(app.id);
      records = h.records;
      trimmedSeq = h.trimmedSeq;
    } catch {
      complete = false;
    }
    if (records.some(isLossNotice)) records = records.filter((r) => !isLossNotice(r));
    let ownMax = 0;
    for (const r of records) {
      const s = seqOf(r);
      if (s > ownMax && this.#ownOrigin(originOf(s))) ownMax = s;
    }
    const ring = app.ring;
    let from = ring.count;
    while (from > 0 && seqOf(ring.at(from - 1)) > ownMax) from--;
    for (let i = from; i < ring.count; i++) records.push(Buffer.from(ring.at(i)));
    const lines = sortBySeq(records);
    const cap = this.#historyLines;
    const capped = lines.length > cap ? lines.slice(lines.length - cap) : lines;
    if (capped.length > 0) app.restoreSeq(seqOf(capped[capped.length - 1]!));
    const out = capped.length > newest ? capped.slice(capped.length - newest) : capped;
    return { lines: out, trimmedSeq, complete };
  }
}
