// The shipper's local buffer (SPEC 14, log-shuttle's role): the lines read
// from the child, oldest first, each with the time it was read. Bounded: while
// delivery fails, a line over the bound drops the oldest, counted for the L12
// line. While delivery works the reader is paused at the bound instead (the
// child waits, as it would on a slow pipe), so at most one chunk more is held.
// Lost is the shared count-and-since of an L12 or L13 notice.

/**
 * Lines lost for one reason since a time: what an L12 / L13 line reports.
 * Losses are kept as runs (count, time of the first loss of the run): a
 * notice seals the runs it reports, and what is lost while it is out starts
 * a run of its own, so the next notice's time is that run's first loss, not
 * the moment the previous notice was taken. With one notice out at a time
 * there are at most two runs.
 */
export class Lost {
  /** Not yet reported. */
  count = 0;
  /** Every line ever lost this way. */
  total = 0;
  /** Unreported runs, oldest first. */
  readonly #runs: { n: number; since: number }[] = [];
  /** The newest run is in a notice: the next loss starts a new run. */
  #sealed = false;

  /** When the first unreported line was lost (ms); 0 when none is. */
  get since(): number {
    return this.#runs[0]?.since ?? 0;
  }

  add(n: number, now: number): void {
    if (n <= 0) return;
    const last = this.#runs[this.#runs.length - 1];
    if (last === undefined || this.#sealed) {
      this.#runs.push({ n, since: now });
      this.#sealed = false;
    } else {
      last.n += n;
      if (now < last.since) last.since = now;
    }
    this.count += n;
    this.total += n;
  }

  /** A notice reports every line lost so far (`count` since `since`); later losses go to the next one, with their own time. */
  seal(): void {
    if (this.#runs.length > 0) this.#sealed = true;
  }

  /** The oldest n were reported (a notice was taken): the rest stay, since the first loss among them. */
  reported(n: number): void {
    this.count -= n;
    const runs = this.#runs;
    while (n > 0 && runs.length > 0) {
      const r = runs[0]!;
      if (r.n > n) {
        r.n -= n;
        break;
      }
      n -= r.n;
      runs.shift();
    }
    if (runs.length === 0) this.#sealed = false;
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
