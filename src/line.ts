// The cooked line: one Buffer per line, made once at ingest (cook) and shared
// by the ring, drains, tails and the Redis batch. Fixed binary layout so it
// can cross threads, processes and Redis as bytes, with no per-line object.
//
//   0  f64  seq          per-app, written by route()
//   8  f64  received     ms since epoch, at ingest
//  16  u8   pri          0..191
//  17  u8   tsLen
//  18  u8   sourceLen
//  19  u8   dynoLen
//  20  ts bytes | source bytes | dyno bytes | msg bytes (to the end)
import * as chars from './basics/chars.js';
import { WORDS_MAX, copyBytes, copyWords, copyWordsUnless, indexOfByte, wordView } from './basics/bytes.js';

// local bindings: the byte loops read them as constants
const { LF } = chars;

export const HEADER = 20;
/** Largest message part of one line; longer messages are split (as Heroku does). */
export const MAX_MSG = 10_000;
export const MAX_FIELD = 255;

const OFF_SEQ = 0;
const OFF_RECV = 8;
const OFF_PRI = 16;
const OFF_TSLEN = 17;
const OFF_SRCLEN = 18;
const OFF_DYNOLEN = 19;

let lastMs = NaN;
const msBytes = Buffer.alloc(8);

/**
 * The parts of one line before it is cooked: pri, byte ranges for the
 * timestamp, dyno and message (each in the buffer it was read from, usually
 * the chunk), and the receive time. The source is not a part: it is the
 * token's name, which the writer knows. cookMessage fills one reused object,
 * so a writer must not keep it past the call.
 */
export interface LineParts {
  pri: number;
  tsBuf: Buffer;
  tsStart: number;
  tsEnd: number;
  dynoBuf: Buffer;
  dynoStart: number;
  dynoEnd: number;
  msgBuf: Buffer;
  msgStart: number;
  msgEnd: number;
  receivedMs: number;
}

const NO_BYTES = Buffer.alloc(0);

/** A LineParts to fill, every field present from the start (one shape). */
export function newLineParts(): LineParts {
  return { pri: 0, tsBuf: NO_BYTES, tsStart: 0, tsEnd: 0, dynoBuf: NO_BYTES, dynoStart: 0, dynoEnd: 0, msgBuf: NO_BYTES, msgStart: 0, msgEnd: 0, receivedMs: 0 };
}

/** Bytes of the cooked line made of p with this source. */
export function partsLength(p: LineParts, source: Buffer): number {
  return HEADER + (p.tsEnd - p.tsStart) + source.length + (p.dynoEnd - p.dynoStart) + (p.msgEnd - p.msgStart);
}

/**
 * Write one cooked line at out[pos]; returns its end. Ingest workers write
 * straight into a batch (cookIntoView).
 */
export function cookInto(out: Buffer, pos: number, p: LineParts, source: Buffer): number {
  const tsStart = p.tsStart;
  const tsEnd = p.tsEnd;
  const dynoStart = p.dynoStart;
  const dynoEnd = p.dynoEnd;
  const receivedMs = p.receivedMs;
  const tsLen = tsEnd - tsStart;
  const dynoLen = dynoEnd - dynoStart;
  // The lengths are u8 in the header; a longer field would corrupt the layout.
  if (tsLen > MAX_FIELD || source.length > MAX_FIELD || dynoLen > MAX_FIELD) throw new RangeError('line field longer than 255 bytes');
  // seq is left for route() to stamp; the receive time is the same for every
  // line of a chunk, so its 8 bytes are encoded once and copied.
  if (receivedMs !== lastMs) {
    msBytes.writeDoubleLE(receivedMs, 0);
    lastMs = receivedMs;
  }
  for (let i = 0; i < 8; i++) out[pos + OFF_RECV + i] = msBytes[i]!;
  out[pos + OFF_PRI] = p.pri;
  out[pos + OFF_TSLEN] = tsLen;
  out[pos + OFF_SRCLEN] = source.length;
  out[pos + OFF_DYNOLEN] = dynoLen;
  let q = pos + HEADER;
  q += copyBytes(p.tsBuf, tsStart, tsEnd, out, q);
  q += copyBytes(source, 0, source.length, out, q);
  q += copyBytes(p.dynoBuf, dynoStart, dynoEnd, out, q);
  q += copyBytes(p.msgBuf, p.msgStart, p.msgEnd, out, q);
  return q;
}

/**
 * cookInto for a writer that keeps a DataView of its output (an ingest
 * worker's batch): the same bytes, written by 32-bit words. Fields read from
 * the message's buffer (the chunk) are copied through a view of it too; the
 * token name and a made-up timestamp byte by byte. With wholeOnly, the
 * message is copied while looking for LF, and -1 is returned (the bytes
 * written past pos are to be ignored) when it holds one: it is not one line.
 */
export function cookIntoView(out: Buffer, outView: DataView, pos: number, p: LineParts, source: Buffer, wholeOnly: boolean): number {
  const tsBuf = p.tsBuf;
  const tsStart = p.tsStart;
  const tsEnd = p.tsEnd;
  const dynoBuf = p.dynoBuf;
  const dynoStart = p.dynoStart;
  const dynoEnd = p.dynoEnd;
  const msgBuf = p.msgBuf;
  const msgStart = p.msgStart;
  const msgEnd = p.msgEnd;
  const tsLen = tsEnd - tsStart;
  const srcLen = source.length;
  const dynoLen = dynoEnd - dynoStart;
  if (tsLen > MAX_FIELD || srcLen > MAX_FIELD || dynoLen > MAX_FIELD) throw new RangeError('line field longer than 255 bytes');
  outView.setFloat64(pos + OFF_RECV, p.receivedMs, true);
  // pri, tsLen, sourceLen, dynoLen: the four u8 at OFF_PRI in one store
  outView.setInt32(pos + OFF_PRI, p.pri | (tsLen << 8) | (srcLen << 16) | (dynoLen << 24), true);
  const src = wordView(msgBuf);
  let q = pos + HEADER;
  q += tsBuf === msgBuf ? copyWords(src, tsStart, tsEnd, outView, q) : copyBytes(tsBuf, tsStart, tsEnd, out, q);
  q += copyBytes(source, 0, srcLen, out, q);
  q += dynoBuf === msgBuf ? copyWords(src, dynoStart, dynoEnd, outView, q) : copyBytes(dynoBuf, dynoStart, dynoEnd, out, q);
  if (msgEnd - msgStart > WORDS_MAX) {
    // long: one native search, one native copy
    if (wholeOnly && indexOfByte(msgBuf, LF, msgStart, msgEnd) !== -1) return -1;
    return q + copyBytes(msgBuf, msgStart, msgEnd, out, q);
  }
  if (!wholeOnly) return q + copyWords(src, msgStart, msgEnd, outView, q);
  const n = copyWordsUnless(src, msgStart, msgEnd, outView, q, LF);
  return n === -1 ? -1 : q + n;
}

/** Make one cooked line in a Buffer of its own: the only copy of the line. */
export function cook(p: LineParts, source: Buffer): Buffer {
  const rec = Buffer.allocUnsafe(partsLength(p, source));
  cookInto(rec, 0, p, source);
  return rec;
}

/** Build a line from strings (platform lines such as L10/L11, tests, the CLI). */
export function lineFrom(fields: { pri: number; ts: string; source: string; dyno: string; msg: string | Buffer; receivedMs?: number; seq?: number }): Buffer {
  const ts = Buffer.from(fields.ts, 'latin1');
  const src = Buffer.from(fields.source, 'utf8');
  const dyno = Buffer.from(fields.dyno, 'utf8');
  const msg = typeof fields.msg === 'string' ? Buffer.from(fields.msg, 'utf8') : fields.msg;
  const rec = cook({ pri: fields.pri, tsBuf: ts, tsStart: 0, tsEnd: ts.length, dynoBuf: dyno, dynoStart: 0, dynoEnd: dyno.length, msgBuf: msg, msgStart: 0, msgEnd: msg.length, receivedMs: fields.receivedMs ?? Date.now() }, src);
  setSeq(rec, fields.seq ?? 0);
  return rec;
}

export function setSeq(rec: Buffer, seq: number): void {
  rec.writeDoubleLE(seq, OFF_SEQ);
}
export function seqOf(rec: Buffer): number {
  return rec.readDoubleLE(OFF_SEQ);
}
export function receivedOf(rec: Buffer): number {
  return rec.readDoubleLE(OFF_RECV);
}
export function priOf(rec: Buffer): number {
  return rec[OFF_PRI]!;
}
export function tsStartOf(_rec: Buffer): number {
  return HEADER;
}
export function tsEndOf(rec: Buffer): number {
  return HEADER + rec[OFF_TSLEN]!;
}
export function sourceEndOf(rec: Buffer): number {
  return tsEndOf(rec) + rec[OFF_SRCLEN]!;
}
export function dynoEndOf(rec: Buffer): number {
  return sourceEndOf(rec) + rec[OFF_DYNOLEN]!;
}
/** Message bytes start here and run to the end of the record. */
export function msgStartOf(rec: Buffer): number {
  return dynoEndOf(rec);
}

export function tsOf(rec: Buffer): string {
  return rec.toString('latin1', HEADER, tsEndOf(rec));
}
export function sourceOf(rec: Buffer): string {
  const s = tsEndOf(rec);
  return rec.toString('utf8', s, s + rec[OFF_SRCLEN]!);
}
export function dynoOf(rec: Buffer): string {
  const s = sourceEndOf(rec);
  return rec.toString('utf8', s, s + rec[OFF_DYNOLEN]!);
}
export function msgOf(rec: Buffer): Buffer {
  return rec.subarray(msgStartOf(rec));
}

/** A plain object view, for JSON (WebSocket tail, tests). */
export interface LineView {
  seq: number;
  ts: string;
  source: string;
  dyno: string;
  pri: number;
  msg: string;
}
export function viewOf(rec: Buffer): LineView {
  return { seq: seqOf(rec), ts: tsOf(rec), source: sourceOf(rec), dyno: dynoOf(rec), pri: priOf(rec), msg: rec.toString('utf8', msgStartOf(rec)) };
}

/** RFC 3339 timestamp with microseconds and +00:00, as Logplex writes its own. */
export function rfc3339(ms: number): string {
  const d = new Date(ms);
  return `${d.toISOString().slice(0, 23)}000+00:00`;
}
