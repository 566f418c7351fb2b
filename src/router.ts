// The one fan-out point. route(app, line) is synchronous and returns nothing:
// stamp the seq, push to the ring, offer to every sink (drains, tail hubs,
// the Redis batch). Nothing downstream calls back upstream.
import type { App, TokenEntry } from './apps.js';
import { MAX_MSG, cook, receivedOf, rfc3339, setSeq } from './line.js';
import type { SyslogHeader } from './ingest/syslog.js';

export function route(app: App, rec: Buffer): void {
  const clock = app.seqClock; // distributed mode (issue 5): hybrid clock across nodes
  const seq = clock === null ? app.seq + 1 : clock.next(app.seq, receivedOf(rec));
  app.seq = seq;
  setSeq(rec, seq);
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
    let lf = buf.indexOf(0x0a, s);
    if (lf === -1 || lf >= msgEnd) lf = msgEnd;
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
