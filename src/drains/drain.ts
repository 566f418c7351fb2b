// The drain core shared by every drain type: a per-drain queue bounded by
// bytes (its own cap, within the node's drain budget; a healthy drain may
// borrow beyond its cap for a burst) that drops the oldest
// lines and counts them, the sender loop (one batch in flight,
// woken once per tick), retry and drop bookkeeping, and the status shown to
// app owners (SPEC 6.5); loss.ts keeps the counts and the exact L10 line.
// Subclasses only deliver a batch.
import type { LineSink } from '../apps.js';
import { systemClock, type Clock } from '../basics/clock.js';
import { BoundedQueue } from '../basics/queue.js';
import type { LineFilter } from '../line-filter.js';
import { receivedOf } from '../line.js';
import type { Log } from '../obs/log.js';
import { DrainBudget, type BudgetMember } from './budget.js';
import type { FrameEncoder } from './frame.js';
import { newFrameId } from './frame-id.js';
import { BatchLatency } from './health.js';
import { LossLedger } from './loss.js';
import { BATCH_BYTES, noCounters, type Batch, type DrainCounters, type DrainHandOver, type DrainOptions } from './options.js';
import { DrainState, type DrainError, type DrainStatus } from './status.js';
import { backoffMs, classify, describe, errorOutcome, isDelivered, type Outcome } from './retry.js';
import type { DrainTarget } from './url.js';
import { Waiters } from './waiters.js';

/** A replay's notice (replay.ts): the L10-style line, and the lines it says the history no longer holds, since when. */
export interface ReplayNotice {
  line: Buffer;
  missing: number;
  sinceMs: number;
}

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
  readonly #burstBytes: number;
  /**
   * What the queue may hold now: the burst ceiling while the drain is healthy
   * (no failed attempt since its last success; a new drain is), its cap
   * otherwise. Beyond the cap only while the budget has room (budget.ts).
   */
  #limitBytes: number;
  #healthy = true;
  /** Lines it does not match are never queued; null: every line. */
  readonly filter: LineFilter | null;
  readonly #budget: DrainBudget;

  // sender loop
  #batch: Batch | null = null;
  /**
   * Reused by #build: the records of the batch in hand (its L10 line first
   * when it has one), kept until it is delivered or dropped so a URL change
   * can hand its lines over.
   */
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
  readonly #latency: BatchLatency;
  /** Lines ever queued, and ever gone from the queue (into a batch or dropped): a line's position. */
  #taken = 0;
  #left = 0;
  #state: DrainState = DrainState.CONNECTING;
  #failing = false;
  /** Batches dropped since the last delivered one: the wait before the next batch grows with it. */
  #dropsInRow = 0;
  #lastSuccessMs = 0;
  #lastError: DrainError | null = null;
  #nextRetryAt = 0;
  readonly #waiters = new Waiters();
  /**
   * A replay's notice while queued: its position, and what it announces. Not
   * a line of the app: dropped by an overflow, it is not counted in
   * `dropped`; what it announced goes into the next L10 line instead.
   */
  #notice: { at: number; missing: number; sinceMs: number } | null = null;

  constructor(opts: DrainOptions) {
    this.id = opts.id;
    this.token = opts.token;
    this.target = opts.target;
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.counters = opts.counters ?? noCounters();
    const h = opts.handOver;
    this.#loss = h?.loss ?? new LossLedger(this.clock);
    this.#latency = new BatchLatency(this.counters.latency ?? null, h?.latency);
    this.#capBytes = opts.queueBytes;
    this.#burstBytes = this.#limitBytes = Math.max(opts.burstBytes ?? opts.queueBytes, opts.queueBytes);
    this.filter = opts.filter ?? null;
    this.#budget = opts.budget ?? DrainBudget.unshared(opts.queueBytes);
    this.#budget.join(this);
    this.#batchBytes = opts.batchBytes ?? BATCH_BYTES;
    if (h) this.#adopt(h);
  }

  /** Take over what a replaced drain held and owed (a URL change): see handOver(). */
  #adopt(h: DrainHandOver): void {
    this.#failing = h.failing;
    if (h.failing) this.#state = DrainState.FAILING;
    this.#lastSuccessMs = h.lastSuccessMs;
    this.#lastError = h.lastError;
    const base = this.#taken;
    for (const rec of h.lines) this.take(rec);
    const [from, to] = h.replayed;
    if (to > from) this.#latency.replayed(base + from, base + to, this.#left);
    if (h.notice !== null && base + h.notice.at >= this.#left) this.#notice = { ...h.notice, at: base + h.notice.at };
    if (this.#loss.unreported > 0) this.#wakeSoon(); // the L10 line is owed even with nothing queued
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
  /** Lines done with, in queue order: delivered, dropped, or a replay's notice dropped (distributed mode's cursor). */
  get consumed(): number {
    const l = this.#loss;
    return l.delivered + l.dropped + l.notices;
  }
  /** Lines held: queue plus the batch in flight. */
  get depth(): number {
    return this.#queue.count + (this.#batch?.lines ?? 0);
  }
  /** Bytes of the lines in the queue (what counts against the cap and the budget). */
  get queuedBytes(): number {
    return this.#queue.weight;
  }
  /** The per-drain cap, bytes (what it holds beyond it is borrowed for a burst). */
  get capBytes(): number {
    return this.#capBytes;
  }

  /**
   * A line of the app (called by route() for every line): queued if the
   * drain's filter matches it (a line filtered out costs no queue space).
   */
  offer(rec: Buffer): void {
    const f = this.filter;
    if (f === null || f.matches(rec)) this.take(rec);
  }

  /**
   * Queue a line, filter already applied (or not for this line: an L10 line
   * of distributed mode). O(1), no I/O: when the queue is over its limit
   * (cap, or burst ceiling), or the node's drains are over their budget, the
   * oldest lines are dropped and counted (see budget.ts).
   */
  take(rec: Buffer): void {
    if (this.#closed) return;
    const q = this.#queue;
    q.push(rec);
    this.#taken++;
    const b = this.#budget;
    b.used += rec.length;
    if (q.weight > this.#limitBytes || b.used > b.limit) this.#overflow();
    this.#wakeSoon();
  }

  #wakeSoon(): void {
    if (!this.#scheduled && !this.#busy && this.#timer === null) {
      this.#scheduled = true;
      setImmediate(this.#wake);
    }
  }

  /** The line just offered put the queue over its limit or the node over its budget. */
  #overflow(): void {
    const q = this.#queue;
    let dropped = 0;
    // over its own limit: the oldest go (the newest line always stays)
    while (q.weight > this.#limitBytes && q.count > 1) dropped += this.#dropOldest();
    const b = this.#budget;
    if (b.used > b.limit) {
      // over the budget: a drain over its share makes the room itself; one
      // within its share keeps its line and the others give back (reclaim)
      const share = b.share;
      while (b.used > b.limit && q.weight > share && q.count > 1) dropped += this.#dropOldest();
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
    const before = q.count;
    while (b.used > b.limit && q.weight > floor && q.count > 1) dropped += this.#dropOldest();
    if (q.count === before) return;
    if (dropped > 0) this.#lose(dropped);
    this.#wakeSoon();
  }

  /** An attempt failed: held to the cap again at once, what was borrowed beyond it dropped oldest first. */
  #unhealthy(): void {
    this.#healthy = false;
    this.#limitBytes = this.#capBytes;
    const q = this.#queue;
    let dropped = 0;
    while (q.weight > this.#capBytes && q.count > 1) dropped += this.#dropOldest();
    if (dropped > 0) this.#lose(dropped);
  }

  /** Queued lines dropped: counted, and reported by the next L10 line. */
  #lose(n: number): void {
    this.counters.droppedOverflow.value += n;
    this.#loss.lose(n);
  }

  /**
   * Re-send lines of the app's history (replay, SPEC 16), after the lines
   * already queued: `notice` first (the L10-style line for what the history
   * no longer holds), then the lines the filter matches, in order. Returns the
   * lines queued (notice included). Replayed lines are not latency samples.
   */
  replay(recs: readonly Buffer[], notice: ReplayNotice | null): number {
    if (this.#closed) return 0;
    const from = this.#taken;
    if (notice !== null) {
      this.#notice = { at: from, missing: notice.missing, sinceMs: notice.sinceMs };
      this.take(notice.line);
    }
    const f = this.filter;
    for (const rec of recs) if (f === null || f.matches(rec)) this.take(rec);
    this.#latency.replayed(from, this.#taken, this.#left);
    return this.#taken - from;
  }

  /** Lines of the last replay are still held (queued or in the batch in flight): one replay at a time, replay.ts ReplayLimit. */
  get replaying(): boolean {
    return this.#latency.replayQueued(this.#left - (this.#batch?.lines ?? 0));
  }

  /** Take the oldest queued line (into a batch): it leaves the budget too. */
  #shift(): Buffer {
    this.#left++;
    const rec = this.#queue.shift();
    this.#budget.used -= rec.length;
    return rec;
  }

  /** Drop the oldest queued line; returns the lines of the app lost by it (0 for a replay's notice: see #notice). */
  #dropOldest(): number {
    const pos = this.#left++;
    this.#budget.used -= this.#queue.dropOldest().length;
    const n = this.#notice;
    if (n === null || pos !== n.at) return 1;
    this.#notice = null;
    this.#loss.noticeDropped(n.missing, n.sinceMs);
    return 0;
  }

  #build(): Batch {
    const enc = this.encoder;
    const limit = this.#batchBytes;
    const frames = this.#frames;
    frames.length = 0;
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
      const pos = this.#left;
      const rec = this.#shift();
      this.#latency.note(lines, pos, receivedOf(rec));
      frames.push(rec);
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
    return { lines, reported, msgCount, body: head.length > 0 ? wire.subarray(head.length) : wire, wire, frameId, attempts: 0 };
  }

  #pump(): void {
    if (this.#closed || this.#busy || this.#timer !== null) return;
    let b = this.#batch;
    if (b === null) {
      if (this.#queue.count === 0 && this.#loss.unreported === 0) {
        this.#waiters.settle(true);
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
      this.#latency.delivered(b.lines, now);
      this.#batch = null;
      this.#frames.length = 0;
      this.#lastSuccessMs = now;
      this.#failing = false;
      this.#dropsInRow = 0;
      if (!this.#healthy) {
        this.#healthy = true;
        this.#limitBytes = this.#burstBytes;
      }
      this.#state = DrainState.DELIVERING;
      this.onDelivered();
      this.#pump();
      return;
    }
    this.#lastError = o.kind === 'error' ? { at: now, errno: o.code, text: o.message } : { at: now, ...(o.kind === 'status' ? { status: o.status } : {}), text: describe(o) };
    if (this.#healthy) this.#unhealthy();
    const verdict = classify(o);
    let delay: number;
    if (verdict === 'drop' || b.attempts > this.opts.retries) {
      this.#dropBatch(b, verdict === 'drop' ? 'rejected' : 'retries', o);
      // an endpoint that rejects every batch (a 4xx) would otherwise get one,
      // an L10-only one when nothing else is queued, every backoff step forever
      delay = this.retryDelay(++this.#dropsInRow);
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
    const n = this.#notice;
    let lost = b.lines;
    if (n !== null && n.at >= this.#left - b.lines && n.at < this.#left) {
      // a replay's notice in the batch: not the drain's loss, what it announced is owed
      lost--;
      this.#notice = null;
      this.#loss.noticeDropped(n.missing, n.sinceMs);
    }
    (reason === 'rejected' ? this.counters.droppedRejected : this.counters.droppedRetries).value += lost;
    if (lost > 0) this.#loss.lose(lost);
    this.#batch = null;
    this.#frames.length = 0;
    this.#failing = true;
    this.log?.warn({ at: 'drain.batch_dropped', drain: this.id, kind: this.target.kind, lines: b.lines, attempts: b.attempts, reason, error: describe(o) }, 'drain batch dropped');
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
    const p = this.#waiters.wait(timeoutMs);
    if (!this.#busy && this.#timer === null && !this.#scheduled) this.#pump();
    return p;
  }

  /** What a stop now would lose: the lines held and the drops still owed an L10 line, since when (drains/stop-loss.ts). */
  get owed(): { lines: number; sinceMs: number } {
    const since = this.#loss.unreportedSinceMs;
    return { lines: this.depth + this.#loss.unreported, sinceMs: since > 0 ? since : this.clock.now() };
  }

  /** Lines lost at the last stop (drains/stop-loss.ts): counted, and reported by the next L10 line, sent even with nothing queued. */
  lostAtStop(lines: number, sinceMs: number): void {
    this.counters.droppedStop.value += lines;
    this.#loss.loseSince(lines, sinceMs);
    this.#wakeSoon();
  }

  /** Stop: release connections and forget what is held. Returns the lines left undelivered. */
  destroy(): number {
    if (this.#closed) return 0;
    const left = this.depth;
    this.#closed = true;
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#batch = null;
    this.#frames.length = 0;
    this.#budget.used -= this.#queue.weight;
    this.#queue.clear();
    this.#budget.leave(this);
    this.release();
    this.#waiters.settle(false);
    return left;
  }

  /**
   * Stop, handing what it holds and owes to the drain that replaces it (a URL
   * change; DrainOptions.handOver): the batch in hand's lines (its L10 line
   * is not sent: its count is still in the ledger, reported once by the new
   * drain), then the queue, oldest first; the loss ledger (unreported count
   * and since, delivered, dropped, dropped_1h), the latency window and the
   * health shown in status. `lines`: false when the lines come back another
   * way (distributed mode: the new feed replays them from the checkpoint).
   */
  handOver(lines = true): DrainHandOver {
    const b = this.#batch;
    const start = this.#left - (b?.lines ?? 0);
    const out: Buffer[] = [];
    if (lines) {
      if (b !== null) for (let i = b.reported > 0 ? 1 : 0; i < this.#frames.length; i++) out.push(this.#frames[i]!);
      while (this.#queue.count > 0) out.push(this.#shift());
    }
    const n = this.#notice;
    const h: DrainHandOver = {
      lines: out,
      replayed: lines ? this.#latency.replayedIn(start, this.#taken) : [0, 0],
      notice: lines && n !== null && n.at >= start ? { at: n.at - start, missing: n.missing, sinceMs: n.sinceMs } : null,
      loss: this.#loss,
      latency: this.#latency.window,
      failing: this.#failing,
      lastSuccessMs: this.#lastSuccessMs,
      lastError: this.#lastError,
    };
    this.destroy();
    return h;
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
      latencyMs: this.#latency.window.latency(this.clock.now()),
      dropped1h: this.#loss.droppedLastHour(),
    };
  }
}
