// Live tail fan-out. One TailHub per app with readers is a LineSink in
// app.sinks: route() offers every line synchronously, the hub collects them
// and once per tick (one setImmediate) hands the batch to each Tail (tail.ts).
// In distributed mode the hub releases lines in seq order once settled.
import type { App, LineSink } from '../apps.js';
import { seqOf } from '../line.js';
import type { Tail } from './tail.js';

function bySeq(a: Buffer, b: Buffer): number {
  return seqOf(a) - seqOf(b);
}

/**
 * Distributed mode: a hub releases lines in seq order once they are
 * settled, i.e. once every node's lines up to that seq have had time to arrive.
 */
export interface HubOrder {
  /** The highest seq settled now. */
  bound(): number;
  /** How long a line waits for the lines of other nodes, ms. */
  readonly windowMs: number;
  /**
   * The highest seq under `origin` that may be a line of this node's in the
   * app's shared history (Infinity: any): a tail takes a line of another node
   * at or below the highest it sent of that origin for a duplicate only up to
   * it (an index this node lost may be another node's now).
   */
  ownCeiling?(appId: string, origin: number): number;
}

/** The per-app fan-out point for live tails. */
export class TailHub implements LineSink {
  readonly app: App;
  readonly #tails: Tail[] = [];
  #pending: Buffer[] = [];
  #spare: Buffer[] = [];
  #scheduled = false;
  /** Distributed mode: release in seq order once settled; lines not yet settled wait in #held (sorted). */
  readonly #order: HubOrder | null;
  #held: Buffer[] = [];
  /** Distributed mode: the bound of the last release (every line up to it that had arrived was handed over). */
  #releasedTo = 0;
  #timer: NodeJS.Timeout | null = null;
  /** Called when the last tail leaves (the service forgets the hub). */
  onEmpty: ((hub: TailHub) => void) | null = null;
  onError: ((err: Error, tail: Tail) => void) | null = null;

  constructor(app: App, order: HubOrder | null = null) {
    this.app = app;
    this.#order = order;
  }

  get size(): number {
    return this.#tails.length;
  }
  /**
   * Distributed mode: n lines of other nodes will never arrive (trimmed from
   * the shared history before this node could read them, or never written
   * there): every tail gets a gap. ordinal: the highest ordinal of the
   * shared history they had (a starting tail's catch-up read may have counted them).
   * before: a loss notice's lines lie below this seq (its node's next line; Infinity: not known).
   */
  reportLoss(n: number, since: number, ordinal: number, before = Infinity): void {
    for (const t of this.#tails) t.remoteLoss(n, since, ordinal, before);
  }

  /**
   * Distributed mode: the app's stream was read from its oldest record held,
   * nothing known of what was trimmed before (the follower never had a
   * batch); lines up to trimmedSeq were trimmed unread (Tail.unreadTrimmed).
   */
  reportUnread(trimmedSeq: number): void {
    for (const t of this.#tails) t.unreadTrimmed(trimmedSeq);
  }

  /** The highest seq released now (Infinity without ordering). */
  bound(): number {
    return this.#order ? this.#order.bound() : Infinity;
  }
  /**
   * Every line offered so far with a seq up to this one has been handed to
   * the tails (a line of another node arriving later would be late).
   * Infinity without ordering.
   */
  settledThrough(): number {
    const order = this.#order;
    if (order === null) return Infinity;
    let low = order.bound();
    if (this.#held.length > 0) low = Math.min(low, seqOf(this.#held[0]!) - 1);
    for (const r of this.#pending) low = Math.min(low, seqOf(r) - 1);
    return Math.max(low, this.#releasedTo);
  }
  /** How long to wait before asking settledThrough() again, ms. */
  get settleMs(): number {
    return this.#order ? Math.max(1, this.#order.windowMs >> 2) : 1;
  }
  /** HubOrder.ownCeiling for this app (Infinity without ordering). */
  ownCeiling(origin: number): number {
    return this.#order?.ownCeiling?.(this.app.id, origin) ?? Infinity;
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
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      this.#held = [];
      this.onEmpty?.(this);
    }
  }

  /** Distributed mode: the settled lines, in seq order; the rest wait (re-checked every quarter window). */
  #release(): Buffer[] {
    const order = this.#order!;
    const all = this.#held.length > 0 ? this.#held.concat(this.#pending) : this.#pending.slice();
    this.#pending.length = 0;
    let sorted = true;
    for (let i = 1; i < all.length && sorted; i++) if (seqOf(all[i]!) < seqOf(all[i - 1]!)) sorted = false;
    if (!sorted) all.sort(bySeq);
    const bound = order.bound();
    if (bound > this.#releasedTo) this.#releasedTo = bound;
    let k = all.length;
    while (k > 0 && seqOf(all[k - 1]!) > bound) k--;
    this.#held = k === all.length ? [] : all.slice(k);
    if (k < all.length) all.length = k;
    if (this.#held.length > 0 && this.#timer === null && this.#tails.length > 0) {
      this.#timer = setTimeout(this.#onTimer, Math.max(1, order.windowMs >> 2)).unref();
    }
    return all;
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    if (!this.#scheduled) this.#flush();
  };

  readonly #flush = (): void => {
    this.#scheduled = false;
    let batch: Buffer[];
    if (this.#order !== null) {
      batch = this.#release();
    } else {
      batch = this.#pending;
      this.#pending = this.#spare;
      this.#spare = batch;
    }
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
