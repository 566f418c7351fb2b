// A tail's queue: where a Tail (tail.ts) puts lines while its socket is
// behind. The bounded line queue of basics/queue.ts, plus what the client is
// to be told of what it dropped (SPEC 5.4).
import { BoundedQueue } from '../basics/queue.js';
import { seqOf } from '../line.js';
import type { Gap } from './encode.js';

/**
 * A tail's queue: the bounded line queue (basics/queue.ts), plus what the
 * client is to be told of the lines it dropped: their count, seq range and
 * when the first went (the next gap).
 */
export class TailQueue {
  readonly #lines: BoundedQueue<Buffer>;
  /** Lines dropped since the last takeGap(), their seq range and when the first went. */
  dropped = 0;
  dropFrom = 0;
  dropTo = 0;
  dropSince = 0;
  /** More may be lost than `dropped` (a loss of unknown size was noted). */
  lowerBound = false;

  constructor(capacity: number) {
    this.#lines = new BoundedQueue<Buffer>(capacity);
  }

  get capacity(): number {
    return this.#lines.maxItems;
  }
  get count(): number {
    return this.#lines.count;
  }
  /** Every line ever dropped (metrics). */
  get droppedTotal(): number {
    return this.#lines.dropped;
  }

  push(rec: Buffer, now: number): void {
    const old = this.#lines.push(rec);
    if (old === undefined) return;
    const seq = seqOf(old);
    if (this.#none()) {
      this.dropFrom = seq;
      this.dropSince = now;
    }
    this.dropTo = seq;
    this.dropped++;
  }

  /** Move up to n of the oldest lines into out (cleared first). */
  shiftInto(out: Buffer[], n: number): void {
    this.#lines.shiftInto(out, n);
  }

  /** Lines lost elsewhere (distributed mode: arrived too late to be sent in order), reported with the next gap; lowerBound: n is only what is known. */
  noteLoss(n: number, from: number, to: number, now: number, lowerBound = false): void {
    if (this.#none()) {
      this.dropFrom = from;
      this.dropTo = to;
      this.dropSince = now;
    } else {
      if (from < this.dropFrom) this.dropFrom = from;
      if (to > this.dropTo) this.dropTo = to;
    }
    if (lowerBound) this.lowerBound = true;
    this.dropped += n;
  }

  /** No gap pending. */
  #none(): boolean {
    return this.dropped === 0 && !this.lowerBound;
  }

  /** The pending gap (and reset), or null when nothing was dropped. */
  takeGap(): Gap | null {
    if (this.#none()) return null;
    const g: Gap = { dropped: this.dropped, since: this.dropSince, from: this.dropFrom, to: this.dropTo };
    if (this.lowerBound) g.lowerBound = true;
    this.dropped = 0;
    this.lowerBound = false;
    return g;
  }
}
