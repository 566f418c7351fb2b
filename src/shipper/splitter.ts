// Splitting a byte stream (a process's stdout, stdin of `logplane send`)
// into log messages, as the server's ingest splits them: one per LF (a
// trailing CR dropped), at most 10,000 bytes each, never cut inside a UTF-8
// sequence; bytes kept as they are (binary junk is not an error). A partial
// last line is held until more input or end().

/** Longest message per line; longer input lines become several (as the server does). */
export const MAX_MSG = 10_000;

/** End of a piece of at most MAX_MSG bytes from start, not cutting a UTF-8 sequence. */
function pieceEnd(buf: Buffer, start: number, end: number): number {
  if (end - start <= MAX_MSG) return end;
  let e = start + MAX_MSG;
  for (let k = 0; k < 3 && (buf[e]! & 0xc0) === 0x80; k++) e--;
  return e === start ? start + MAX_MSG : e;
}

/**
 * Splits a byte stream into messages: one per LF (a trailing CR is dropped),
 * and at most MAX_MSG bytes each. A partial last line is held until more input or end().
 */
export class LineSplitter {
  #carry: Buffer = Buffer.alloc(0);
  /** Pieces of the current line were already handed out (its rest may be empty). */
  #continued = false;
  readonly #onLine: (buf: Buffer, start: number, end: number) => void;
  constructor(onLine: (buf: Buffer, start: number, end: number) => void) {
    this.#onLine = onLine;
  }
  push(chunk: Buffer): void {
    const buf = this.#carry.length ? Buffer.concat([this.#carry, chunk]) : chunk;
    let s = 0;
    for (let lf = buf.indexOf(0x0a, s); lf !== -1; lf = buf.indexOf(0x0a, s)) {
      this.#emit(buf, s, lf > s && buf[lf - 1] === 0x0d ? lf - 1 : lf);
      s = lf + 1;
    }
    // A line with no LF yet: hand out whole pieces early so memory stays bounded.
    while (buf.length - s > MAX_MSG) {
      const e = pieceEnd(buf, s, buf.length);
      this.#onLine(buf, s, e);
      this.#continued = true;
      s = e;
    }
    this.#carry = Buffer.from(buf.subarray(s));
  }
  end(): void {
    const c = this.#carry;
    this.#carry = Buffer.alloc(0);
    if (c.length) this.#emit(c, 0, c.length && c[c.length - 1] === 0x0d ? c.length - 1 : c.length);
  }
  #emit(buf: Buffer, start: number, end: number): void {
    const continued = this.#continued;
    this.#continued = false;
    if (start === end && continued) return;
    let p = start;
    do {
      const e = pieceEnd(buf, p, end);
      this.#onLine(buf, p, e);
      p = e;
    } while (p < end);
  }
}

