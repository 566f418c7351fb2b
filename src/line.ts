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
import { WORDS_MAX, copyBytes, copyWords, copyWordsUnless, indexOfByte, wordView } from './basics/bytes.js';

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

/** Bytes of a cooked line with these field lengths. */
export function cookedLength(tsLen: number, sourceLen: number, dynoLen: number, msgLen: number): number {
  return HEADER + tsLen + sourceLen + dynoLen + msgLen;
}

/**
 * Write one cooked line at out[pos]; returns its end. The message is
 * buf[msgStart, msgEnd); ts and dyno are byte ranges too, source is the
 * token's name (already bytes). Ingest workers write straight into a batch.
 */
export function cookInto(
  out: Buffer, pos: number,
  pri: number,
  tsBuf: Buffer, tsStart: number, tsEnd: number,
  source: Buffer,
  dynoBuf: Buffer, dynoStart: number, dynoEnd: number,
  msgBuf: Buffer, msgStart: number, msgEnd: number,
  receivedMs: number,
): number {
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
  out[pos + OFF_PRI] = pri;
  out[pos + OFF_TSLEN] = tsLen;
  out[pos + OFF_SRCLEN] = source.length;
  out[pos + OFF_DYNOLEN] = dynoLen;
  let p = pos + HEADER;
  p += copyBytes(tsBuf, tsStart, tsEnd, out, p);
  p += copyBytes(source, 0, source.length, out, p);
  p += copyBytes(dynoBuf, dynoStart, dynoEnd, out, p);
  p += copyBytes(msgBuf, msgStart, msgEnd, out, p);
  return p;
}

/**
 * cookInto for a writer that keeps a DataView of its output (an ingest
 * worker's batch): the same bytes, written by 32-bit words. Fields read from
 * the message's buffer (the chunk) are copied through a view of it too; the
 * token name and a made-up timestamp byte by byte. With wholeOnly, the
 * message is copied while looking for LF, and -1 is returned (the bytes
 * written past pos are to be ignored) when it holds one: it is not one line.
 */
export function cookIntoView(
  out: Buffer, outView: DataView, pos: number,
  pri: number,
  tsBuf: Buffer, tsStart: number, tsEnd: number,
  source: Buffer,
  dynoBuf: Buffer, dynoStart: number, dynoEnd: number,
  msgBuf: Buffer, msgStart: number, msgEnd: number,
  receivedMs: number,
  wholeOnly: boolean,
): number {
  const tsLen = tsEnd - tsStart;
  const srcLen = source.length;
  const dynoLen = dynoEnd - dynoStart;
  if (tsLen > MAX_FIELD || srcLen > MAX_FIELD || dynoLen > MAX_FIELD) throw new RangeError('line field longer than 255 bytes');
  outView.setFloat64(pos + OFF_RECV, receivedMs, true);
  // pri, tsLen, sourceLen, dynoLen: the four u8 at OFF_PRI in one store
  outView.setInt32(pos + OFF_PRI, pri | (tsLen << 8) | (srcLen << 16) | (dynoLen << 24), true);
  const src = wordView(msgBuf);
  let p = pos + HEADER;
  p += tsBuf === msgBuf ? copyWords(src, tsStart, tsEnd, outView, p) : copyBytes(tsBuf, tsStart, tsEnd, out, p);
  p += copyBytes(source, 0, srcLen, out, p);
  p += dynoBuf === msgBuf ? copyWords(src, dynoStart, dynoEnd, outView, p) : copyBytes(dynoBuf, dynoStart, dynoEnd, out, p);
  if (msgEnd - msgStart > WORDS_MAX) {
    // long: one native search, one native copy
    if (wholeOnly && indexOfByte(msgBuf, 0x0a, msgStart, msgEnd) !== -1) return -1;
    return p + copyBytes(msgBuf, msgStart, msgEnd, out, p);
  }
  if (!wholeOnly) return p + copyWords(src, msgStart, msgEnd, outView, p);
  const n = copyWordsUnless(src, msgStart, msgEnd, outView, p, 0x0a);
  return n === -1 ? -1 : p + n;
}

/** Make one cooked line in a Buffer of its own: the only copy of the line. */
export function cook(
  pri: number,
  tsBuf: Buffer, tsStart: number, tsEnd: number,
  source: Buffer,
  dynoBuf: Buffer, dynoStart: number, dynoEnd: number,
  msgBuf: Buffer, msgStart: number, msgEnd: number,
  receivedMs: number,
): Buffer {
  const rec = Buffer.allocUnsafe(cookedLength(tsEnd - tsStart, source.length, dynoEnd - dynoStart, msgEnd - msgStart));
  cookInto(rec, 0, pri, tsBuf, tsStart, tsEnd, source, dynoBuf, dynoStart, dynoEnd, msgBuf, msgStart, msgEnd, receivedMs);
  return rec;
}

/** Build a line from strings (platform lines such as L10/L11, tests, the CLI). */
export function lineFrom(fields: { pri: number; ts: string; source: string; dyno: string; msg: string | Buffer; receivedMs?: number; seq?: number }): Buffer {
  const ts = Buffer.from(fields.ts, 'latin1');
  const src = Buffer.from(fields.source, 'utf8');
  const dyno = Buffer.from(fields.dyno, 'utf8');
  const msg = typeof fields.msg === 'string' ? Buffer.from(fields.msg, 'utf8') : fields.msg;
  const rec = cook(fields.pri, ts, 0, ts.length, src, dyno, 0, dyno.length, msg, 0, msg.length, fields.receivedMs ?? Date.now());
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
