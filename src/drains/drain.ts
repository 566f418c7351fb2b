// The drain core shared by every drain type: a per-drain queue bounded by
// bytes (its own cap, within the node's drain budget) that drops the oldest
// lines and counts them, the sender loop (one batch in flight,
// woken once per tick), retry and drop bookkeeping, and the status shown to
// app owners (SPEC 6.5); loss.ts keeps the counts and the exact L10 line.
// Subclasses only deliver a batch.
import type { LineSink } from '../apps.js';
import { systemClock, type Clock } from '../basics/clock.js';
import { BoundedQueue } from '../basics/queue.js';
import type { Log } from '../obs/log.js';
import { DrainBudget, type BudgetMember } from './budget.js';
import type { FrameEncoder } from './frame.js';
import { newFrameId } from './frame-id.js';
import { LossLedger } from './loss.js';
import { BATCH_BYTES, noCounters, type Batch, type DrainCounters, type DrainOptions } from './options.js';
import { DrainState, type DrainError, type DrainStatus } from './status.js';
import { backoffMs, classify, describe, errorOutcome, isDelivered, type Outcome } from './retry.js';
import type { DrainTarget } from './url.js';

export abstract class Drain implements LineSink, BudgetMember {
  readonly id: string;
  readonly token: string;
  readonly target: DrainTarget;
  protected readonly opts: DrainOptions;
  protected readonly clock: Clock;
  protected readonly log: Log | undefined;
  readonly counters: DrainCounters;
  protected abstract readonly encoder: FrameEncoder;

  /** The lines waiting, bounded by their bytes (the batch in flight is not in it). */
  readonly #queue = new BoundedQueue<Buffer>();
  readonly #capBytes: number;
  readonly #budget: DrainBudget;

  // sender loop
  #batch: Batch | null = null;
  /** Reused by #build: the records of the batch being encoded. */
  readonly #frames: Buffer[] = [];
  #busy = false;
  /** When the attempt in flight started. */
  #started = 0;
  #scheduled = false;
  #timer: unknown = null;
  #closed = false;
  readonly #batchBytes: number;
  readonly #wake = (): void => {
    this.#scheduled = false;
    this.#pump();
  };
  /** The one callback every attempt ends with (no closure per attempt). */
  readonly #onOutcome = (o: Outcome): void => {
    this.#done(o);
  };
  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#nextRetryAt = 0;
    this.#pump();
  };

  // accounting
  readonly #loss: LossLedger;
  #state: DrainState = DrainState.CONNECTING;
  #failing = false;
  #lastSuccessMs = 0;
  #lastError: DrainError | null = null;
  #nextRetryAt = 0;
  #waiters: Array<(done: boolean) => void> = [];

  constructor(opts: DrainOptions) {
    this.id = opts.id;
    this.token = opts.token;
    this.target = opts.target;
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.counters = opts.counters ?? noCounters();
    this.#loss = new LossLedger(this.clock);
    this.#capBytes = opts.queueBytes;
    this.#budget = opts.budget ?? DrainBudget.unshared(opts.queueBytes);
    this.#budget.join(this);
    this.#batchBytes = opts.batchBytes ?? BATCH_BYTES;
  }

  /** Deliver one batch; never rejects (an error is an outcome). */
  protected abstract deliver(batch: Batch): Promise<Outcome>;
  /**
   * Start one attempt; `done` is called once with its outcome, never from
   * within send() itself. Drains that need no Promise per attempt override
   * this; by default it waits for deliver().
   */
  protected send(batch: Batch, done: (o: Outcome) => void): void {
    this.deliver(batch).then(done, (err: unknown) => done(errorOutcome(err)));
  }
  /**
   * Bytes written before the body on every attempt of a batch (HTTP: the
   * request head, latin1); none by default.
   */
  protected head(_bodyBytes: number, _msgCount: number, _frameId: string): string {
    return '';
  }
  /** Release connections; an attempt in flight may be aborted. */
  protected abstract release(): void;

  /** Delay before the next attempt after a failed one (attempt is 1-based). */
  protected retryDelay(attempt: number): number {
    return backoffMs(attempt, this.opts.backoffBaseMs, this.opts.backoffMaxMs, this.opts.random);
  }
  /** Called after every delivered batch (syslog resets its failure count). */
  protected onDelivered(): void {}

  protected setConnecting(): void {
    if (!this.#failing) this.#state = DrainState.CONNECTING;
  }

  /** Route a platform line into the app (L14). */
  protected emitLine(rec: Buffer): void {
    this.opts.emit?.(rec);
  }

  get closed(): boolean {
    return this.#closed;
  }
  /** `idle` when nothing is held or owed and no failure is left to report; else what the last attempt says. */
  get state(): DrainState {
    return !this.#failing && this.idle ? DrainState.IDLE : this.#state;
  }
  /** Lines held: queue plus the batch in flight. */
  get depth(): number {
    return this.#queue.count + (this.#batch?.lines ?? 0);
  }
  /** Bytes of the lines in the queue (what counts against the cap and the budget). */
  get queuedBytes(): number {
    return this.#queue.weight;
  }

  /**
   * Take a line (called by route() for every line of the app). O(1), no I/O:
   * when the queue is over its byte cap, or the node's drains are over their
   * budget, the oldest lines are dropped and counted (see budget.ts).
   */
  offer(rec: Buffer): void {
    if (this.#closed) return;
    const q = this.#queue;
    q.push(rec);
    const b = this.#budget;
    b.used += rec.length;
    if (q.weight > this.#capBytes || b.used > b.limit) this.#overflow();
    this.#wakeSoon();
  }

  #wakeSoon(): void {
    if (!this.#scheduled && !this.#busy && this.#timer === null) {
      this.#scheduled = true;
      setImmediate(this.#wake);
    }
  }

  /** The line just offered put the queue over its cap or the node over its budget. */
  #overflow(): void {
    const q = this.#queue;
    let dropped = 0;
    // over its own cap: the oldest go (the newest line always stays)
    while (q.weight > this.#capBytes && q.count > 1) {
      this.#dropOldest();
      dropped++;
    }
    const b = this.#budget;
    if (b.used > b.limit) {
      // over the budget: a drain over its share makes the room itself; one
      // within its share keeps its line and the others give back (reclaim)
      const share = b.share;
      while (b.used > b.limit && q.weight > share && q.count > 1) {
        this.#dropOldest();
        dropped++;
      }
      if (b.used > b.limit) b.reclaim();
    }
    if (dropped > 0) this.#lose(dropped);
  }

  /**
   * Budget reclaim: drop the oldest while the node is over budget and this
   * queue over floor bytes (the newest line always stays, as in #overflow).
   */
  giveBack(floor: number): void {
    if (this.#closed) return;
    const b = this.#budget;
    const q = this.#queue;
    let dropped = 0;
    while (b.used > b.limit && q.weight > floor && q.count > 1) {
      this.#dropOldest();
      dropped++;
    }
    if (dropped === 0) return;
    this.#lose(dropped);
    this.#wakeSoon();
  }

  /** Queued lines dropped: counted, and reported by the next L10 line. */
  #lose(n: number): void {
    this.counters.droppedOverflow.value += n;
    this.#loss.lose(n);
  }

  /** Take the oldest queued line (into a batch): it leaves the budget too. */
  #shift(): Buffer {
    const rec = this.#queue.shift();
    this.#budget.used -= rec.length;
    return rec;
  }

  #dropOldest(): void {
    this.#budget.used -= this.#queue.dropOldest().length;
  }

  #build(): Batch {
    const enc = this.encoder;
    const limit = this.#batchBytes;
    const frames = this.#frames;
    let bytes = 0;
    const reported = this.#loss.unreported;
    const l10 = this.#loss.startBatch();
    if (l10 !== null) {
      frames.push(l10);
      bytes += enc.frameLength(l10);
    }
    const q = this.#queue;
    let lines = 0;
    while (q.count > 0) {
      const len = enc.frameLength(q.peek());
      if (frames.length > 0 && bytes + len > limit) break;
      frames.push(this.#shift());
      bytes += len;
      lines++;
    }
    const msgCount = frames.length;
    const frameId = newFrameId();
    // head and body in one Buffer: one allocation, one write per attempt
    const head = this.head(bytes, msgCount, frameId);
    const wire = Buffer.allocUnsafe(head.length + bytes);
    if (head.length > 0) wire.write(head, 0, 'latin1');
    enc.encodeInto(frames, wire, head.length);
    frames.length = 0;
    return { lines, reported, msgCount, body: head.length > 0 ? wire.subarray(head.length) : wire, wire, frameId, attempts: 0 };
  }

  #pump(): void {
    if (this.#closed || this.#busy || this.#timer !== null) return;
    let b = this.#batch;
    if (b === null) {
      if (this.#queue.count === 0 && this.#loss.unreported === 0) {
        this.#settle(true);
        return;
      }
      b = this.#batch = this.#build();
    }
    b.attempts++;
    this.#busy = true;
    this.#started = this.clock.now();
    this.send(b, this.#onOutcome);
  }

  /** The attempt in flight (this.#batch) ended. */
  #done(o: Outcome): void {
    this.#busy = false;
    const b = this.#batch;
    if (this.#closed || b === null) return;
    const now = this.clock.now();
    this.counters.latencySum.value += (now - this.#started) / 1000;
    if (isDelivered(o)) {
      this.counters.attemptsOk.value++;
      this.counters.delivery?.observe((now - this.#started) / 1000);
      this.counters.delivered.value += b.lines;
      this.#loss.batchDelivered(b.lines, b.reported);
      this.#batch = null;
      this.#lastSuccessMs = now;
      this.#failing = false;
      this.#state = DrainState.DELIVERING;
      this.onDelivered();
      this.#pump();
      return;
    }
    this.#lastError = o.kind === 'error' ? { at: now, errno: o.code, text: o.message } : { at: now, ...(o.kind === 'status' ? { status: o.status } : {}), text: describe(o) };
    const verdict = classify(o);
    let delay: number;
    if (verdict === 'drop' || b.attempts > this.opts.retries) {
      this.#dropBatch(b, verdict === 'drop' ? 'rejected' : 'retries', o);
      delay = this.retryDelay(1);
    } else {
      this.counters.attemptsRetry.value++;
      delay = this.retryDelay(b.attempts);
    }
    this.#state = this.#failing ? DrainState.FAILING : DrainState.BACKING_OFF;
    this.#nextRetryAt = now + delay;
    this.#timer = this.clock.setTimeout(this.#onTimer, delay);
  }

  #dropBatch(b: Batch, reason: 'rejected' | 'retries', o: Outcome): void {
    this.counters.attemptsDrop.value++;
    (reason === 'rejected' ? this.counters.droppedRejected : this.counters.droppedRetries).value += b.lines;
    if (b.lines > 0) this.#loss.lose(b.lines);
    this.#batch = null;
    this.#failing = true;
    this.log?.warn({ at: 'drain.batch_dropped', drain: this.id, kind: this.target.kind, lines: b.lines, attempts: b.attempts, reason, error: describe(o) }, 'drain batch dropped');
  }

  #settle(done: boolean): void {
    if (this.#waiters.length === 0) return;
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f(done);
  }

  /** True when nothing is held or owed (no queue, no batch, no unreported loss). */
  get idle(): boolean {
    return this.#queue.count === 0 && this.#batch === null && !this.#busy && this.#loss.unreported === 0;
  }

  /**
   * Resolve true once everything held is delivered (or reported), false at
   * the deadline. Deliveries keep going either way until destroy().
   */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(this.idle);
    if (this.idle) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.#waiters.indexOf(done);
        if (i !== -1) this.#waiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      const done = (ok: boolean): void => {
        clearTimeout(t);
        resolve(ok);
      };
      this.#waiters.push(done);
      if (!this.#busy && this.#timer === null && !this.#scheduled) this.#pump();
    });
  }

  /** Stop: release connections and forget what is held. Returns the lines left undelivered. */
  destroy(): number {
    if (this.#closed) return 0;
    const left = this.depth;
    this.#closed = true;
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#batch = null;
    this.#budget.used -= this.#queue.weight;
    this.#queue.clear();
    this.#budget.leave(this);
    this.release();
    this.#settle(false);
    return left;
  }

  /** Remove and return the queued lines, oldest first (to move them to a replacement drain). */
  takeQueue(): Buffer[] {
    const out: Buffer[] = [];
    while (this.#queue.count > 0) out.push(this.#shift());
    return out;
  }

  status(): DrainStatus {
    return {
      state: this.state,
      delivered: this.#loss.delivered,
      dropped: this.#loss.dropped,
      queueDepth: this.depth,
      lastSuccessAt: this.#lastSuccessMs === 0 ? null : this.#lastSuccessMs,
      lastError: this.#lastError,
      nextRetryAt: this.#timer !== null && this.#nextRetryAt !== 0 ? this.#nextRetryAt : null,
    };
  }
}
