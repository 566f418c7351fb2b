// Cooking a scanned syslog message into lines (SPEC 3.3): a message with
// embedded LF becomes several lines with the same header, a message over
// 10,000 bytes becomes consecutive lines of at most 10,000 bytes, a nil
// TIMESTAMP becomes the receive time. Where each line goes is the writer's
// business: route() on the main thread, a batch in an ingest worker.
import { indexOfByte } from '../basics/bytes.js';
import { MAX_MSG, rfc3339 } from '../line.js';
import type { SyslogHeader } from './syslog.js';

/** Receives the parts of each line cookMessage makes. */
export interface LineWriter {
  line(
    pri: number,
    tsBuf: Buffer, tsStart: number, tsEnd: number,
    dynoBuf: Buffer, dynoStart: number, dynoEnd: number,
    msgBuf: Buffer, msgStart: number, msgEnd: number,
    receivedMs: number,
  ): void;
}

const NIL = 0x2d;

/** End of a chunk of at most MAX_MSG bytes from start, not cutting a UTF-8 sequence. */
function chunkEnd(buf: Buffer, start: number, end: number): number {
  if (end - start <= MAX_MSG) return end;
  let e = start + MAX_MSG;
  // back off over continuation bytes (10xxxxxx), at most 3
  for (let k = 0; k < 3 && (buf[e]! & 0xc0) === 0x80; k++) e--;
  return e === start ? start + MAX_MSG : e;
}

/** First LF in buf[s, end), or end. Never looks past end: a message is a view into a chunk holding many frames. */
function lfIn(buf: Buffer, s: number, end: number): number {
  const lf = indexOfByte(buf, 0x0a, s, end);
  return lf === -1 ? end : lf;
}

/** A LineWriter that can also take a whole message and tell whether it was one line. */
export interface WholeLineWriter extends LineWriter {
  /**
   * Write msgBuf[msgStart, msgEnd) (at most MAX_MSG bytes) as one line and
   * return true, unless it holds an LF: then keep nothing and return false.
   * One pass over the message: the copy looks for LF on the way.
   */
  wholeLine(
    pri: number,
    tsBuf: Buffer, tsStart: number, tsEnd: number,
    dynoBuf: Buffer, dynoStart: number, dynoEnd: number,
    msgBuf: Buffer, msgStart: number, msgEnd: number,
    receivedMs: number,
  ): boolean;
}

let nilMs = NaN;
let nilTs: Buffer = Buffer.alloc(0);

/** The timestamp of lines with a nil TIMESTAMP: the receive time, one Buffer per distinct ms (a chunk shares one), read only. */
function receivedTs(receivedMs: number): Buffer {
  if (receivedMs !== nilMs) {
    nilTs = Buffer.from(rfc3339(receivedMs), 'latin1');
    nilMs = receivedMs;
  }
  return nilTs;
}

/**
 * cookMessage for a WholeLineWriter: a message that is one line (most are)
 * goes to wholeLine; one with an LF, or over MAX_MSG, is split as usual.
 */
export function cookMessageWhole(hdr: SyslogHeader, buf: Buffer, receivedMs: number, out: WholeLineWriter): number {
  if (hdr.msgEnd - hdr.msgStart <= MAX_MSG) {
    const nil = hdr.tsEnd - hdr.tsStart === 1 && buf[hdr.tsStart] === NIL;
    const tsBuf = nil ? receivedTs(receivedMs) : buf;
    const tsStart = nil ? 0 : hdr.tsStart;
    const tsEnd = nil ? tsBuf.length : hdr.tsEnd;
    if (out.wholeLine(hdr.pri, tsBuf, tsStart, tsEnd, buf, hdr.procStart, hdr.procEnd, buf, hdr.msgStart, hdr.msgEnd, receivedMs)) return 1;
  }
  return cookMessage(hdr, buf, receivedMs, out);
}

/** Hand every line of one scanned message to out. Returns the number of lines. */
export function cookMessage(hdr: SyslogHeader, buf: Buffer, receivedMs: number, out: LineWriter): number {
  let tsBuf = buf;
  let tsStart = hdr.tsStart;
  let tsEnd = hdr.tsEnd;
  if (tsEnd - tsStart === 1 && buf[tsStart] === NIL) {
    tsBuf = receivedTs(receivedMs);
    tsStart = 0;
    tsEnd = tsBuf.length;
  }
  const msgEnd = hdr.msgEnd;
  let s = hdr.msgStart;
  let lines = 0;
  for (;;) {
    const lf = lfIn(buf, s, msgEnd);
    let e = lf;
    if (e > s && buf[e - 1] === 0x0d) e--;
    // one LF-free piece [s, e): split at MAX_MSG
    let p = s;
    do {
      const ce = chunkEnd(buf, p, e);
      out.line(hdr.pri, tsBuf, tsStart, tsEnd, buf, hdr.procStart, hdr.procEnd, buf, p, ce, receivedMs);
      lines++;
      p = ce;
    } while (p < e);
    if (lf >= msgEnd) break;
    s = lf + 1;
  }
  return lines;
}
