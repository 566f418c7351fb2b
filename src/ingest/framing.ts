// RFC 6587 framing as an integer-state machine that accepts input split at any
// byte. Octet-counted frames (`LEN SP MSG`, §3.4.1) and, when allowed, frames
// that start with `<` and end at LF (§3.4.2). Frames wholly inside one chunk
// are handed out as views (no copy); only frames split across chunks are
// assembled in a carry buffer.
import * as chars from '../basics/chars.js';

// local bindings: the byte loops read them as constants
const { CR, DIGIT_0, DIGIT_1, DIGIT_9, LF, LT, SP } = chars;

export const FrameError = {
  NONE: 0,
  BAD_START: 1,
  LEADING_ZERO: 2,
  BAD_LENGTH: 3,
  TOO_LARGE: 4,
  TRUNCATED: 5,
} as const;
export type FrameError = (typeof FrameError)[keyof typeof FrameError];

export const frameErrorText: Record<FrameError, string> = {
  0: 'ok',
  1: 'expected a decimal length at the start of a frame',
  2: 'frame length has a leading zero',
  3: 'frame length not followed by a space',
  4: 'frame larger than 64 KiB',
  5: 'truncated frame at end of input',
};

/** Largest frame accepted, bytes (SPEC 3.3). */
export const MAX_FRAME = 64 * 1024;

export interface OctetFramerOptions {
  /** A frame starting with `<` runs to the next LF (TCP/TLS syslog). */
  allowLfFrames?: boolean;
  /** Skip CR, LF and SP between frames (TCP/TLS senders that add a newline). */
  skipSeparators?: boolean;
  maxFrame?: number;
}

export type FrameHandler = (buf: Buffer, start: number, end: number) => void;

const S_START = 0;
const S_LEN = 1;
const S_BODY = 2;
const S_LINE = 3;
const S_DEAD = 4;

export class OctetFramer {
  readonly #onFrame: FrameHandler;
  readonly #allowLf: boolean;
  readonly #skipSep: boolean;
  readonly #max: number;
  #state = S_START;
  #len = 0;
  /** Assembly buffer for an octet frame split across chunks. */
  #carry: Buffer | null = null;
  #carried = 0;
  /** Pieces of an LF frame split across chunks. */
  #linePieces: Buffer[] = [];
  #lineBytes = 0;
  /** Frames handed out so far. */
  frames = 0;
  error: FrameError = FrameError.NONE;

  constructor(onFrame: FrameHandler, opts: OctetFramerOptions = {}) {
    this.#onFrame = onFrame;
    this.#allowLf = opts.allowLfFrames ?? false;
    this.#skipSep = opts.skipSeparators ?? false;
    this.#max = opts.maxFrame ?? MAX_FRAME;
  }

  /** True between frames (nothing partial held). */
  get idle(): boolean {
    return this.#state === S_START;
  }

  /** Feed one chunk. Returns the error (NONE when fine); after an error the framer stays dead. */
  push(chunk: Buffer): FrameError {
    if (this.#state === S_DEAD) return this.error;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.#state) {
        case S_START: {
          const c = chunk[i]!;
          if (c >= DIGIT_1 && c <= DIGIT_9) {
            // The usual case, a whole frame in this chunk, handled here in one
            // go; anything else (length split, frame split, bad byte after
            // the digits) goes on in S_LEN from the first byte not a digit.
            const max = this.#max;
            let len = c - DIGIT_0;
            if (len > max) return this.#fail(FrameError.TOO_LARGE);
            let j = i + 1;
            for (; j < n; j++) {
              const d = chunk[j]!;
              if (d < DIGIT_0 || d > DIGIT_9) break;
              len = len * 10 + (d - DIGIT_0);
              if (len > max) return this.#fail(FrameError.TOO_LARGE);
            }
            if (j < n && chunk[j] === SP && n - (j + 1) >= len) {
              const start = j + 1;
              this.frames++;
              this.#onFrame(chunk, start, start + len);
              i = start + len;
              continue;
            }
            this.#len = len;
            this.#state = S_LEN;
            i = j;
          } else if (c === LT && this.#allowLf) {
            this.#state = S_LINE;
            // i stays: the `<` is part of the frame
            const lf = chunk.indexOf(LF, i);
            if (lf !== -1 && lf - i <= this.#max) {
              this.frames++;
              this.#onFrame(chunk, i, lf);
              this.#state = S_START;
              i = lf + 1;
            } else {
              this.#linePieces = [];
              this.#lineBytes = 0;
              i = this.#takeLine(chunk, i);
            }
          } else if (this.#skipSep && (c === LF || c === CR || c === SP)) {
            i++;
          } else {
            return this.#fail(c === DIGIT_0 ? FrameError.LEADING_ZERO : FrameError.BAD_START);
          }
          break;
        }
        case S_LEN: {
          const c = chunk[i]!;
          if (c >= DIGIT_0 && c <= DIGIT_9) {
            this.#len = this.#len * 10 + (c - DIGIT_0);
            if (this.#len > this.#max) return this.#fail(FrameError.TOO_LARGE);
            i++;
          } else if (c === SP) {
            i++;
            if (n - i >= this.#len) {
              const end = i + this.#len;
              this.frames++;
              this.#state = S_START;
              this.#onFrame(chunk, i, end);
              i = end;
            } else {
              this.#carry = Buffer.allocUnsafe(this.#len);
              this.#carried = 0;
              this.#state = S_BODY;
            }
          } else {
            return this.#fail(FrameError.BAD_LENGTH);
          }
          break;
        }
        case S_BODY: {
          const carry = this.#carry!;
          const want = this.#len - this.#carried;
          const take = Math.min(want, n - i);
          chunk.copy(carry, this.#carried, i, i + take);
          this.#carried += take;
          i += take;
          if (this.#carried === this.#len) {
            this.#carry = null;
            this.#state = S_START;
            this.frames++;
            this.#onFrame(carry, 0, carry.length);
          }
          break;
        }
        case S_LINE:
          i = this.#takeLine(chunk, i);
          break;
        default:
          return this.error;
      }
      if (this.#state === S_DEAD) return this.error;
    }
    return FrameError.NONE;
  }

  /** End of input. A partial octet frame is an error; a pending LF frame is handed out. */
  end(): FrameError {
    if (this.#state === S_DEAD) return this.error;
    if (this.#state === S_LINE) {
      const line = Buffer.concat(this.#linePieces, this.#lineBytes);
      this.#linePieces = [];
      this.#state = S_START;
      this.frames++;
      this.#onFrame(line, 0, line.length);
      return FrameError.NONE;
    }
    if (this.#state !== S_START) return this.#fail(FrameError.TRUNCATED);
    return FrameError.NONE;
  }

  /** Collect an LF frame piece by piece; returns the next index. */
  #takeLine(chunk: Buffer, i: number): number {
    const lf = chunk.indexOf(LF, i);
    const stop = lf === -1 ? chunk.length : lf;
    this.#lineBytes += stop - i;
    if (this.#lineBytes > this.#max) {
      this.#fail(FrameError.TOO_LARGE);
      return chunk.length;
    }
    this.#linePieces.push(Buffer.from(chunk.subarray(i, stop)));
    if (lf === -1) return chunk.length;
    const line = this.#linePieces.length === 1 ? this.#linePieces[0]! : Buffer.concat(this.#linePieces, this.#lineBytes);
    this.#linePieces = [];
    this.#state = S_START;
    this.frames++;
    this.#onFrame(line, 0, line.length);
    return lf + 1;
  }

  #fail(e: FrameError): FrameError {
    this.error = e;
    this.#state = S_DEAD;
    this.#carry = null;
    this.#linePieces = [];
    return e;
  }
}
