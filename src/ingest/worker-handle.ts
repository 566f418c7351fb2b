// The main thread's side of one ingest worker: the input it holds (for the
// fair hand-off), its streams, and its outbox. Every message costs
// the sender a wake-up of the worker (tens of µs on a VM), so what is not
// latency-bound does not go on its own: POST /logs bodies of one event-loop
// turn go together at its end ('many'; the pool flushes the outboxes), and
// recycled batch buffers and freed shared answer buffers wait for the next
// message to this worker, whatever it is.
import type { Socket } from 'node:net';
import type { Worker } from 'node:worker_threads';
import type { App } from '../apps.js';
import { FairHandoff, HandoffInput, type HandoffTarget } from './handoff.js';
import type { ToWorker } from './worker-protocol.js';

export class WorkerHandle implements HandoffTarget {
  readonly w: Worker;
  inflight = 0;
  /** Of inflight, the bytes of POST /logs bodies (not counted by the UDP overload mark). */
  bodyBytes = 0;
  readonly streams = new Map<number, Socket>();
  readonly handoff: FairHandoff = new FairHandoff(this);
  /** Each app's POST /logs bodies waiting for this worker: one input of the hand-off per app. */
  readonly #bodies = new WeakMap<App, HandoffInput>();
  /** Called when the outbox gets its first message of a turn (the pool flushes outboxes at the turn's end). */
  readonly #onHold: () => void;
  /** The worker's shared POST /logs answer buffers, by number. */
  readonly shared: Buffer[] = [];
  /** Set when the pool stops: nothing is sent any more. */
  closed = false;
  readonly #outbox: ToWorker[] = [];
  readonly #outboxBuffers: ArrayBuffer[] = [];

  constructor(w: Worker, onHold: () => void) {
    this.w = w;
    this.#onHold = onHold;
  }

  /** The hand-off input of app's POST /logs bodies. */
  bodiesOf(app: App): HandoffInput {
    let input = this.#bodies.get(app);
    if (input === undefined) {
      input = new HandoffInput(null);
      this.#bodies.set(app, input);
    }
    return input;
  }

  /** A POST /logs body: goes with the outbox, at the end of this turn. */
  postBody(m: ToWorker, transfer: ArrayBuffer[] | undefined, n: number): void {
    this.bodyBytes += n;
    this.hold(m, transfer);
    this.#onHold();
  }

  get waiting(): boolean {
    return this.#outbox.length > 0;
  }

  /** Send m now, with whatever waits in the outbox. */
  post(m: ToWorker, transfer?: ArrayBuffer[]): void {
    if (this.#outbox.length === 0) {
      if (!this.closed) this.w.postMessage(m, transfer);
      return;
    }
    this.hold(m, transfer);
    this.flush();
  }

  /** Put m in the outbox: it goes with the next message, or when the pool flushes. */
  hold(m: ToWorker, transfer?: ArrayBuffer[]): void {
    this.#outbox.push(m);
    if (transfer !== undefined) for (const ab of transfer) this.#outboxBuffers.push(ab);
  }

  /** Send what the outbox holds, as one message. */
  flush(): void {
    if (this.#outbox.length === 0) return;
    const m: ToWorker = this.#outbox.length === 1 ? this.#outbox[0]! : { k: 'many', ms: this.#outbox.slice() };
    if (!this.closed) this.w.postMessage(m, this.#outboxBuffers.slice());
    this.#outbox.length = 0;
    this.#outboxBuffers.length = 0;
  }
}
