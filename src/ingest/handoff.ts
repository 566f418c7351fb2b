// Fair hand-off of stream input to an ingest worker. A worker handles its
// messages in arrival order, so whatever it already holds delays every
// connection it serves: the bytes queued ahead of a quiet connection's line
// are that line's wait. So a worker is given at most WORKER_QUEUE bytes of
// stream input at a time; the rest waits here, per connection, and is handed
// over one chunk per connection in turn as the worker reports input handled.
// A quiet connection's chunk therefore waits behind at most WORKER_QUEUE bytes
// plus one chunk of each other busy connection, however much a flood sends,
// and a flooding connection keeps streaming (its socket is paused only when
// it has STREAM_HIGH bytes waiting here, and resumed under STREAM_LOW), so the
// worker still gets full batches. Per connection the order is kept: a
// connection's 'end' and 'close' wait behind its data.
import type { Socket } from 'node:net';
import type { ToWorker } from './worker-protocol.js';

/**
 * Stream input a worker may hold not yet handled (its queue, ahead of any new
 * chunk). Smaller shortens a quiet line's wait but lets the worker run dry
 * and be woken more often: 512 KiB cost the syslog bench 5-10% of its lines
 * per CPU-second against 8 MiB, 1 MiB about 3% (bench/RESULTS.md).
 */
export const WORKER_QUEUE = 1024 * 1024;
/** Input of one connection waiting here before its socket is paused, and the level it is resumed under. */
export const STREAM_HIGH = 2 * 1024 * 1024;
export const STREAM_LOW = 512 * 1024;

/** What the hand-off needs of a worker: the input it holds, and how to send it more. */
export interface HandoffTarget {
  /** Input bytes sent and not yet reported handled. */
  inflight: number;
  post(m: ToWorker, transfer?: ArrayBuffer[]): void;
}

interface Held {
  m: ToWorker;
  transfer: ArrayBuffer[] | undefined;
  /** Input bytes (0 for 'end' and 'close'). */
  n: number;
}

/** One connection's input not yet handed to its worker. */
export class StreamInput {
  readonly sock: Socket;
  readonly #held: Held[] = [];
  #heldBytes = 0;
  /** In its worker's turn list. */
  queued = false;
  paused = false;
  constructor(sock: Socket) {
    this.sock = sock;
  }
  get heldBytes(): number {
    return this.#heldBytes;
  }
  get empty(): boolean {
    return this.#held.length === 0;
  }
  hold(h: Held): void {
    this.#held.push(h);
    this.#heldBytes += h.n;
  }
  take(): Held {
    const h = this.#held.shift()!;
    this.#heldBytes -= h.n;
    return h;
  }
}

/** The turn list of one worker: connections with input waiting, served one chunk each in turn. */
export class FairHandoff {
  readonly #w: HandoffTarget;
  #turns: StreamInput[] = [];

  constructor(w: HandoffTarget) {
    this.#w = w;
  }

  /** Send one message of connection s (n input bytes): now if the worker has room and s nothing waiting, else in its turn. */
  send(s: StreamInput, m: ToWorker, transfer: ArrayBuffer[] | undefined, n: number): void {
    const w = this.#w;
    if (s.empty && w.inflight < WORKER_QUEUE) {
      w.inflight += n;
      w.post(m, transfer);
      return;
    }
    s.hold({ m, transfer, n });
    if (!s.queued) {
      s.queued = true;
      this.#turns.push(s);
    }
    if (!s.paused && s.heldBytes > STREAM_HIGH) {
      s.paused = true;
      s.sock.pause();
    }
  }

  /** The worker reported input handled: hand over waiting chunks in turn while it has room (all of them with `all`). */
  pump(all = false): void {
    const w = this.#w;
    while (this.#turns.length > 0 && (all || w.inflight < WORKER_QUEUE)) {
      const s = this.#turns.shift()!;
      const h = s.take();
      w.inflight += h.n;
      w.post(h.m, h.transfer);
      if (!s.empty) this.#turns.push(s);
      else s.queued = false;
      if (s.paused && s.heldBytes < STREAM_LOW) {
        s.paused = false;
        s.sock.resume();
      }
    }
  }
}
