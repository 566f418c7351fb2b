// One syslog stream (TCP or TLS connection) parsed on the main thread:
// framer -> SyslogMessageHandler (scan, token lookup) -> routeMessage.
// Bad messages are counted; an unframeable stream is
// closed with a count. Nothing here throws on input.
import type { Socket } from 'node:net';
import type { Context } from '../context.js';
import { RateLimitedLog, type LogTimers } from '../obs/log.js';
import type { Child } from '../obs/metrics.js';
import { routeMessage } from './route-writer.js';
import { FrameError, OctetFramer, frameErrorText } from './framing.js';
import { SyslogMessageHandler } from './message.js';

export type StreamTransport = 'tcp' | 'tls';

/** Per-transport counters, resolved once. */
export class IngestCounters {
  readonly lines: Child;
  readonly bytes: Child;
  readonly malformed: Child;
  readonly unknownToken: Child;
  readonly unframeable: Child;
  readonly rateLimited: Child;
  constructor(ctx: Context, transport: string) {
    const m = ctx.metrics;
    this.lines = m.ingestLines.labels(transport);
    this.bytes = m.ingestBytes.labels(transport);
    this.malformed = m.ingestDropped.labels(transport, 'malformed');
    this.unknownToken = m.ingestDropped.labels(transport, 'unknown_token');
    this.unframeable = m.ingestDropped.labels(transport, 'unframeable');
    this.rateLimited = m.ingestDropped.labels(transport, 'rate_limited');
  }
}

/**
 * The warning for syslog connections closed on unframeable input, at most one
 * line per 10 s per reason (a flood of garbage connections must not flood our
 * own log); the metrics count every one. One per node, made by server.ts.
 */
export class GarbageLog {
  readonly #ctx: Context;
  #limited: RateLimitedLog;
  /** Connections closed per reason since the node started. */
  readonly #closed = new Map<FrameError, number>();

  constructor(ctx: Context) {
    this.#ctx = ctx;
    this.#limited = new RateLimitedLog(ctx.log);
  }

  /** Other timing or timers (tests). */
  configure(opts: { intervalMs?: number; timers?: LogTimers }): void {
    this.#limited.close();
    this.#limited = new RateLimitedLog(this.#ctx.log, opts);
  }

  closed(transport: string, remote: string | undefined, err: FrameError): void {
    const closed = (this.#closed.get(err) ?? 0) + 1;
    this.#closed.set(err, closed);
    this.#limited.warn(frameErrorText[err], { at: 'ingest.garbage', transport, remote, reason: frameErrorText[err], closed }, 'closing syslog connection: unframeable input');
  }
}

/** Serve one TCP or TLS connection until it ends or sends what cannot be framed. */
export function serveSyslogStream(ctx: Context, sock: Socket, transport: StreamTransport, counters: IngestCounters, garbage: GarbageLog): void {
  const conns = ctx.metrics.connections.labels(transport);
  conns.value++;
  const handler = new SyslogMessageHandler(ctx.registry.tokens, counters, routeMessage);
  let now = Date.now();
  const framer = new OctetFramer((buf, s, e) => handler.handle(buf, s, e, now), { allowLfFrames: true, skipSeparators: true });
  let closed = false;
  const fail = (err: FrameError): void => {
    if (closed) return;
    closed = true;
    counters.unframeable.value++;
    ctx.metrics.connectionsClosed.labels(transport, err === FrameError.TOO_LARGE ? 'frame_too_large' : 'unframeable').value++;
    garbage.closed(transport, sock.remoteAddress, err);
    sock.destroy();
  };
  sock.on('data', (chunk: Buffer) => {
    if (closed) return;
    now = Date.now();
    const err = framer.push(chunk);
    if (err !== FrameError.NONE) fail(err);
  });
  sock.on('end', () => {
    if (!closed) {
      now = Date.now();
      const err = framer.end();
      if (err !== FrameError.NONE) counters.malformed.value++;
    }
    sock.end();
  });
  sock.on('error', () => {
    /* peer reset etc.: nothing to do, 'close' follows */
  });
  sock.on('close', () => {
    conns.value--;
  });
}
