// The shipper's local buffer (SPEC 14, log-shuttle's role): the lines read
// from the child, oldest first, each with the time it was read. Bounded: while
// delivery fails, a line over the bound drops the oldest, counted for the L12
// line. While delivery works the reader is paused at the bound instead (the
// child waits, as it would on a slow pipe), so at most one chunk more is held.
// Lost is the shared count-and-since of an L12 or L13 notice.

/** Lines lost for one reason since a time: what an L12 / L13 line reports. */
export class Lost {
  /** Not yet reported. */
  count = 0;
  /** When the first of them was lost (ms). */
  since = 0;
  /** Every line ever lost this way. */
  total = 0;

  add(n: number, now: number): void {
    if (n <= 0) return;
    if (this.count === 0) this.since = now;
    this.count += n;
    this.total += n;
  }

  /** n of them were reported: the rest stay for the next notice. */
  reported(n: number, now: number): void {
    this.count -= n;
    if (this.count > 0) this.since = now;
  }
}

export class LineBuffer {
  readonly capacity: number;
  readonly #lines: Buffer[] = [];
  readonly #times: number[] = [];
  #head = 0;
  #bytes = 0;
  /** Lines dropped by overflow (L12). */
  readonly overflow = new Lost();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('buffer capacity must be at least 1 line');
    this.capacity = capacity;
  }

  get count(): number {
    return this.#lines.length - this.#head;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** Add a line read at ms. With mayDrop, a full buffer drops its oldest line first (counted). */
  push(line: Buffer, ms: number, mayDrop: boolean): void {
    if (mayDrop && this.count >= this.capacity) this.#dropOldest(this.count - this.capacity + 1, ms);
    this.#lines.push(line);
    this.#times.push(ms);
    this.#bytes += line.length;
  }

  /** Drop the oldest lines over the capacity (delivery just failed while more was held). */
  trim(now: number): void {
    if (this.count > this.capacity) this.#dropOldest(this.count - this.capacity, now);
  }

  /** The oldest line and its time, without taking it. */
  peek(i: number): Buffer {
    return this.#lines[this.#head + i]!;
  }
  timeAt(i: number): number {
    return this.#times[this.#head + i]!;
  }

  /** Remove the oldest n lines (they went into a batch). */
  shift(n: number): void {
    const end = this.#head + n;
    for (let i = this.#head; i < end; i++) this.#bytes -= this.#lines[i]!.length;
    this.#head = end;
    this.#compact();
  }

  #dropOldest(n: number, now: number): void {
    this.shift(n);
    this.overflow.add(n, now);
  }

  #compact(): void {
    if (this.#head === this.#lines.length) {
      this.#lines.length = 0;
      this.#times.length = 0;
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > this.#lines.length) {
      this.#lines.splice(0, this.#head);
      this.#times.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
