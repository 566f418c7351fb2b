// Distributed mode's history (the HistorySource of history/source.ts): the
// shared history in Redis merged with this node's own lines not written there
// yet (the local ring). When Redis cannot be read: the local ring alone,
// marked incomplete.
import type { App } from '../apps.js';
import type { HistorySource, HistoryView } from '../history/source.js';
import { seqOf } from '../line.js';
import { isLossNotice } from './batch.js';
import { countNotices, sharedGone } from './gone.js';
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

  async read(app: App, newest = Infinity, gone = false): Promise<HistoryView> {
    let records: Buffer[] = [];
    let trimmedSeq = 0;
    let complete = true;
    let detail: Awaited<ReturnType<RedisHistory['readDetail']>> | null = null;
    try {
      if (gone) {
        detail = await this.#redis.readDetail(app.id);
        records = detail.read.records;
        trimmedSeq = detail.read.trimmedSeq;
      } else {
        const h = await this.#redis.read(app.id);
        records = h.records;
        trimmedSeq = h.trimmedSeq;
      }
    } catch {
      complete = false;
    }
    const readNotices = detail === null ? 0 : countNotices(records) + countNotices(detail.read.pastCap);
    if (readNotices > 0 || records.some(isLossNotice)) records = records.filter((r) => !isLossNotice(r));
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
    const view: HistoryView = { lines: out, trimmedSeq, complete };
    if (detail !== null) {
      // the lines read but not held: past Redis' cap, and cut by this view's
      const knownGone: number[] = [];
      for (const r of detail.read.pastCap) if (!isLossNotice(r)) knownGone.push(seqOf(r));
      for (let i = 0; i < lines.length - capped.length; i++) knownGone.push(seqOf(lines[i]!));
      const { read: h, noticesEver, dropped } = detail;
      view.gone = sharedGone({ total: h.total, noticesEver, notices: h.notices, dropped, readFrom: h.readFrom, droppedSeq: h.droppedSeq, readNotices, knownGone, unwritten: ring.count - from });
    }
    return view;
  }
}
