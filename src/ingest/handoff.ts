// Fair hand-off of input to an ingest worker. A worker handles its messages
// in arrival order, so whatever it already holds delays every input it
// serves: the bytes queued ahead of a quiet app's line are that line's wait.
// So a worker is given at most WORKER_QUEUE bytes of input at a time; the
// rest waits here, per input (a TCP/TLS connection, or one app's POST /logs
// bodies), and is handed over in turn as the worker reports input handled.
//
// Turns are deficit round robin: each turn gives an input TURN_BYTES of
// credit, and its next item goes once its credit covers it. Stream chunks are
// at most about that size, so a connection sends one chunk a turn; a POST
// /logs body of 2 MiB waits 32 turns, so the small items of quiet inputs pass
// it instead of queueing behind it. A quiet input's item therefore waits
// behind what the worker holds (under WORKER_QUEUE plus the item handed over
// last) and at most one item of each other busy input (a chunk, or a body at
// most the body limit), however much a flood has waiting; usually less than
// one body, since a large body is handed over only when its credit is up.
//
// A flooding connection keeps streaming (its socket is paused only when it
// has STREAM_HIGH bytes waiting here, and resumed under STREAM_LOW), so the
// worker still gets full batches. POST /logs bodies have no socket to pause:
// their requests are not answered until parsed, which holds their senders
// back. Per input the order is kept: a connection's 'end' and 'close' wait
// behind its data.
import type { Socket } from 'node:net';
import type { ToWorker } from './worker-protocol.js';

/**
 * Input a worker may hold not yet handled (its queue, ahead of any new item).
 * Smaller shortens a quiet line's wait but lets the worker run dry and be
 * woken more often: 512 KiB cost the syslog bench 5-10% of its lines per
 * CPU-second against 8 MiB, 1 MiB about 3% (bench/RESULTS.md).
 */
export const WORKER_QUEUE = 1024 * 1024;
/** Input of one connection waiting here before its socket is paused, and the level it is resumed under. */
export const STREAM_HIGH = 2 * 1024 * 1024;
export const STREAM_LOW = 512 * 1024;
/** Credit an input gets per turn: one socket read (64 KiB) of a connection. */
export const TURN_BYTES = 64 * 1024;

/** What the hand-off needs of a worker: the input it holds, and how to send it more. */
export interface HandoffTarget {
  /** Input bytes sent and not yet reported handled. */
  inflight: number;
  /** Send a connection's message now (its lines' latency). */
  post(m: ToWorker, transfer?: ArrayBuffer[]): void;
  /** Send a POST /logs body (n bytes) with the others of this event-loop turn. */
  postBody(m: ToWorker, transfer: ArrayBuffer[] | undefined, n: number): void;
}

interface Held {
  m: ToWorker;
  transfer: ArrayBuffer[] | undefined;
  /** Input bytes (0 for 'end' and 'close'). */
  n: number;
}

/** One input's items not yet handed to its worker: a connection's, or an app's POST /logs bodies. */
export class HandoffInput {
  /** The connection (paused when too much of it waits); null for POST /logs bodies. */
  readonly sock: Socket | null;
  readonly #held: Held[] = [];
  #heldBytes = 0;
  /** In its worker's turn list. */
  queued = false;
  paused = false;
  /** Bytes it may still send in this turn (deficit round robin). */
  credit = 0;
  constructor(sock: Socket | null) {
    this.sock = sock;
  }
  get heldBytes(): number {
    return this.#heldBytes;
  }
  get empty(): boolean {
    return this.#held.length === 0;
  }
  /** Bytes of the next item. */
  get next(): number {
    return this.#held[0]!.n;
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

/** The turn list of one worker: inputs with items waiting, served in turn. */
export class FairHandoff {
  readonly #w: HandoffTarget;
  #turns: HandoffInput[] = [];
  /** Bytes waiting here, of every input. */
  #waiting = 0;

  constructor(w: HandoffTarget) {
    this.#w = w;
  }

  /** Input waiting here for this worker (to pick the least busy one). */
  get waiting(): number {
    return this.#waiting;
  }

  /** Send one item of input s (n input bytes): now if the worker has room and s nothing waiting, else in its turn. */
  send(s: HandoffInput, m: ToWorker, transfer: ArrayBuffer[] | undefined, n: number): void {
    const w = this.#w;
    // room in the worker means nothing waits here (pump() hands over until the worker is full)
    if (s.empty && w.inflight < WORKER_QUEUE) {
      this.#post(s, m, transfer, n);
      return;
    }
    s.hold({ m, transfer, n });
    this.#waiting += n;
    if (!s.queued) {
      s.queued = true;
      s.credit = 0;
      this.#turns.push(s);
    }
    if (s.sock !== null && !s.paused && s.heldBytes > STREAM_HIGH) {
      s.paused = true;
      s.sock.pause();
    }
  }

  /** The worker reported input handled: hand over waiting items in turn while it has room (all of them with `all`). */
  pump(all = false): void {
    const w = this.#w;
    const turns = this.#turns;
    while (turns.length > 0 && (all || w.inflight < WORKER_QUEUE)) {
      const s = turns[0]!;
      if (s.credit < s.next && !all) {
        // a new turn for s; alone, it need not wait for credit
        s.credit = turns.length === 1 ? s.next : s.credit + TURN_BYTES;
        if (s.credit < s.next) {
          turns.push(turns.shift()!);
          continue;
        }
      }
      const h = s.take();
      s.credit -= h.n;
      this.#waiting -= h.n;
      this.#post(s, h.m, h.transfer, h.n);
      if (s.empty) {
        turns.shift();
        s.queued = false;
        s.credit = 0;
      } else if (s.credit < s.next) turns.push(turns.shift()!);
      if (s.paused && s.heldBytes < STREAM_LOW) {
        s.paused = false;
        s.sock!.resume();
      }
    }
  }

  /** The worker stops: POST /logs bodies still waiting are not sent; their messages are returned (the rest goes with pump(true)). */
  dropBodies(): ToWorker[] {
    const out: ToWorker[] = [];
    this.#turns = this.#turns.filter((s) => {
      if (s.sock !== null) return true;
      while (!s.empty) {
        const h = s.take();
        this.#waiting -= h.n;
        out.push(h.m);
      }
      s.queued = false;
      return false;
    });
    return out;
  }

  #post(s: HandoffInput, m: ToWorker, transfer: ArrayBuffer[] | undefined, n: number): void {
    const w = this.#w;
    w.inflight += n;
    if (s.sock === null) w.postBody(m, transfer, n);
    else w.post(m, transfer);
  }
}
