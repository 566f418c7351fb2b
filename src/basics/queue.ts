// The one bounded queue: a FIFO of cooked lines that drops the oldest when it
// is over its bound and counts exactly what it dropped. A ring of references
// (power-of-two slots, doubled when full, let go when a burst is over), so a
// push and a shift are O(1) and never copy a line. Two bounds:
//   - lines (maxLines): push drops the oldest itself (tail queues);
//   - bytes: the owner reads `bytes` after a push and drops the oldest with
//     dropOldest() while it is over its cap (drain queues, which also answer
//     to a node-wide budget; see drains/budget.ts).

/** Slots of a new queue. */
const INITIAL_SLOTS = 64;
/** An emptied queue with more slots than this goes back to INITIAL_SLOTS. */
const SHRINK_SLOTS = 4096;

export class LineQueue {
  /** Lines held at most; the oldest go first (Infinity: bounded by the owner, by bytes). */
  readonly maxLines: number;
  #buf = new Array<Buffer | undefined>(INITIAL_SLOTS);
  #mask = INITIAL_SLOTS - 1;
  #head = 0;
  #count = 0;
  #bytes = 0;
  /** Every line ever dropped (pushed out or dropOldest), never reset. */
  dropped = 0;

  constructor(maxLines = Infinity) {
    if (!(maxLines >= 1)) throw new RangeError('a queue holds at least one line');
    this.maxLines = maxLines;
  }

  /** Lines held. */
  get count(): number {
    return this.#count;
  }
  /** Bytes of the lines held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Append rec. When the queue was full, the oldest line is dropped (counted) and returned. */
  push(rec: Buffer): Buffer | undefined {
    let out: Buffer | undefined;
    if (this.#count === this.maxLines) out = this.dropOldest();
    else if (this.#count === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#count) & this.#mask] = rec;
    this.#count++;
    this.#bytes += rec.length;
    return out;
  }

  /** The oldest line, left in place. The queue must not be empty. */
  peek(): Buffer {
    return this.#buf[this.#head]!;
  }

  /** Take the oldest line (to deliver it). The queue must not be empty. */
  shift(): Buffer {
    const h = this.#head;
    const rec = this.#buf[h]!;
    this.#buf[h] = undefined;
    this.#head = (h + 1) & this.#mask;
    this.#bytes -= rec.length;
    if (--this.#count === 0 && this.#buf.length > SHRINK_SLOTS) this.#reset();
    return rec;
  }

  /** Drop the oldest line: counted in `dropped`, and returned so the owner can account for it. */
  dropOldest(): Buffer {
    this.dropped++;
    return this.shift();
  }

  /** Move up to n of the oldest lines into out (cleared first). */
  shiftInto(out: Buffer[], n: number): void {
    out.length = 0;
    while (out.length < n && this.#count > 0) out.push(this.shift());
  }

  /** Forget every line (not counted as dropped: the owner is going away). */
  clear(): void {
    this.#reset();
    this.#bytes = 0;
  }

  #reset(): void {
    this.#buf = new Array<Buffer | undefined>(INITIAL_SLOTS);
    this.#mask = INITIAL_SLOTS - 1;
    this.#head = 0;
    this.#count = 0;
  }

  #grow(): void {
    const old = this.#buf;
    const n = old.length;
    const buf = new Array<Buffer | undefined>(n * 2);
    for (let i = 0; i < n; i++) buf[i] = old[(this.#head + i) & this.#mask];
    this.#buf = buf;
    this.#mask = n * 2 - 1;
    this.#head = 0;
  }
}
