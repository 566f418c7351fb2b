// Distributed mode's history (the HistorySource of history/source.ts): the
// shared history in Redis merged with this node's own lines not written there
// yet (the local ring). When Redis cannot be read: the local ring alone,
// marked incomplete.
import type { App } from '../apps.js';
import type { HistoryLoss, HistorySource, HistorySplit, HistoryView, LaterLines } from '../history/source.js';
import { receivedOf, seqOf } from '../line.js';
import { decodeLossNotice, isLossNotice } from './batch.js';
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

/** A loss notice read, and the seq of the line it was appended in front of (Infinity: none read). */
interface Noticed {
  before: number;
  n: number;
  since: number;
}

/**
 * The loss notices among records read in ordinal order, from records[from]
 * on, each anchored on the
 * first line of its node after it: the notice goes in front of the lines its
 * node queued after the lost ones (losses.ts), so the lost lines' seqs lie
 * below that line's. A notice of this node's with no line of this node after
 * it is left out: its lines never left this node's ring, so the view merges
 * them from there (or they are older than every line it holds).
 */
function anchorNotices(records: readonly Buffer[], own: (origin: number) => boolean, from: number): Noticed[] {
  const out: Noticed[] = [];
  for (let k = from; k < records.length; k++) {
    const notice = decodeLossNotice(records[k]!);
    if (notice === null) continue;
    let before = Infinity;
    for (let j = k + 1; j < records.length; j++) {
      const r = records[j]!;
      if (isLossNotice(r)) continue;
      const s = seqOf(r);
      if (originOf(s) === notice.origin) {
        before = s;
        break;
      }
    }
    if (before === Infinity && own(notice.origin)) continue;
    out.push({ before, n: notice.n, since: notice.since });
  }
  return out;
}

/** The index of the first of lines (sorted by seq) whose seq is at or above `seq` (lines.length: none). */
function firstAtOrAbove(lines: readonly Buffer[], seq: number): number {
  let lo = 0;
  let hi = lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seqOf(lines[mid]!) < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * For a reader resuming after seq `after`: the index of the record holding
 * the newest line at or below it, among records in ordinal order (-1: none
 * read, e.g. trimmed). The reader had that line, so a loss notice appended
 * before it reached it (live, or in what it was replayed); one appended after
 * it may not have: a reader that was away when it was appended never saw it.
 * Which node the reader read from is not known (a resume may come to any
 * node): a notice after it is reported also when the reader read from the
 * node that lost the lines and had them live (an over-report, docs/tail.md).
 */
function resumeIndex(records: readonly Buffer[], after: number): number {
  let at = -1;
  let best = -Infinity;
  for (let k = 0; k < records.length; k++) {
    const r = records[k]!;
    if (isLossNotice(r)) continue;
    const s = seqOf(r);
    if (s <= after && s > best) {
      best = s;
      at = k;
    }
  }
  return at;
}

/** What a resume's read holds that was appended after the line it resumes from (resumeFrom). */
interface Resumed {
  /** The first of the records read appended after it. */
  from: number;
  /** Those of them (and of this node's lines not written yet) with seqs at or below the resume point, sorted by seq. */
  late: Buffer[];
  /** The line it resumes from may have been trimmed, and late lines appended after it too. */
  lowerBound: boolean;
}

/**
 * For a reader resuming after seq `after`: where the records read (in
 * ordinal order; `unwritten`: this node's lines not written to the shared
 * history yet, which will be appended after them) appended after the line it
 * resumes from start (resumeIndex), and the late lines among them: seqs at or
 * below its point. A node cut off from Redis writes its queued lines when it
 * is back, with seqs older than the lines others wrote meanwhile: a resume
 * sends the lines above its point only, and a reader that had that line
 * before they were appended never had them (unless it read from their node,
 * which had them live: an over-report, docs/tail.md). When a line newer than
 * the one found was trimmed (highest seq trimmed, `trimmedSeq`), the line it
 * resumes from may have been that one, so every record read came after it,
 * and lines after it may have been trimmed: a lower bound. When the line is
 * one of this node's not written yet, the reader read from this node and
 * nothing read came after it.
 */
function resumeFrom(records: readonly Buffer[], unwritten: readonly Buffer[], after: number, trimmedSeq: number): Resumed {
  const at = resumeIndex(records, after);
  const found = at < 0 ? 0 : seqOf(records[at]!);
  let ownFound = 0;
  for (let i = 0; i < unwritten.length && seqOf(unwritten[i]!) <= after; i++) ownFound = seqOf(unwritten[i]!);
  const lowerBound = after > 0 && trimmedSeq > found && ownFound <= found;
  const from = lowerBound ? 0 : at + 1;
  const late: Buffer[] = [];
  if (ownFound <= found) {
    for (const r of from < records.length ? records.slice(from).concat(unwritten) : unwritten) {
      if (!isLossNotice(r) && seqOf(r) <= after) late.push(r);
    }
  }
  return { from, late: sortBySeq(late), lowerBound };
}

/**
 * Where the notices fall among a view's lines (sorted by seq): before the
 * first line at or above each one's anchor; several at one place are one.
 * Without `resume`, one before every line is left out (its lines are older
 * than the view's). For a reader resuming after seq `resume`, none is left
 * out (read() kept those past the resume point) and one whose place is at or
 * before the resume point goes before the first line after it; its late
 * lines (lateLines; `lowerBound`: more may have been trimmed) go there too,
 * after the notices, apart from them.
 */
function placeLosses(lines: readonly Buffer[], noticed: readonly Noticed[], resume: number | null, resumed: Resumed | null): HistoryLoss[] {
  const placed: HistoryLoss[] = [];
  const floor = resume === null ? 0 : firstAtOrAbove(lines, resume + 1);
  for (const x of noticed) {
    const lo = Math.max(floor, firstAtOrAbove(lines, x.before));
    if (resume !== null || lo > 0 || lines.length === 0) placed.push({ at: lo, n: x.n, since: x.since });
  }
  placed.sort((a, b) => a.at - b.at);
  const out: HistoryLoss[] = [];
  for (const x of placed) {
    const last = out[out.length - 1];
    if (last === undefined || last.at !== x.at) out.push(x);
    else {
      last.n += x.n;
      if (x.since < last.since) last.since = x.since;
    }
  }
  const late = resumed?.late ?? [];
  if (resumed !== null && (late.length > 0 || resumed.lowerBound)) {
    const loss: HistoryLoss = { at: floor, n: late.length, since: late.length > 0 ? receivedOf(late[0]!) : 0, late };
    if (resumed.lowerBound) loss.lowerBound = true;
    let i = out.length;
    while (i > 0 && out[i - 1]!.at > floor) i--;
    out.splice(i, 0, loss);
  }
  return out;
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

  async read(app: App, newest = Infinity, gone = false, resume: number | null = null): Promise<HistoryView> {
    // as of the call: the read goes out now, ahead of any append of a line
    // routed later on this connection, and this node's lines are copied now
    // (a burst routed while Redis answers could push them out of the ring);
    // a count of what is gone needs every unwritten line of this node
    const ring = app.ring;
    const keep = Math.min(ring.count, gone ? Infinity : newest, this.#historyLines);
    const own: Buffer[] = new Array<Buffer>(keep);
    for (let i = 0; i < keep; i++) own[i] = Buffer.from(ring.at(ring.count - keep + i));
    let records: Buffer[] = [];
    let trimmedSeq = 0;
    let complete = true;
    let through: number | undefined;
    let detail: Awaited<ReturnType<RedisHistory['readDetail']>> | null = null;
    try {
      const h = gone ? (detail = await this.#redis.readDetail(app.id)).read : await this.#redis.read(app.id);
      records = h.records;
      trimmedSeq = h.trimmedSeq;
      through = h.total;
    } catch {
      complete = false;
    }
    const readNotices = detail === null ? 0 : countNotices(records) + countNotices(detail.read.pastCap);
    let ownMax = 0;
    for (const r of records) {
      if (isLossNotice(r)) continue;
      const s = seqOf(r);
      if (s > ownMax && this.#ownOrigin(originOf(s))) ownMax = s;
    }
    let from = own.length;
    while (from > 0 && seqOf(own[from - 1]!) > ownMax) from--;
    // a resume (Redis read): what was appended after the line it resumes from
    const resumed = resume === null || through === undefined ? null : resumeFrom(records, own.slice(from), resume, trimmedSeq);
    // loss notices are not lines: where they say lines are missing is kept (view.losses), they are not
    let noticed: Noticed[] = [];
    if (readNotices > 0 || records.some(isLossNotice)) {
      // a resume: only those appended after the line it resumes from (resumeIndex)
      noticed = anchorNotices(records, this.#ownOrigin, resumed?.from ?? 0);
      records = records.filter((r) => !isLossNotice(r));
    }
    for (let i = from; i < own.length; i++) records.push(own[i]!);
    const lines = sortBySeq(records);
    const cap = this.#historyLines;
    const capped = lines.length > cap ? lines.slice(lines.length - cap) : lines;
    if (capped.length > 0) app.restoreSeq(seqOf(capped[capped.length - 1]!));
    const out = capped.length > newest ? capped.slice(capped.length - newest) : capped;
    const view: HistoryView = through === undefined ? { lines: out, trimmedSeq, complete } : { lines: out, trimmedSeq, complete, through };
    if (noticed.length > 0 || resumed !== null) {
      const losses = placeLosses(out, noticed, resume, resumed);
      if (losses.length > 0) view.losses = losses;
    }
    if (detail !== null) {
      // the lines read but not held: past Redis' cap, and cut by this view's
      const knownGone: number[] = [];
      for (const r of detail.read.pastCap) if (!isLossNotice(r)) knownGone.push(seqOf(r));
      for (let i = 0; i < lines.length - capped.length; i++) knownGone.push(seqOf(lines[i]!));
      const { read: h, noticesEver, dropped } = detail;
      view.gone = sharedGone({ total: h.total, noticesEver, notices: h.notices, dropped, readFrom: h.readFrom, droppedSeq: h.droppedSeq, readNotices, knownGone, unwritten: own.length - from });
    }
    return view;
  }

  readSplit(app: App, resume: number | null = null): HistorySplit {
    // this node's ordinals of the app are kept from now until after() has read past them (a reader at -1 keeps them all)
    const hold = { last: -1 };
    this.#redis.follow(app.id, hold);
    let held = true;
    const release = (): void => {
      if (held) this.#redis.unfollow(app.id, hold);
      held = false;
    };
    return {
      view: this.read(app, Infinity, false, resume),
      after: (through) => this.#readAfter(app, through).finally(release),
      cancel: release,
    };
  }

  async #readAfter(app: App, through: number): Promise<LaterLines> {
    const from = through + 1;
    const h = await this.#redis.read(app.id, from);
    let lost = 0;
    if (h.first > from) {
      // appended after `through` and trimmed before this read: lost, but for this node's own (its tails got those when routed)
      const own = this.#redis.ownAmong(app.id, from, h.first - 1, () => {});
      lost += h.first - from - own;
      for (const n of h.trimmedNotices) if (!this.#ownOrigin(n.origin)) lost += n.n - 1;
    }
    const lines: Buffer[] = [];
    for (const r of h.records) {
      if (isLossNotice(r)) {
        const n = decodeLossNotice(r);
        if (n !== null && !this.#ownOrigin(n.origin)) lost += n.n;
        continue;
      }
      if (!this.#ownOrigin(originOf(seqOf(r)))) lines.push(r);
    }
    return { lines: sortBySeq(lines), lost, since: Date.now(), through: Math.max(through, h.total), complete: true };
  }
}
