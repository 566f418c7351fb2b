// The main-thread end of the cook path: a scanned syslog message is cooked
// into lines (cook.ts), each in a Buffer of its own, and handed to route().
// Ingest workers write into a batch instead (batch.ts) and the main thread
// routes it with routeFrom().
import type { TokenEntry } from '../apps.js';
import { cook, type LineParts } from '../line.js';
import { route } from '../router.js';
import { cookMessage, type LineWriter, type TokenFinder } from './cook.js';
import type { SyslogHeader } from './syslog.js';

/** Cooks each line into a Buffer of its own and routes it to the token's app, unless the app's rate limit drops it. */
class RouteWriter implements LineWriter {
  entry: TokenEntry | null = null;
  /** The lines' source: the token's name (but see local-notice.ts). */
  source: Buffer = Buffer.alloc(0);
  /** Lines of the current message the rate limit dropped. */
  limited = 0;
  line(p: LineParts): void {
    const e = this.entry!;
    const limit = e.app.admission;
    if (limit !== null && !limit.admit(p.receivedMs)) {
      this.limited++;
      return;
    }
    route(e.app, cook(p, this.source));
  }
}
const routeWriter = new RouteWriter();

/**
 * Cook one scanned syslog message into lines (ingest/cook.ts) and route them
 * on this thread: the source is the token's name (POST /logs passes
 * local-notice.ts's for a notice frame); no line carries a string of
 * `tokens` (the registry's table). Returns the lines routed;
 * those the app's rate limit dropped are added to `limited` (the transport's
 * logplane_ingest_dropped_total{reason="rate_limited"}), once per message.
 */
export function routeMessage(entry: TokenEntry, hdr: SyslogHeader, buf: Buffer, receivedMs: number, limited: { value: number }, tokens: TokenFinder, source: Buffer = entry.nameBuf): number {
  const w = routeWriter;
  w.entry = entry;
  w.source = source;
  w.limited = 0;
  const n = cookMessage(hdr, buf, receivedMs, w, tokens);
  if (w.limited === 0) return n;
  limited.value += w.limited;
  return n - w.limited;
}
