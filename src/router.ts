// The one fan-out point. route(app, line) is synchronous and returns nothing:
// stamp the seq, push to the ring, offer to every sink (drains, tail hubs,
// the Redis batch). Nothing downstream calls back upstream.
import type { App, TokenEntry } from './apps.js';
import { MAX_MSG, cook, rfc3339, setSeq } from './line.js';
import type { SyslogHeader } from './ingest/syslog.js';

export function route(app: App, rec: Buffer): void {
  setSeq(rec, ++app.seq);
  app.linesIn++;
  app.bytesIn += rec.length;
  app.ring.push(rec);
  const sinks = app.sinks;
  for (let i = 0; i < sinks.length; i++) sinks[i]!.offer(rec);
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

/**
 * First LF in buf[s, end), or end. Never looks past end: a message is a view
 * into a chunk holding many frames, and searching to the chunk's next LF for
 * every message would cost O(chunk) per line. Short ranges by a byte loop,
 * long ones by indexOf (memchr).
 */
function lfIn(buf: Buffer, s: number, end: number): number {
  if (end - s > 256) {
    const lf = buf.indexOf(0x0a, s);
    return lf === -1 || lf > end ? end : lf;
  }
  for (let i = s; i < end; i++) if (buf[i] === 0x0a) return i;
  return end;
}

/**
 * Cook one scanned syslog message into lines and route them: the source is the
 * token's name, a message with embedded LF becomes several lines with the same
 * header, a message over 10,000 bytes becomes consecutive lines of at most
 * 10,000 bytes. Returns the number of lines routed.
 */
export function routeMessage(entry: TokenEntry, hdr: SyslogHeader, buf: Buffer, receivedMs: number): number {
  const app = entry.app;
  let tsBuf = buf;
  let tsStart = hdr.tsStart;
  let tsEnd = hdr.tsEnd;
  if (tsEnd - tsStart === 1 && buf[tsStart] === NIL) {
    // nil TIMESTAMP: the time we received it
    tsBuf = Buffer.from(rfc3339(receivedMs), 'latin1');
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
      route(app, cook(hdr.pri, tsBuf, tsStart, tsEnd, entry.nameBuf, buf, hdr.procStart, hdr.procEnd, buf, p, ce, receivedMs));
      lines++;
      p = ce;
    } while (p < e);
    if (lf >= msgEnd) break;
    s = lf + 1;
  }
  return lines;
}
