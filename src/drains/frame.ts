// Wire encoders for cooked lines. One pre-sized Buffer per batch, no strings
// per line. Used by HTTPS drains, syslog drains and the history endpoint.
import * as chars from '../basics/chars.js';
import { HEADER, dynoEndOf, sourceEndOf, tsEndOf } from '../line.js';

// local bindings: the byte loops read them as constants
const { COLON, DASH, DIGIT_0, DIGIT_1, GT, LBRACKET, LF, LT, RBRACKET, SP } = chars;

const HOST = Buffer.from(' host ', 'latin1');

function digits(n: number): number {
  return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : String(n).length;
}
function writeUint(out: Buffer, pos: number, n: number): number {
  const d = digits(n);
  let p = pos + d;
  do {
    out[--p] = DIGIT_0 + (n % 10);
    n = (n / 10) | 0;
  } while (n > 0);
  return pos + d;
}

/**
 * Bytes of `<PRI>1 TS <hostPart> SOURCE DYNO <nilPart>MSG\n` for one record.
 * hostPart is ` host ` for Logplex frames or ` d.<token> ` for syslog drains;
 * nil is `- ` (HTTPS, history) or `- - ` (syslog drains).
 */
function msgLength(rec: Buffer, hostPartLen: number, nilLen: number): number {
  const tsEnd = tsEndOf(rec);
  const srcEnd = sourceEndOf(rec);
  const dynoEnd = dynoEndOf(rec);
  const pri = rec[16]!;
  // "<" pri ">1 " ts hostPart source " " dyno " " nil msg "\n"
  return 1 + digits(pri) + 3 + (tsEnd - HEADER) + hostPartLen + (srcEnd - tsEnd) + 1 + (dynoEnd - srcEnd) + 1 + nilLen + (rec.length - dynoEnd) + 1;
}

/**
 * Below this many bytes a field is copied by a loop: Buffer#copy makes a
 * Uint8Array view per call, which cost more than the copy itself for the
 * timestamp, source, dyno and host part (~40% of encoding time).
 */
const SHORT_COPY = 64;

/** Copy src[s, e) to out at p; returns the end. */
function put(src: Buffer, s: number, e: number, out: Buffer, p: number): number {
  if (e - s < SHORT_COPY) {
    for (let i = s; i < e; i++) out[p++] = src[i]!;
    return p;
  }
  return p + src.copy(out, p, s, e);
}

function writeMsg(rec: Buffer, out: Buffer, pos: number, hostPart: Buffer, nilDashes: number): number {
  const tsEnd = tsEndOf(rec);
  const srcEnd = sourceEndOf(rec);
  const dynoEnd = dynoEndOf(rec);
  let p = pos;
  out[p++] = LT;
  p = writeUint(out, p, rec[16]!);
  out[p++] = GT;
  out[p++] = DIGIT_1;
  out[p++] = SP;
  p = put(rec, HEADER, tsEnd, out, p);
  p = put(hostPart, 0, hostPart.length, out, p);
  p = put(rec, tsEnd, srcEnd, out, p);
  out[p++] = SP;
  p = put(rec, srcEnd, dynoEnd, out, p);
  out[p++] = SP;
  for (let i = 0; i < nilDashes; i++) {
    out[p++] = DASH;
    out[p++] = SP;
  }
  p = put(rec, dynoEnd, rec.length, out, p);
  out[p++] = LF;
  return p;
}

/** An octet-counted framer for one output format (Logplex HTTP or syslog drain). */
export class FrameEncoder {
  readonly #hostPart: Buffer;
  readonly #nil: number;
  constructor(hostPart: Buffer, nilDashes: number) {
    this.#hostPart = hostPart;
    this.#nil = nilDashes;
  }
  /** Bytes one record takes, length prefix and SP included. */
  frameLength(rec: Buffer): number {
    const n = msgLength(rec, this.#hostPart.length, this.#nil * 2);
    return digits(n) + 1 + n;
  }
  /** Write `LEN SP MSG` at pos; returns the end. */
  write(rec: Buffer, out: Buffer, pos: number): number {
    const n = msgLength(rec, this.#hostPart.length, this.#nil * 2);
    let p = writeUint(out, pos, n);
    out[p++] = SP;
    return writeMsg(rec, out, p, this.#hostPart, this.#nil);
  }
  /** Encode records into one exact-size Buffer. */
  encode(recs: readonly Buffer[], from = 0, to = recs.length): Buffer {
    let size = 0;
    for (let i = from; i < to; i++) size += this.frameLength(recs[i]!);
    const out = Buffer.allocUnsafe(size);
    this.encodeInto(recs, out, 0, from, to);
    return out;
  }
  /** Write records one after the other from pos (the caller sized out); returns the end. */
  encodeInto(recs: readonly Buffer[], out: Buffer, pos: number, from = 0, to = recs.length): number {
    let p = pos;
    for (let i = from; i < to; i++) p = this.write(recs[i]!, out, p);
    return p;
  }
}

/** `LEN <PRI>1 TS host SOURCE DYNO - MSG\n`: history and HTTPS drains (SPEC 4, 6.3). */
export const logplexFrames = new FrameEncoder(HOST, 1);

/** `LEN <PRI>1 TS d.<token> SOURCE DYNO - - MSG\n`: syslog drains (SPEC 6.4). */
export function syslogDrainEncoder(drainToken: string): FrameEncoder {
  return new FrameEncoder(Buffer.from(` ${drainToken} `, 'latin1'), 2);
}

/** Heroku's display format: `TS source[dyno]: msg` (no newline). */
export function textLine(rec: Buffer): Buffer {
  const tsEnd = tsEndOf(rec);
  const srcEnd = sourceEndOf(rec);
  const dynoEnd = dynoEndOf(rec);
  const out = Buffer.allocUnsafe(rec.length - HEADER + 5);
  let p = rec.copy(out, 0, HEADER, tsEnd);
  out[p++] = SP;
  p += rec.copy(out, p, tsEnd, srcEnd);
  out[p++] = LBRACKET;
  p += rec.copy(out, p, srcEnd, dynoEnd);
  out[p++] = RBRACKET;
  out[p++] = COLON;
  out[p++] = SP;
  p += rec.copy(out, p, dynoEnd);
  return out.subarray(0, p);
}
