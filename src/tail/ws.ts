// The WebSocket tail protocol (SPEC 5.3) on the HTTP server's 'upgrade' event
// for /sessions/:id. JSON text frames: hello first, lines batched per tick,
// gap frames for loss, end + close 1000 when the session does not tail and its
// history was all sent (a reader cut off by its app's deletion gets only close
// 1000 "app deleted").
// `?format=text` sends one text frame per line instead (and gaps as the L11
// line). Ping every 30 s; a peer that misses two pongs is closed.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { ByteWriter, END_FRAME, gapFrame, helloFrame, l11Line, writeLinesFrame, writeTextLineUtf8, type Gap } from './encode.js';
import { Transport, type TailSink } from './tail.js';
import type { TimeSource } from '../basics/clock.js';
import type { Heartbeat, TailService } from './service.js';
import { parseSeq } from './params.js';
import { LimitError } from '../errors.js';
import { MISSING_HOST, genReqId, missingHost, rawErrorResponse } from '../basics/request-id.js';

/** One scratch writer for all WebSocket tails (encoding is synchronous). */
const writer = new ByteWriter();

/**
 * The last JSON `lines` frame made and the line Buffers it encodes. Every
 * tail of an app is handed the same line Buffers in a tick (the hub's
 * batch), so viewers with the same filter (usually none) ask for the same
 * frame one after another: it is encoded once and the same bytes are sent
 * to each. A line Buffer is never changed after it is routed, so the same
 * Buffers in the same order mean the same frame; anything else is encoded.
 */
const memo: { recs: Buffer[]; frame: Buffer | null } = { recs: [], frame: null };

/** The JSON lines frame of recs[from, to), shared with the previous call when it had the same lines. */
export function linesFrame(recs: readonly Buffer[], from: number, to: number): Buffer {
  const n = to - from;
  const prev = memo.recs;
  if (memo.frame !== null && prev.length === n) {
    let i = 0;
    while (i < n && prev[i] === recs[from + i]) i++;
    if (i === n) return memo.frame;
  }
  writeLinesFrame(writer, recs, from, to);
  const frame = writer.take();
  prev.length = 0;
  for (let i = from; i < to; i++) prev.push(recs[i]!);
  memo.frame = frame;
  return frame;
}

export class WsTailSink implements TailSink, Heartbeat {
  readonly transport = Transport.WS;
  readonly #ws: WebSocket;
  readonly #text: boolean;
  readonly #clock: TimeSource;
  #drainCb: (() => void) | null = null;
  /** Pings sent since the last pong. */
  #unanswered = 0;

  constructor(ws: WebSocket, socket: Duplex, text: boolean, clock: TimeSource) {
    this.#ws = ws;
    this.#text = text;
    this.#clock = clock;
    socket.on('drain', () => {
      const cb = this.#drainCb;
      this.#drainCb = null;
      cb?.();
    });
    ws.on('pong', () => {
      this.#unanswered = 0;
    });
  }

  buffered(): number {
    return this.#ws.bufferedAmount;
  }

  onDrain(cb: () => void): void {
    this.#drainCb = cb;
  }

  hello(app: string, head: number): void {
    if (!this.#text) this.#ws.send(helloFrame(app, head));
  }

  writeLines(recs: readonly Buffer[], from: number, to: number): void {
    const ws = this.#ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (!this.#text) {
      ws.send(linesFrame(recs, from, to), { binary: false });
      return;
    }
    for (let i = from; i < to; i++) {
      writeTextLineUtf8(writer, recs[i]!);
      ws.send(writer.take(), { binary: false });
    }
  }

  writeGap(gap: Gap): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(this.#text ? l11Line(gap, this.#clock.now()) : gapFrame(gap));
  }

  finish(): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    if (!this.#text) this.#ws.send(END_FRAME);
    this.#ws.close(1000);
  }

  close(reason: 'shutdown' | 'deleted' | 'revoked'): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    if (reason === 'shutdown') {
      this.#ws.close(1001, 'server shutting down');
    } else if (reason === 'revoked') {
      this.#ws.close(1008, 'access revoked');
    } else {
      // no end frame: `end` says the history asked for was all sent (SPEC 5.3), which a
      // tail cut short by its app's deletion is not; the close reason says why it stopped
      this.#ws.close(1000, 'app deleted');
    }
  }

  ping(): void {
    const ws = this.#ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (this.#unanswered >= 2) {
      ws.terminate();
      return;
    }
    this.#unanswered++;
    ws.ping();
  }
}

const SESSION_PREFIX = '/sessions/';
/** Largest frame a client may send (SPEC 17); a bigger one closes the connection with 1009. */
export const WS_MAX_PAYLOAD = 64 * 1024;

/** The API's JSON error, with the Request-Id every response carries (SPEC 7), written on the socket before any upgrade. */
function reject(req: IncomingMessage, socket: Duplex, status: number, id: string, error: string, more = ''): void {
  socket.on('error', () => {});
  socket.end(rawErrorResponse(status, genReqId(req), id, error, more));
}

/** A session that cannot be opened here: over its key's or app's quota on this node (SPEC 17), the API's answer with Retry-After; else (unknown, expired, Redis failed) 404. */
function rejectFailed(req: IncomingMessage, socket: Duplex, err: unknown): void {
  if (err instanceof LimitError) reject(req, socket, err.status, err.id, err.message, `Retry-After: ${err.retryAfter}\r\n`);
  else reject(req, socket, 404, 'not_found', 'session not found or expired');
}

/**
 * A handshake ws refuses (method, Upgrade, Sec-WebSocket-Key or -Version) in
 * the API's error shape, not ws's text/html sentence; ws tells only the
 * sentence, and its one 405 is for the method.
 */
function rejectHandshake(err: Error, socket: Duplex, req: IncomingMessage): void {
  const status = req.method === 'GET' ? 400 : 405;
  // RFC 6455 4.4: a version we do not speak is answered with the ones we do
  const more = err.message.includes('Sec-WebSocket-Version') ? 'Sec-WebSocket-Version: 13, 8\r\n' : '';
  reject(req, socket, status, status === 405 ? 'method_not_allowed' : 'bad_request', `bad WebSocket handshake: ${err.message}`, more);
}

/** Accepts WebSocket upgrades for /sessions/:id and hands them to the tail service. */
export class WsGateway {
  readonly #service: TailService;
  readonly #server: HttpServer;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: WS_MAX_PAYLOAD, clientTracking: false });
  /** Tails closed for a client frame over WS_MAX_PAYLOAD (ws answers 1009). */
  readonly #tooLarge: { value: number };

  constructor(service: TailService, server: HttpServer) {
    this.#service = service;
    this.#server = server;
    this.#tooLarge = service.ctx.metrics.registry
      .counter('logplane_tail_ws_closed_total', 'WebSocket tails closed by us, by reason (frame_too_large: a client frame over 64 KiB, closed with 1009).', ['reason'])
      .labels('frame_too_large');
    // the 101 carries the Request-Id too (SPEC 7: every response)
    this.#wss.on('headers', (headers: string[], req: IncomingMessage) => headers.push(`Request-Id: ${genReqId(req)}`));
    this.#wss.on('wsClientError', rejectHandshake);
    server.on('upgrade', this.#onUpgrade);
  }

  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, remote = false): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const ours = path.startsWith(SESSION_PREFIX);
    // not ours; answer only if nobody else listens for upgrades
    if (!ours && this.#server.listenerCount('upgrade') !== 1) return;
    // refused as the HTTP API refuses it (api/errors.ts), before a session is looked up
    if (missingHost(req)) {
      reject(req, socket, 400, 'missing_host', MISSING_HOST);
      return;
    }
    if (!ours) {
      reject(req, socket, 404, 'not_found', `no route for GET ${path}`);
      return;
    }
    let id: string;
    try {
      id = decodeURIComponent(path.slice(SESSION_PREFIX.length));
    } catch {
      id = ''; // malformed escape: no such session
    }
    const found = id === '' ? null : this.#service.lookup(id);
    if (!found && id !== '' && !remote && this.#service.cluster) {
      // distributed mode: a session made on another node
      socket.on('error', () => {}); // a reset while we ask Redis must not throw
      void this.#service.lookupAnywhere(id).then(
        (f) => (f ? this.#onUpgrade(req, socket, head, true) : rejectFailed(req, socket, null)),
        (err: unknown) => rejectFailed(req, socket, err),
      );
      return;
    }
    if (!found) {
      reject(req, socket, 404, 'not_found', 'session not found or expired');
      return;
    }
    const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    const afterRaw = params.get('after');
    const after = afterRaw === null || afterRaw === '' ? null : parseSeq(afterRaw);
    if (after === undefined) {
      reject(req, socket, 400, 'invalid_params', 'after: must be a non-negative integer');
      return;
    }
    const format = params.get('format');
    if (format !== null && format !== 'json' && format !== 'text') {
      reject(req, socket, 400, 'invalid_params', 'format: must be json or text');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const sink = new WsTailSink(ws, socket, format === 'text', this.#service.options.clock);
      ws.on('error', (err: Error & { code?: string }) => {
        // peer reset, bad frame: 'close' follows; a frame over the cap is a client over a limit (SPEC 17), counted
        if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.#tooLarge.value++;
      });
      // the session may have expired while the handshake ran; look again
      const now = this.#service.lookup(found.session.id);
      if (!now) {
        ws.close(1008, 'session expired');
        return;
      }
      const tail = this.#service.open(now.session, now.app, sink, after);
      ws.on('close', () => tail.close());
    });
  };

  close(): void {
    this.#server.off('upgrade', this.#onUpgrade);
    this.#wss.close();
  }
}
