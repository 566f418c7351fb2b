// The main thread's side of one ingest worker: the stream input it holds
// (for the fair hand-off), its streams, and its outbox. Every message costs
// the sender a wake-up of the worker (tens of µs on a VM), so what is not
// latency-bound does not go on its own: POST /logs bodies of one event-loop
// turn go together at its end ('many'; the pool flushes the outboxes), and
// recycled batch buffers and freed shared answer buffers wait for the next
// message to this worker, whatever it is.
import type { Socket } from 'node:net';
import type { Worker } from 'node:worker_threads';
import { FairHandoff, type HandoffTarget } from './handoff.js';
import type { ToWorker } from './worker-protocol.js';

export class WorkerHandle implements HandoffTarget {
  readonly w: Worker;
  inflight = 0;
  /** Of inflight, the bytes of POST /logs bodies (not counted by the UDP overload mark). */
  bodyBytes = 0;
  readonly streams = new Map<number, Socket>();
  readonly handoff: FairHandoff = new FairHandoff(this);
  /** The worker's shared POST /logs answer buffers, by number. */
  readonly shared: Buffer[] = [];
  /** Set when the pool stops: nothing is sent any more. */
  closed = false;
  readonly #outbox: ToWorker[] = [];
  readonly #outboxBuffers: ArrayBuffer[] = [];

  constructor(w: Worker) {
    this.w = w;
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
