// Wire encoders for the tail transports (SPEC 5.2, 5.3, 5.4). Each batch is
// written byte by byte into one reused scratch buffer and copied out once
// (the socket may hold the result, so the scratch is never handed out).
// No strings, regexes or JSON.stringify per line.
import { copyBytes } from '../basics/bytes.js';
import * as chars from '../basics/chars.js';
import { HEADER, dynoEndOf, msgStartOf, priOf, rfc3339, seqOf, sourceEndOf, tsEndOf } from '../line.js';

// local bindings: the byte loops read them as constants
const { BACKSLASH, COLON, CR, DIGIT_0, DQUOTE, HTAB, LBRACKET, LF, RBRACKET, SP } = chars;

/** A loss the client is told about: `dropped` lines with seq in [from, to], since `since` (ms). */
export interface Gap {
  dropped: number;
  since: number;
  from: number;
  to: number;
  /**
   * `dropped` is only what is known to be lost (0: nothing known), more may
   * be: distributed mode, the other nodes' lines could not be read
   * (docs/tail.md). Frame field `lower_bound`.
   */
  lowerBound?: boolean;
}

const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Byte classes: 0 copy as is, 1 escape (JSON) / split (SSE), 2 start of a non-ASCII sequence. */
const PASS = 0;
const SPECIAL = 1;
const NON_ASCII = 2;

function table(special: (b: number) => boolean, checkUtf8: boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) {
    if (b < 0x80) t[b] = special(b) ? SPECIAL : PASS;
    else t[b] = checkUtf8 ? NON_ASCII : PASS;
  }
  return t;
}
/** JSON string content: escape controls, quote, backslash; repair invalid UTF-8. */
const JSON_CLASS = table((b) => b < SP || b === DQUOTE || b === BACKSLASH, true);
/** WebSocket text frames must be valid UTF-8: repair invalid sequences, nothing else. */
const UTF8_CLASS = table(() => false, true);
/** SSE data: CR and LF end a field; the rest goes as sent (the client decodes). */
const SSE_CLASS = table((b) => b === CR || b === LF, false);

/**
 * Length of the valid UTF-8 sequence starting at i (2..4), or minus the length
 * of the invalid maximal subpart to replace with one U+FFFD (as WHATWG decoders do).
 */
function utf8Seq(src: Buffer, i: number, end: number): number {
  const b0 = src[i]!;
  if (b0 < 0xc2 || b0 > 0xf4) return -1;
  if (b0 < 0xe0) return i + 1 < end && (src[i + 1]! & 0xc0) === 0x80 ? 2 : -1;
  let lo = 0x80;
  let hi = 0xbf;
  if (b0 === 0xe0) lo = 0xa0;
  else if (b0 === 0xed) hi = 0x9f;
  else if (b0 === 0xf0) lo = 0x90;
  else if (b0 === 0xf4) hi = 0x8f;
  if (i + 1 >= end) return -1;
  const b1 = src[i + 1]!;
  if (b1 < lo || b1 > hi) return -1;
  if (i + 2 >= end || (src[i + 2]! & 0xc0) !== 0x80) return -2;
  if (b0 < 0xf0) return 3;
  if (i + 3 >= end || (src[i + 3]! & 0xc0) !== 0x80) return -3;
  return 4;
}

/** A growable byte buffer, reused across batches. */
export class ByteWriter {
  buf: Buffer;
  p = 0;
  readonly #initial: number;

  constructor(initial = 64 * 1024) {
    this.#initial = initial;
    this.buf = Buffer.allocUnsafe(initial);
  }

  ensure(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.p + n));
    this.buf.copy(next, 0, 0, this.p);
    this.buf = next;
  }

  raw(src: Buffer, start = 0, end = src.length): void {
    this.ensure(end - start);
    this.p += copyBytes(src, start, end, this.buf, this.p);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.p++] = b;
  }

  /** Decimal digits of a non-negative integer (seq may pass 2^32). */
  uint(n: number): void {
    this.ensure(16);
    const buf = this.buf;
    if (n < 10) {
      buf[this.p++] = DIGIT_0 + n;
      return;
    }
    let d = 0;
    for (let m = n; m >= 1; m = Math.floor(m / 10)) d++;
    let q = this.p + d;
    this.p = q;
    for (let m = n; m >= 1; m = Math.floor(m / 10)) buf[--q] = DIGIT_0 + (m % 10);
  }

  /**
   * Copy src[start, end) through a byte-class table: SPECIAL bytes are
   * JSON-escaped (json) or become `\ndata: ` (SSE); with NON_ASCII classes,
   * invalid UTF-8 becomes U+FFFD.
   */
  #through(src: Buffer, start: number, end: number, cls: Uint8Array, mode: 0 | 1): void {
    // worst case: every byte becomes \u00XX (6) or `\ndata: ` (7)
    this.ensure((end - start) * 7);
    const out = this.buf;
    let p = this.p;
    let run = start;
    let i = start;
    while (i < end) {
      const k = cls[src[i]!]!;
      if (k === PASS) {
        i++;
        continue;
      }
      if (k === NON_ASCII) {
        const n = utf8Seq(src, i, end);
        if (n > 0) {
          i += n;
          continue;
        }
        p += copyBytes(src, run, i, out, p);
        out[p++] = 0xef;
        out[p++] = 0xbf;
        out[p++] = 0xbd;
        i -= n;
        run = i;
        continue;
      }
      p += copyBytes(src, run, i, out, p);
      const b = src[i]!;
      if (mode === 0) {
        out[p++] = BACKSLASH;
        switch (b) {
          case DQUOTE: out[p++] = DQUOTE; break;
          case BACKSLASH: out[p++] = BACKSLASH; break;
          case LF: out[p++] = 0x6e; break; // n
          case CR: out[p++] = 0x72; break; // r
          case HTAB: out[p++] = 0x74; break; // t
          case 0x08: out[p++] = 0x62; break; // b
          case 0x0c: out[p++] = 0x66; break; // f
          default:
            out[p++] = 0x75; // u
            out[p++] = DIGIT_0;
            out[p++] = DIGIT_0;
            out[p++] = HEX[b >> 4]!;
            out[p++] = HEX[b & 15]!;
        }
        i++;
      } else {
        // SSE: a CR, LF or CRLF inside a line continues the event on another data field
        p += DATA_CONT.copy(out, p);
        i += b === CR && i + 1 < end && src[i + 1] === LF ? 2 : 1;
      }
      run = i;
    }
    this.p = p + copyBytes(src, run, end, out, p);
  }

  /** `"..."`: a JSON string from bytes (escaped, invalid UTF-8 repaired). */
  jsonString(src: Buffer, start: number, end: number): void {
    this.byte(DQUOTE);
    this.#through(src, start, end, JSON_CLASS, 0);
    this.byte(DQUOTE);
  }

  /** Bytes as valid UTF-8 (invalid sequences become U+FFFD). */
  utf8(src: Buffer, start: number, end: number): void {
    this.#through(src, start, end, UTF8_CLASS, 0);
  }

  /** Bytes for an SSE data field (embedded CR/LF continue on a new data field). */
  sseData(src: Buffer, start: number, end: number): void {
    this.#through(src, start, end, SSE_CLASS, 1);
  }

  /** An exact-size copy of what was written; the writer is reset. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.p);
    this.buf.copy(out, 0, 0, this.p);
    this.p = 0;
    // do not keep a huge scratch after a big history
    if (this.buf.length > 4 * 1024 * 1024) this.buf = Buffer.allocUnsafe(this.#initial);
    return out;
  }

  reset(): void {
    this.p = 0;
  }
}

const DATA_CONT = Buffer.from('\ndata: ', 'latin1');
const A = (s: string): Buffer => Buffer.from(s, 'latin1');

const J_SEQ = A('{"seq":');
const J_TS = A(',"ts":');
const J_SOURCE = A(',"source":');
const J_DYNO = A(',"dyno":');
const J_PRI = A(',"pri":');
const J_MSG = A(',"msg":');
const J_LINES_OPEN = A('{"type":"lines","lines":[');
const J_LINES_CLOSE = A(']}');

/** `{"seq":n,"ts":"...","source":"app","dyno":"web.1","pri":190,"msg":"..."}` */
export function writeJsonLine(w: ByteWriter, rec: Buffer): void {
  const tsEnd = tsEndOf(rec);
  const srcEnd = sourceEndOf(rec);
  const dynoEnd = dynoEndOf(rec);
  w.raw(J_SEQ);
  w.uint(seqOf(rec));
  w.raw(J_TS);
  w.jsonString(rec, HEADER, tsEnd);
  w.raw(J_SOURCE);
  w.jsonString(rec, tsEnd, srcEnd);
  w.raw(J_DYNO);
  w.jsonString(rec, srcEnd, dynoEnd);
  w.raw(J_PRI);
  w.uint(priOf(rec));
  w.raw(J_MSG);
  w.jsonString(rec, dynoEnd, rec.length);
  w.byte(0x7d);
}

/** `{"type":"lines","lines":[...]}` for recs[from, to). */
export function writeLinesFrame(w: ByteWriter, recs: readonly Buffer[], from: number, to: number): void {
  w.raw(J_LINES_OPEN);
  for (let i = from; i < to; i++) {
    if (i !== from) w.byte(0x2c);
    writeJsonLine(w, recs[i]!);
  }
  w.raw(J_LINES_CLOSE);
}

/** Text line `TS source[dyno]: msg`, raw bytes (chunked text transport); no newline. */
export function writeTextLine(w: ByteWriter, rec: Buffer): void {
  const tsEnd = tsEndOf(rec);
  const srcEnd = sourceEndOf(rec);
  const dynoEnd = dynoEndOf(rec);
  w.ensure(rec.length - HEADER + 5);
  const out = w.buf;
  let p = w.p;
  p += copyBytes(rec, HEADER, tsEnd, out, p);
  out[p++] = SP;
  p += copyBytes(rec, tsEnd, srcEnd, out, p);
  out[p++] = LBRACKET;
  p += copyBytes(rec, srcEnd, dynoEnd, out, p);
  out[p++] = RBRACKET;
  out[p++] = COLON;
  out[p++] = SP;
  w.p = p + copyBytes(rec, msgStartOf(rec), rec.length, out, p);
}

/** The same text line, as valid UTF-8 (WebSocket text frames). */
export function writeTextLineUtf8(w: ByteWriter, rec: Buffer): void {
  const tsEnd = tsEndOf(rec);
  const srcEnd = sourceEndOf(rec);
  const dynoEnd = dynoEndOf(rec);
  w.utf8(rec, HEADER, tsEnd);
  w.byte(SP);
  w.utf8(rec, tsEnd, srcEnd);
  w.byte(LBRACKET);
  w.utf8(rec, srcEnd, dynoEnd);
  w.raw(BRACKET_COLON_SP);
  w.utf8(rec, dynoEnd, rec.length);
}
const BRACKET_COLON_SP = A(']: ');

const SSE_ID = A('id: ');
const SSE_DATA = A('\ndata: ');
const SSE_END = A('\n\n');

/** `id: <seq>\ndata: <text line>\n\n` */
export function writeSseEvent(w: ByteWriter, rec: Buffer): void {
  const tsEnd = tsEndOf(rec);
  const srcEnd = sourceEndOf(rec);
  const dynoEnd = dynoEndOf(rec);
  w.raw(SSE_ID);
  w.uint(seqOf(rec));
  w.raw(SSE_DATA);
  w.sseData(rec, HEADER, tsEnd);
  w.byte(SP);
  w.sseData(rec, tsEnd, srcEnd);
  w.byte(LBRACKET);
  w.sseData(rec, srcEnd, dynoEnd);
  w.raw(BRACKET_COLON_SP);
  w.sseData(rec, dynoEnd, rec.length);
  w.raw(SSE_END);
}

/** A gap's count in words: `N`, or for a lower bound `at least N` (`an unknown number of` for 0); the L11 line's and `logplane logs`' gap line's. */
export function droppedWords(dropped: number, lowerBound: boolean): string {
  return !lowerBound ? `${dropped}` : dropped > 0 ? `at least ${dropped}` : 'an unknown number of';
}

/**
 * The L11 line of the text and SSE transports (SPEC 5.4), without newline:
 * `<now> heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped <N> messages since <T>.`
 * A lower bound says `dropped at least <N> messages`, or with nothing known
 * lost `dropped an unknown number of messages`.
 */
export function l11Line(gap: Gap, now: number): string {
  const n = droppedWords(gap.dropped, gap.lowerBound === true);
  return `${rfc3339(now)} heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped ${n} messages since ${rfc3339(gap.since)}.`;
}

/** `{"type":"gap","dropped":n,"since":"<ts>","from":a,"to":b}`, plus `"lower_bound":true` when dropped is one. */
export function gapFrame(gap: Gap): string {
  const bound = gap.lowerBound === true ? ',"lower_bound":true' : '';
  return `{"type":"gap","dropped":${gap.dropped},"since":"${rfc3339(gap.since)}","from":${gap.from},"to":${gap.to}${bound}}`;
}

/** `{"type":"hello","app":"...","head":<latest seq>}` */
export function helloFrame(app: string, head: number): string {
  return `{"type":"hello","app":${JSON.stringify(app)},"head":${head}}`;
}

export const END_FRAME = '{"type":"end"}';
