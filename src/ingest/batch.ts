// The batch an ingest worker sends to the main thread: cooked lines as
// [u32 app slot][u32 transport << 26 | source class << 24 | len][record]...
// in a transferable buffer (pool.ts #routeBatch reads it; the class is the
// console's rate counter's, buffer/rates.ts, worked out once per token here;
// the transport, worker-protocol.ts T or T_HTTP, labels the lines the rate
// limit drops where they are routed). Lines are
// written through a DataView of the buffer, by 32-bit words (line.ts
// cookIntoView).
import { cookIntoView, partsLength, type LineParts } from '../line.js';
import type { WholeLineWriter } from './cook.js';

/** Where the lines being written go: the app's slot on the main thread, and the token's name (the source). */
export interface BatchTarget {
  readonly slot: number;
  readonly nameBuf: Buffer;
  /** sourceClassOfName(nameBuf), shifted into the length word's top byte. */
  readonly classBits: number;
}

/** The length word's top byte holds the source class (2 bits) and the transport (2 bits); a record is far shorter than 2^24 bytes (line.ts MAX_MSG). */
export const LEN_MASK = 0xffffff;
export const CLASS_SHIFT = 24;
export const CLASS_MASK = 0x3;
export const TRANSPORT_SHIFT = 26;
export const TRANSPORT_MASK = 0x3;

/**
 * Writes cooked lines into a batch buffer. A stream batch is handed to
 * onFull when the next line does not fit (which sends it and calls reset); an
 * HTTP batch grows instead (a request is stored whole or not at all).
 */
export class BatchWriter implements WholeLineWriter {
  buf: Buffer;
  /** A view of buf for word writes; replaced with buf. */
  view: DataView;
  pos = 0;
  token: BatchTarget | null = null;
  /** The transport of the lines being written, shifted by TRANSPORT_SHIFT. */
  transportBits = 0;
  readonly #grow: boolean;
  readonly #newBuffer: () => Buffer;
  readonly #onFull: () => void;

  constructor(grow: boolean, newBuffer: () => Buffer, onFull: () => void) {
    this.#grow = grow;
    this.#newBuffer = newBuffer;
    this.#onFull = onFull;
    this.buf = newBuffer();
    this.view = viewOf(this.buf);
  }

  /** Start on buf (an empty buffer of the caller's). */
  use(buf: Buffer): void {
    this.buf = buf;
    this.view = viewOf(buf);
    this.pos = 0;
  }

  /** Start on a fresh buffer (the old one was sent). */
  reset(): void {
    this.buf = this.#newBuffer();
    this.view = viewOf(this.buf);
    this.pos = 0;
  }

  line(p: LineParts): void {
    this.#write(p, false);
  }

  wholeLine(p: LineParts): boolean {
    return this.#write(p, true);
  }

  #write(parts: LineParts, wholeOnly: boolean): boolean {
    const t = this.token!;
    const len = partsLength(parts, t.nameBuf);
    if (this.pos + 8 + len > this.buf.length) {
      if (!this.#grow) this.#onFull();
      else {
        const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + 8 + len));
        this.buf.copy(bigger, 0, 0, this.pos);
        this.buf = bigger;
        this.view = viewOf(bigger);
      }
    }
    const v = this.view;
    const p = this.pos;
    const end = cookIntoView(this.buf, v, p + 8, parts, t.nameBuf, wholeOnly);
    if (end === -1) return false; // an LF in it: nothing kept (pos unchanged), cookMessage splits it
    v.setInt32(p, t.slot, true);
    v.setInt32(p + 4, len | t.classBits | this.transportBits, true);
    this.pos = end;
    return true;
  }
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.length);
}
