// The node-wide drain memory budget (SPEC 16): every drain's queue is bounded
// by its own byte cap, and all queues together by this budget. Each drain is
// guaranteed a share, min(cap, budget / drains); it may hold more (up to its
// cap, and a healthy drain up to its burst ceiling: drain.ts) only while the
// total is under the budget. When the total is over:
//  - a drain over its share that adds a line drops its own oldest first;
//  - a drain within its share keeps what it adds, and at the end of the tick
//    (reclaim()) the borrowed memory is given back, oldest lines first:
//    first what drains hold beyond their cap (bursts), largest first, then
//    what they hold beyond their share, largest first.
// So a hanging drain never takes memory a healthy drain needs for its share,
// and the hot path (Drain#offer) only adds and compares integers.

/** What the budget needs from a drain (drain.ts implements it). */
export interface BudgetMember {
  /** Bytes of the lines in the drain's queue. */
  readonly queuedBytes: number;
  /** The drain's own cap, bytes; what it holds beyond it is burst borrowing. */
  readonly capBytes: number;
  /**
   * Drop the oldest queued lines (counted and reported by L10, like any
   * overflow) while the budget is over its limit and the queue holds more
   * than `floor` bytes.
   */
  giveBack(floor: number): void;
}

export interface DrainBudgetOptions {
  /** All drain queues of the node together, bytes. */
  limitBytes: number;
  /** One drain's queue, bytes. */
  perDrainBytes: number;
  /** Defers reclaim() to the end of the tick; tests may run it at once. */
  defer?: (fn: () => void) => void;
}

export class DrainBudget {
  readonly limit: number;
  readonly perDrain: number;
  /** Bytes queued by all members (Drain#offer adds, its shift/drop subtract). */
  used = 0;
  /** What every member is guaranteed: min(perDrain, limit / members). */
  share: number;
  readonly #members = new Set<BudgetMember>();
  readonly #defer: (fn: () => void) => void;
  #pending = false;
  /** Times a reclaim pass made drains give memory back. */
  reclaims = 0;
  readonly #run = (): void => {
    this.#pending = false;
    this.#reclaim();
  };

  constructor(opts: DrainBudgetOptions) {
    this.limit = opts.limitBytes;
    this.perDrain = opts.perDrainBytes;
    this.share = Math.min(this.perDrain, this.limit);
    this.#defer = opts.defer ?? setImmediate;
  }

  /** A budget of its own for a drain made outside a manager (tests, benches). */
  static unshared(perDrainBytes: number): DrainBudget {
    return new DrainBudget({ limitBytes: perDrainBytes, perDrainBytes });
  }

  get members(): number {
    return this.#members.size;
  }

  join(m: BudgetMember): void {
    this.#members.add(m);
    this.#reshare();
  }

  leave(m: BudgetMember): void {
    if (this.#members.delete(m)) this.#reshare();
  }

  #reshare(): void {
    this.share = Math.min(this.perDrain, Math.floor(this.limit / Math.max(1, this.#members.size)));
  }

  /** Over the limit: have the drains over their share give back, once this tick is over. */
  reclaim(): void {
    if (this.#pending) return;
    this.#pending = true;
    this.#defer(this.#run);
  }

  #reclaim(): void {
    if (this.used <= this.limit) return;
    // bursts first (down to the cap), then beyond the share
    const burst = this.#giveBack(true);
    const share = this.used > this.limit && this.#giveBack(false);
    if (burst || share) this.reclaims++;
  }

  /** Members over their floor give back down to it, largest queue first, while over the limit; false if none was over. */
  #giveBack(bursts: boolean): boolean {
    const share = this.share;
    const floor = (m: BudgetMember): number => (bursts ? Math.max(m.capBytes, share) : share);
    const over: BudgetMember[] = [];
    for (const m of this.#members) if (m.queuedBytes > floor(m)) over.push(m);
    if (over.length === 0) return false;
    over.sort((a, b) => b.queuedBytes - a.queuedBytes);
    for (const m of over) {
      if (this.used <= this.limit) break;
      m.giveBack(floor(m));
    }
    return true;
  }

  /** Bytes members hold beyond their own cap: borrowed for bursts (a scrape-time sum). */
  borrowed(): number {
    let n = 0;
    for (const m of this.#members) if (m.queuedBytes > m.capBytes) n += m.queuedBytes - m.capBytes;
    return n;
  }
}
