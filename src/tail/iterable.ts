// The library's tail transport (SPEC 14, lp.tail): a TailSink whose "socket"
// is an async iterator. Lines become plain objects as they are written (ring
// views die at the next push); the events the reader has not taken yet count
// as the socket's buffer, so a reader that falls behind makes its Tail queue
// and drop exactly as a slow WebSocket does, and it then reads a gap event.
import { dynoOf, msgStartOf, seqOf, sourceOf, tsOf } from '../line.js';
import type { Gap } from './encode.js';
import { Transport, type TailSink } from './tail.js';

export interface TailLineEvent {
  type: 'line';
  seq: number;
  time: string;
  source: string;
  dyno: string;
  msg: string;
}

export interface TailGapEvent {
  type: 'gap';
  /** Lines this reader did not receive. */
  dropped: number;
  /** Their seq range. */
  from: number;
  to: number;
  /** When the first of them was dropped (RFC 3339). */
  since: string;
  /** Present when `dropped` is only what is known lost (distributed mode: other nodes' lines could not be read). */
  lowerBound?: true;
}

export type TailEvent = TailLineEvent | TailGapEvent;

/** Bytes counted per event besides its line, so gaps and empty lines count too. */
const EVENT_OVERHEAD = 64;

export class IterableTailSink implements TailSink, AsyncIterableIterator<TailEvent> {
  readonly transport = Transport.LIB;
  readonly #events: TailEvent[] = [];
  /** What each event counts in buffered(). */
  readonly #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  #ended = false;
  #wake: (() => void) | null = null;
  #drain: (() => void) | null = null;
  /** Called once when the reader leaves (return(), or the end was read). */
  onLeave: (() => void) | null = null;
  #left = false;

  buffered(): number {
    return this.#bytes;
  }
  onDrain(cb: () => void): void {
    this.#drain = cb;
  }
  hello(): void {}

  writeLines(recs: readonly Buffer[], from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const rec = recs[i]!;
      this.#events.push({ type: 'line', seq: seqOf(rec), time: tsOf(rec), source: sourceOf(rec), dyno: dynoOf(rec), msg: rec.toString('utf8', msgStartOf(rec)) });
      this.#sizes.push(rec.length + EVENT_OVERHEAD);
      this.#bytes += rec.length + EVENT_OVERHEAD;
    }
    this.#wakeReader();
  }

  writeGap(gap: Gap): void {
    const ev: TailGapEvent = { type: 'gap', dropped: gap.dropped, from: gap.from, to: gap.to, since: new Date(gap.since).toISOString() };
    if (gap.lowerBound === true) ev.lowerBound = true;
    this.#events.push(ev);
    this.#sizes.push(EVENT_OVERHEAD);
    this.#bytes += EVENT_OVERHEAD;
    this.#wakeReader();
  }

  finish(): void {
    this.#end();
  }
  close(): void {
    this.#end();
  }

  #end(): void {
    this.#ended = true;
    this.#wakeReader();
  }

  #wakeReader(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async next(): Promise<IteratorResult<TailEvent>> {
    for (;;) {
      if (this.#left) return { done: true, value: undefined };
      if (this.#head < this.#events.length) {
        const ev = this.#events[this.#head]!;
        this.#events[this.#head] = undefined as unknown as TailEvent;
        this.#bytes -= this.#sizes[this.#head++]!;
        if (this.#head === this.#events.length) {
          this.#events.length = 0;
          this.#sizes.length = 0;
          this.#head = 0;
          this.#bytes = 0;
          const d = this.#drain;
          this.#drain = null;
          d?.();
        }
        return { done: false, value: ev };
      }
      if (this.#ended) {
        this.#leave();
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** The reader left the loop (break, return, throw): the tail ends. */
  async return(): Promise<IteratorResult<TailEvent>> {
    this.#leave();
    return { done: true, value: undefined };
  }

  #leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#ended = true;
    this.#events.length = 0;
    this.#sizes.length = 0;
    this.#head = 0;
    this.#bytes = 0;
    this.#wakeReader();
    this.onLeave?.();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<TailEvent> {
    return this;
  }
}
