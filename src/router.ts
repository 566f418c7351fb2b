// The one fan-out point. route(app, line) is synchronous and returns nothing:
// stamp the seq, push to the ring, offer to every sink (drains, tail hubs,
// the Redis batch). Nothing downstream calls back upstream.
import type { App, TokenEntry } from './apps.js';
import { cook, receivedOf, setSeq } from './line.js';
import { cookMessage, type LineWriter } from './ingest/cook.js';
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

/** Cooks each line into a Buffer of its own and routes it to the token's app. */
class RouteWriter implements LineWriter {
  entry: TokenEntry | null = null;
  line(
    pri: number,
    tsBuf: Buffer, tsStart: number, tsEnd: number,
    dynoBuf: Buffer, dynoStart: number, dynoEnd: number,
    msgBuf: Buffer, msgStart: number, msgEnd: number,
    receivedMs: number,
  ): void {
    const e = this.entry!;
    route(e.app, cook(pri, tsBuf, tsStart, tsEnd, e.nameBuf, dynoBuf, dynoStart, dynoEnd, msgBuf, msgStart, msgEnd, receivedMs));
  }
}
const routeWriter = new RouteWriter();

/**
 * Cook one scanned syslog message into lines (ingest/cook.ts) and route them
 * on this thread: the source is the token's name. Returns the lines routed.
 */
export function routeMessage(entry: TokenEntry, hdr: SyslogHeader, buf: Buffer, receivedMs: number): number {
  routeWriter.entry = entry;
  return cookMessage(hdr, buf, receivedMs, routeWriter);
}
