// The main-thread end of the cook path: a scanned syslog message is cooked
// into lines (cook.ts), each in a Buffer of its own, and handed to route().
// Ingest workers write into a batch instead (batch.ts) and the main thread
// routes it with routeFrom().
import type { TokenEntry } from '../apps.js';
import { cook, type LineParts } from '../line.js';
import { route } from '../router.js';
import { cookMessage, type LineWriter } from './cook.js';
import type { SyslogHeader } from './syslog.js';

/** Cooks each line into a Buffer of its own and routes it to the token's app. */
class RouteWriter implements LineWriter {
  entry: TokenEntry | null = null;
  line(p: LineParts): void {
    const e = this.entry!;
    const limit = e.app.admission;
    if (limit !== null && !limit.admit(p.receivedMs)) return;
    route(e.app, cook(p, e.nameBuf));
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
