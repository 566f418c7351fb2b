// Live tail fan-out. One TailHub per app with readers is a LineSink in
// app.sinks: route() offers every line synchronously, the hub collects them
// and once per tick (one setImmediate) hands the batch to each Tail. A Tail
// writes straight to its socket while the socket keeps up; when the socket's
// buffer passes a bound it queues into its own bounded TailQueue, which drops
// the oldest and counts exactly. The client is told with a gap (SPEC 5.4).
// Nothing here ever waits on a socket: a slow reader costs only its own queue.
import type { App, LineSink } from '../apps.js';
import { receivedOf, seqOf } from '../line.js';
import type { Gap } from './encode.js';
import type { LineFilter } from './filter.js';
import type { Clock, Session } from './session.js';

/** Lines per frame / write when flushing (keeps one frame bounded). */
export const CHUNK_LINES = 512;

export const Transport = { WS: 'ws', SSE: 'sse', TEXT: 'text' } as const;
export type Transport = (typeof Transport)[keyof typeof Transport];

/** The transport side of a tail: encodes and writes, reports its socket buffer. */
export interface TailSink {
  readonly transport: Transport;
  /** Bytes accepted but not yet handed to the kernel. */
  buffered(): number;
  /** Call cb once when the socket has drained (the tail re-checks buffered()). */
  onDrain(cb: () => void): void;
  /** Sent first (WebSocket hello). */
  hello(app: string, head: number): void;
  /** Encode recs[from, to) and write them, synchronously (ring views die at the next push). */
  writeLines(recs: readonly Buffer[], from: number, to: number): void;
  writeGap(gap: Gap): void;
  /** History done and no tail: finish normally (end frame + close 1000, end of response). */
  finish(): void;
  /** Stop now (server closing, app deleted). */
  close(reason: 'shutdown' | 'deleted'): void;
}

/** A bounded FIFO of line refs that drops the oldest when full and counts exactly what it dropped. */
export class TailQueue {
  readonly capacity: number;
  readonly #items: (Buffer | undefined)[];
  #head = 0;
  #count = 0;
  /** Lines dropped since the last takeGap(), their seq range and when the first went. */
  dropped = 0;
  dropFrom = 0;
  dropTo = 0;
  dropSince = 0;
  /** Every line ever dropped (metrics). */
  droppedTotal = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#items = new Array<Buffer | undefined>(capacity);
  }

  get count(): number {
    return this.#count;
  }

  push(rec: Buffer, now: number): void {
    const cap = this.capacity;
    if (this.#count === cap) {
      const old = this.#items[this.#head]!;
      const seq = seqOf(old);
      if (this.dropped === 0) {
        this.dropFrom = seq;
        this.dropSince = now;
      }
      this.dropTo = seq;
      this.dropped++;
      this.droppedTotal++;
      this.#items[this.#head] = rec;
      this.#head = this.#head + 1 === cap ? 0 : this.#head + 1;
      return;
    }
    let i = this.#head + this.#count;
    if (i >= cap) i -= cap;
    this.#items[i] = rec;
    this.#count++;
  }

  /** Move up to n of the oldest lines into out (cleared first). */
  shiftInto(out: Buffer[], n: number): void {
    out.length = 0;
    const cap = this.capacity;
    while (out.length < n && this.#count > 0) {
      out.push(this.#items[this.#head]!);
      this.#items[this.#head] = undefined;
      this.#head = this.#head + 1 === cap ? 0 : this.#head + 1;
      this.#count--;
    }
  }

  /** The pending gap (and reset), or null when nothing was dropped. */
  takeGap(): Gap | null {
    if (this.dropped === 0) return null;
    const g = { dropped: this.dropped, since: this.dropSince, from: this.dropFrom, to: this.dropTo };
    this.dropped = 0;
    return g;
  }
}

export interface TailOptions {
  queueLines: number;
  /** Socket buffer above which the tail stops writing and queues. */
  maxBufferedBytes: number;
  clock: Clock;
}

/** How long to wait for a drain event before re-checking the buffer anyway. */
const DRAIN_POLL_MS = 250;

/** One reader of one session over one transport. */
export class Tail {
  readonly session: Session;
  readonly app: App;
  readonly sink: TailSink;
  readonly #filter: LineFilter;
  readonly #queue: TailQueue;
  readonly #opts: TailOptions;
  /** Highest seq delivered or queued: nothing at or below it is sent again. */
  #lastSeq = 0;
  #blocked = false;
  #closed = false;
  #released = false;
  #pollTimer: NodeJS.Timeout | null = null;
  readonly #out: Buffer[] = [];
  #hub: TailHub | null = null;
  /** Lines handed to the socket (metrics). */
  linesOut = 0;
  onClose: ((t: Tail) => void) | null = null;

  constructor(session: Session, app: App, sink: TailSink, filter: LineFilter, opts: TailOptions) {
    this.session = session;
    this.app = app;
    this.sink = sink;
    this.#filter = filter;
    this.#queue = new TailQueue(opts.queueLines);
    this.#opts = opts;
  }

  get closed(): boolean {
    return this.#closed;
  }
  get queue(): TailQueue {
    return this.#queue;
  }

  /**
   * Hello, the resume gap if any, history from the ring, then either finish
   * (no tail) or subscribe to the hub. All synchronous: the ring views are
   * encoded before any other line can be routed.
   */
  start(hub: TailHub | null, after: number | null): void {
    const app = this.app;
    const ring = app.ring;
    const head = app.seq;
    const spec = this.session.spec;
    const filter = this.#filter;
    this.sink.hello(app.id, head);
    const out = this.#out;
    out.length = 0;
    if (after !== null) {
      const a = Math.min(after, head);
      const first = ring.count === 0 ? head + 1 : ring.firstSeq;
      if (a < first - 1) {
        const since = ring.count === 0 ? this.#opts.clock.now() : receivedOf(ring.at(0));
        this.sink.writeGap({ dropped: first - 1 - a, since, from: a + 1, to: first - 1 });
      }
      for (let i = ring.indexAfter(a); i < ring.count; i++) {
        const rec = ring.at(i);
        if (!filter.matches(rec)) continue;
        out.push(rec);
        if (out.length === CHUNK_LINES) this.#write(out);
      }
    } else if (spec.num > 0) {
      // the newest num matching lines, oldest first
      let i = ring.count - 1;
      let n = 0;
      for (; i >= 0 && n < spec.num; i--) if (filter.matches(ring.at(i))) n++;
      for (i++; i < ring.count; i++) {
        const rec = ring.at(i);
        if (!filter.matches(rec)) continue;
        out.push(rec);
        if (out.length === CHUNK_LINES) this.#write(out);
      }
    }
    if (out.length > 0) this.#write(out);
    this.#lastSeq = head;
    if (!spec.tail || hub === null) {
      this.#closed = true;
      this.sink.finish();
      return;
    }
    this.#hub = hub;
    hub.add(this);
    if (this.sink.buffered() > this.#opts.maxBufferedBytes) this.#block();
  }

  /** A tick's lines from the hub (called once per tick per tail). */
  deliver(batch: readonly Buffer[], n: number): void {
    if (this.#closed) return;
    const filter = this.#filter;
    const queue = this.#queue;
    const now = this.#opts.clock.now();
    let last = this.#lastSeq;
    const out = this.#out;
    out.length = 0;
    for (let i = 0; i < n; i++) {
      const rec = batch[i]!;
      const seq = seqOf(rec);
      if (seq <= last || !filter.matches(rec)) continue;
      last = seq;
      if (this.#blocked) {
        queue.push(rec, now);
        continue;
      }
      out.push(rec);
      if (out.length === CHUNK_LINES) {
        this.#write(out);
        if (this.sink.buffered() > this.#opts.maxBufferedBytes) this.#block();
      }
    }
    this.#lastSeq = last;
    if (out.length > 0) {
      this.#write(out);
      if (!this.#blocked && this.sink.buffered() > this.#opts.maxBufferedBytes) this.#block();
    }
  }

  #write(out: Buffer[]): void {
    this.sink.writeLines(out, 0, out.length);
    this.linesOut += out.length;
    out.length = 0;
  }

  #block(): void {
    if (this.#blocked || this.#closed) return;
    this.#blocked = true;
    this.#waitDrain();
  }

  #waitDrain(): void {
    let fired = false;
    const resume = (): void => {
      if (fired) return;
      fired = true;
      if (this.#pollTimer) clearTimeout(this.#pollTimer);
      this.#pollTimer = null;
      this.#resume();
    };
    this.sink.onDrain(resume);
    // a drain event can be missed (nothing was over the socket's own mark); re-check
    const poll = (): void => {
      if (fired || this.#closed) return;
      if (this.sink.buffered() <= this.#opts.maxBufferedBytes / 2) resume();
      else this.#pollTimer = setTimeout(poll, DRAIN_POLL_MS).unref();
    };
    this.#pollTimer = setTimeout(poll, DRAIN_POLL_MS).unref();
  }

  /** The socket drained: the gap first, then queued lines while the socket keeps up. */
  #resume(): void {
    if (this.#closed) return;
    const queue = this.#queue;
    const gap = queue.takeGap();
    if (gap) this.sink.writeGap(gap);
    const out = this.#out;
    const max = this.#opts.maxBufferedBytes;
    while (queue.count > 0) {
      if (this.sink.buffered() > max) {
        this.#waitDrain();
        return;
      }
      queue.shiftInto(out, CHUNK_LINES);
      this.#write(out);
    }
    if (this.sink.buffered() > max) {
      this.#waitDrain();
      return;
    }
    this.#blocked = false;
  }

  /** The reader went away (or we stop it): unsubscribe and release the session once. */
  close(): void {
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = null;
    this.#closed = true;
    if (this.#released) return;
    this.#released = true;
    this.#hub?.remove(this);
    this.#hub = null;
    this.onClose?.(this);
  }
}

/** The per-app fan-out point for live tails. */
export class TailHub implements LineSink {
  readonly app: App;
  readonly #tails: Tail[] = [];
  #pending: Buffer[] = [];
  #spare: Buffer[] = [];
  #scheduled = false;
  /** Called when the last tail leaves (the service forgets the hub). */
  onEmpty: ((hub: TailHub) => void) | null = null;
  onError: ((err: Error, tail: Tail) => void) | null = null;

  constructor(app: App) {
    this.app = app;
  }

  get size(): number {
    return this.#tails.length;
  }
  tails(): readonly Tail[] {
    return this.#tails;
  }

  offer(rec: Buffer): void {
    this.#pending.push(rec);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  add(t: Tail): void {
    if (this.#tails.length === 0) this.app.addSink(this);
    this.#tails.push(t);
  }

  remove(t: Tail): void {
    const i = this.#tails.indexOf(t);
    if (i === -1) return;
    this.#tails.splice(i, 1);
    if (this.#tails.length === 0) {
      this.app.removeSink(this);
      this.onEmpty?.(this);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const batch = this.#pending;
    this.#pending = this.#spare;
    this.#spare = batch;
    const n = batch.length;
    // copy: a tail may close (and leave the array) while we iterate
    const tails = this.#tails.length === 1 ? this.#tails : this.#tails.slice();
    for (let i = 0; i < tails.length; i++) {
      const t = tails[i]!;
      try {
        t.deliver(batch, n);
      } catch (err) {
        this.onError?.(err as Error, t);
        try {
          t.sink.close('shutdown');
        } catch {
          /* already broken */
        }
        t.close();
      }
    }
    batch.length = 0;
  };
}
