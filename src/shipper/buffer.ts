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
  /** Bytes of lines held at most (long lines): reached first, it bounds the buffer as capacity does. */
  readonly maxBytes: number;
  readonly #lines: Buffer[] = [];
  readonly #times: number[] = [];
  #head = 0;
  #bytes = 0;
  /** Lines dropped by overflow (L12). */
  readonly overflow = new Lost();

  constructor(capacity: number, maxBytes = Infinity) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('buffer capacity must be at least 1 line');
    this.capacity = capacity;
    this.maxBytes = maxBytes;
  }

  get count(): number {
    return this.#lines.length - this.#head;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get full(): boolean {
    return this.count >= this.capacity || this.#bytes >= this.maxBytes;
  }

  /** Add a line read at ms. With mayDrop, a full buffer drops its oldest lines first (counted). */
  push(line: Buffer, ms: number, mayDrop: boolean): void {
    this.#lines.push(line);
    this.#times.push(ms);
    this.#bytes += line.length;
    if (mayDrop) this.trim(ms);
  }

  /** Drop the oldest lines over the bounds (delivery failed while more was held); the newest line always stays. */
  trim(now: number): void {
    let n = Math.max(0, this.count - this.capacity);
    let bytes = this.#bytes;
    for (let i = 0; i < n; i++) bytes -= this.peek(i).length;
    while (bytes > this.maxBytes && n < this.count - 1) bytes -= this.peek(n++).length;
    if (n > 0) this.#dropOldest(n, now);
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
