// The one bounded queue: a FIFO that drops the oldest when it is over its
// bound and counts exactly what it dropped. A ring of references
// (power-of-two slots, doubled when full, let go when a burst is over), so a
// push and a shift are O(1) and never copy an item. Two bounds:
//   - items (maxItems): push drops the oldest itself (tail queues);
//   - weight, the sum of the items' `length` (a line's bytes; for a chunk of
//     lines, its lines): the owner reads `weight` after a push and drops the
//     oldest with dropOldest() while it is over its cap (drain queues, which
//     also answer to a node-wide budget; see drains/budget.ts).
// The weight is read from `length` rather than from a weight callback or a
// subclass: measured, either made a drain offer 20-100% slower.

/** Slots of a new queue. */
const INITIAL_SLOTS = 64;
/** An emptied queue with more slots than this goes back to INITIAL_SLOTS. */
const SHRINK_SLOTS = 4096;

export class BoundedQueue<T extends { readonly length: number } = Buffer> {
  /** Items held at most; the oldest go first (Infinity: the owner bounds the weight). */
  readonly maxItems: number;
  #buf = new Array<T | undefined>(INITIAL_SLOTS);
  #mask = INITIAL_SLOTS - 1;
  #head = 0;
  #count = 0;
  #weight = 0;
  /** Every item ever dropped (pushed out or dropOldest), never reset. */
  dropped = 0;

  constructor(maxItems = Infinity) {
    if (!(maxItems >= 1)) throw new RangeError('a queue holds at least one item');
    this.maxItems = maxItems;
  }

  /** Items held. */
  get count(): number {
    return this.#count;
  }
  /** Sum of the `length` of the items held (bytes, for a queue of lines). */
  get weight(): number {
    return this.#weight;
  }

  /** Append item. When the queue was full, the oldest item is dropped (counted) and returned. */
  push(item: T): T | undefined {
    const buf = this.#buf;
    const n = this.#count;
    if (n === this.maxItems) {
      // full: the oldest goes, in one step (n < slots here)
      const h = this.#head;
      const old = buf[h]!;
      buf[h] = undefined;
      buf[(h + n) & this.#mask] = item;
      this.#head = (h + 1) & this.#mask;
      this.#weight += item.length - old.length;
      this.dropped++;
      return old;
    }
    if (n === buf.length) {
      this.#grow();
      this.#buf[n] = item; // grown: the items start at 0
    } else {
      buf[(this.#head + n) & this.#mask] = item;
    }
    this.#count = n + 1;
    this.#weight += item.length;
    return undefined;
  }

  /** Put item back at the front (it was taken and could not be used); not bounded. */
  unshift(item: T): void {
    if (this.#count === this.#buf.length) this.#grow();
    this.#head = (this.#head - 1) & this.#mask;
    this.#buf[this.#head] = item;
    this.#count++;
    this.#weight += item.length;
  }

  /** The oldest item, left in place. The queue must not be empty. */
  peek(): T {
    return this.#buf[this.#head]!;
  }

  /** The i-th oldest item (0: the oldest), left in place; i < count. */
  at(i: number): T {
    return this.#buf[(this.#head + i) & this.#mask]!;
  }

  /** Take the oldest item (to use it). The queue must not be empty. */
  shift(): T {
    const h = this.#head;
    const item = this.#buf[h]!;
    this.#buf[h] = undefined;
    this.#head = (h + 1) & this.#mask;
    this.#weight -= item.length;
    if (--this.#count === 0 && this.#buf.length > SHRINK_SLOTS) this.#reset();
    return item;
  }

  /** Drop the oldest item: counted in `dropped`, and returned so the owner can account for it. */
  dropOldest(): T {
    this.dropped++;
    return this.shift();
  }

  /** Move up to n of the oldest items into out (cleared first). */
  shiftInto(out: T[], n: number): void {
    out.length = 0;
    while (out.length < n && this.#count > 0) out.push(this.shift());
  }

  /** Forget every item (not counted as dropped: the owner is going away). */
  clear(): void {
    this.#reset();
    this.#weight = 0;
  }

  #reset(): void {
    this.#buf = new Array<T | undefined>(INITIAL_SLOTS);
    this.#mask = INITIAL_SLOTS - 1;
    this.#head = 0;
    this.#count = 0;
  }

  #grow(): void {
    const old = this.#buf;
    const n = old.length;
    const buf = new Array<T | undefined>(n * 2);
    for (let i = 0; i < n; i++) buf[i] = old[(this.#head + i) & this.#mask];
    this.#buf = buf;
    this.#mask = n * 2 - 1;
    this.#head = 0;
  }
}
