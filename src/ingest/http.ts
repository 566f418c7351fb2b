// Logplex HTTP input: POST /logs with octet-counted frames (SPEC 3.1), what
// log-shuttle and Logplex-style shippers send.
//
//   onRequest:  token (Basic auth password) -> 401; Content-Type and
//               Content-Encoding -> 415. Nothing of the body is read yet.
//   parse:      fastify reads the raw body (bodyLimit -> 413; chunked is fine).
//   handler:    Frame-Id seen for this token -> 204; gunzip with an output
//               cap (-> 413); one framing + header-scan pass over the whole
//               body that keeps every frame's offsets in a reused Int32Array
//               (any bad frame -> 400 naming it, nothing stored); count
//               header check (-> 400); then route every frame (with
//               ingest workers: in routing turns of at most 4,096 lines,
//               pool.ts); 204 once all are routed.
//   stop:       the requests taken are answered (bounded: server.ts) or
//               nothing of them is stored (settle), so a request is stored
//               only if answered and a shipper's retry is never a copy.
//
// Error bodies are one plain-text sentence, as Logplex answers (log shippers
// log them verbatim); a client that sends `Accept: application/json` gets the
// API's `{"id","error"}` with the same sentence. Tokens and line content are
// never logged.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { gunzip } from 'node:zlib';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { TokenEntry } from '../apps.js';
import type { TimeSource } from '../basics/clock.js';
import type { Context } from '../context.js';
import { LogplaneError } from '../errors.js';
import type { Child } from '../obs/metrics.js';
import { routeMessage } from './route-writer.js';
import { FrameIdCache, FRAME_ID_MAX_LENGTH, type FrameIdCacheOptions } from './frame-ids.js';
import { LogplexBody } from './logplex-body.js';
import { isLocalNotice, NOTICE_SOURCE } from './local-notice.js';
import type { IngestPool } from './pool.js';

export const LOGPLEX_CONTENT_TYPES = ['application/logplex-1', 'application/x-logplex-1'] as const;
export const COUNT_MISMATCH = 'Message count mismatch';

/** Why a request was refused: the `reason` label of logplane_ingest_dropped_total{transport="http"}. */
export const HttpDropReason = {
  MALFORMED: 'malformed',
  UNKNOWN_TOKEN: 'unknown_token',
  COUNT_MISMATCH: 'count_mismatch',
  TOO_LARGE: 'too_large',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  DUPLICATE: 'duplicate',
} as const;
export type HttpDropReason = (typeof HttpDropReason)[keyof typeof HttpDropReason];

export interface HttpIngestOptions {
  /** Clock for the Frame-Id table (tests). */
  clock?: TimeSource;
  /** Most Frame-Ids remembered at once. */
  maxFrameIds?: number;
  /** Parse and cook bodies in ingest workers (null: on this thread). */
  pool?: IngestPool | null;
}

/** What answering needs of a request: fastify's, or the lean front's (http-front.ts). */
export interface IngestRequest {
  readonly id: string;
  readonly headers: IncomingHttpHeaders;
}
/** What answering needs of a reply: fastify's, or the lean front's. */
export interface IngestReply {
  /** node:http's response (followed until it closes, for a graceful stop). */
  readonly raw: ServerResponse;
  header(name: string, value: string): unknown;
  code(status: number): IngestReply;
  type(contentType: string): IngestReply;
  send(body?: string): unknown;
}

const EMPTY = Buffer.alloc(0);
export const ENC_IDENTITY = 0;
export const ENC_GZIP = 1;
export const ENC_UNSUPPORTED = -1;

/** The token of `Authorization: Basic base64(user:token)`; the user part is ignored. */
export function basicToken(header: string | undefined): string | null {
  if (header === undefined || header.length < 7) return null;
  if (header.charCodeAt(5) !== 0x20 || header.slice(0, 5).toLowerCase() !== 'basic') return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  const token = colon === -1 ? decoded : decoded.slice(colon + 1);
  return token.length > 0 ? token : null;
}

/** True for application/logplex-1 and application/x-logplex-1, with or without parameters. */
export function isLogplexContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const semi = header.indexOf(';');
  const t = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  return t === LOGPLEX_CONTENT_TYPES[0] || t === LOGPLEX_CONTENT_TYPES[1];
}

export function encodingOf(header: string | undefined): number {
  if (header === undefined) return ENC_IDENTITY;
  const e = header.trim().toLowerCase();
  if (e === '' || e === 'identity') return ENC_IDENTITY;
  if (e === 'gzip' || e === 'x-gzip') return ENC_GZIP;
  return ENC_UNSUPPORTED;
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Logplex-Msg-Count as a number; NaN when it is not a plain decimal count. */
function parseCount(v: string): number {
  const s = v.trim();
  if (s.length === 0 || s.length > 9) return NaN;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return NaN;
    n = n * 10 + c;
  }
  return n;
}

class HttpIngestCounters {
  readonly lines: Child;
  readonly bytes: Child;
  /** Lines of accepted requests that the app's rate limit dropped (not in `lines`). */
  readonly rateLimited: Child;
  readonly #dropped = new Map<HttpDropReason, Child>();
  readonly #codes = new Map<number, Child>();
  readonly #ctx: Context;
  constructor(ctx: Context) {
    this.#ctx = ctx;
    this.lines = ctx.metrics.ingestLines.labels('http');
    this.bytes = ctx.metrics.ingestBytes.labels('http');
    this.rateLimited = ctx.metrics.ingestDropped.labels('http', 'rate_limited');
    for (const r of Object.values(HttpDropReason)) this.#dropped.set(r, ctx.metrics.ingestDropped.labels('http', r));
  }
  dropped(r: HttpDropReason): Child {
    return this.#dropped.get(r)!;
  }
  code(status: number): Child {
    let c = this.#codes.get(status);
    if (c === undefined) {
      c = this.#ctx.metrics.ingestRequests.labels(String(status));
      this.#codes.set(status, c);
    }
    return c;
  }
}

/** Has a body the server would still have to read (for early answers). */
function hasBody(req: FastifyRequest): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

export class HttpIngest {
  readonly #ctx: Context;
  readonly #c: HttpIngestCounters;
  readonly #ids: FrameIdCache;
  readonly #body = new LogplexBody();
  /** The token that authenticated each request, from onRequest to the handler. */
  readonly #auth = new WeakMap<FastifyRequest, TokenEntry>();
  readonly #maxBody: number;
  readonly #pool: IngestPool | null;
  /**
   * Requests taken (their headers passed) whose responses have not closed:
   * true once the request's body is being stored. A graceful stop waits for
   * them (settle).
   */
  readonly #open = new Map<ServerResponse, boolean>();
  readonly #onClose: (this: ServerResponse) => void;
  /** Set when settle()'s wait is over: nothing is stored any more. */
  #stopping = false;

  constructor(ctx: Context, opts: HttpIngestOptions = {}) {
    this.#ctx = ctx;
    this.#pool = opts.pool ?? null;
    const open = this.#open;
    this.#onClose = function (this: ServerResponse) {
      open.delete(this);
    };
    this.#c = new HttpIngestCounters(ctx);
    this.#maxBody = ctx.config.maxBodyBytes;
    const idOpts: FrameIdCacheOptions = { ttlMs: ctx.config.frameIdTtlMs };
    if (opts.maxFrameIds !== undefined) idOpts.maxEntries = opts.maxFrameIds;
    if (opts.clock !== undefined) idOpts.clock = opts.clock;
    this.#ids = new FrameIdCache(idOpts);
  }

  /** Token, Content-Type and Content-Encoding, before any of the body is read. */
  readonly onRequest = (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const token = basicToken(headerValue(req.headers.authorization));
    const entry = token === null ? undefined : this.#ctx.registry.tokens.get(token);
    if (entry === undefined) {
      reply.header('WWW-Authenticate', 'Basic realm=Logplex');
      this.#early(req, reply);
      this.#reject(req, reply, 401, HttpDropReason.UNKNOWN_TOKEN, 'unauthorized', token === null ? 'Missing or malformed Basic credentials' : 'Unknown token');
      return;
    }
    if (!isLogplexContentType(req.headers['content-type'])) {
      this.#early(req, reply);
      this.#reject(req, reply, 415, HttpDropReason.UNSUPPORTED_MEDIA_TYPE, 'unsupported_media_type', 'Content-Type must be application/logplex-1');
      return;
    }
    if (encodingOf(headerValue(req.headers['content-encoding'])) === ENC_UNSUPPORTED) {
      this.#early(req, reply);
      this.#reject(req, reply, 415, HttpDropReason.UNSUPPORTED_MEDIA_TYPE, 'unsupported_media_type', 'Content-Encoding must be gzip or identity');
      return;
    }
    this.#auth.set(req, entry);
    this.track(reply.raw);
    done();
  };

  /** A request taken (by the lean front, or fastify's past onRequest): followed until its response closes. */
  track(res: ServerResponse): void {
    this.#open.set(res, false);
    res.on('close', this.#onClose);
  }

  /**
   * Graceful stop, once the server takes no new requests: wait (at most
   * answerMs) until every request taken is answered; then store nothing more
   * (a body parsed later is answered 503 if its connection is still there,
   * which it is not for long: the server closes them next, and the sender
   * retries), so a request is stored only if it is answered. Bodies already
   * being stored are routed to the end and answered first (at most storeMs).
   */
  async settle(answerMs: number, storeMs: number): Promise<void> {
    const open = this.#open;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let deadline = Date.now() + answerMs;
    while (open.size > 0 && Date.now() < deadline) await sleep(10);
    this.#stopping = true;
    const storing = (): boolean => {
      for (const s of open.values()) if (s) return true;
      return false;
    };
    deadline = Date.now() + storeMs;
    while (storing() && Date.now() < deadline) await sleep(5);
    // storing: bodies routed whose 204 could not be written in time (the one case stored but not answered)
    if (open.size > 0) this.#ctx.log.warn({ at: 'ingest.http_unanswered', requests: open.size, storing: storing() }, 'POST /logs requests not answered before the stop: their connections are closed, nothing of them stored');
  }

  readonly handle = (req: FastifyRequest, reply: FastifyReply): void => {
    const entry = this.#auth.get(req);
    if (entry === undefined) {
      this.#reject(req, reply, 401, HttpDropReason.UNKNOWN_TOKEN, 'unauthorized', 'Unknown token');
      return;
    }
    this.body(req, reply, entry, Buffer.isBuffer(req.body) ? req.body : EMPTY);
  };

  /** A request whose token, Content-Type and Content-Encoding passed, with its whole body. */
  body(req: IngestRequest, reply: IngestReply, entry: TokenEntry, raw: Buffer): void {
    const key = this.#frameKey(req, entry);
    if (key !== null && this.#ids.has(key)) {
      this.#duplicate(reply);
      return;
    }
    if (raw.length === 0 || encodingOf(headerValue(req.headers['content-encoding'])) !== ENC_GZIP) {
      this.#accept(req, reply, entry, raw, key);
      return;
    }
    gunzip(raw, { maxOutputLength: this.#maxBody }, (err, body) => {
      if (err === null) this.#accept(req, reply, entry, body, key);
      else if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') this.#reject(req, reply, 413, HttpDropReason.TOO_LARGE, 'body_too_large', `Decompressed body larger than ${this.#maxBody} bytes`);
      else this.#reject(req, reply, 400, HttpDropReason.MALFORMED, 'invalid_gzip', 'Body is not valid gzip');
    });
  }

  /** Errors raised while fastify reads the body (size limit, bad Content-Length, aborted), or by the server's own hooks (a missing Host: api/errors.ts). */
  readonly onError = (err: FastifyError | LogplaneError, req: FastifyRequest, reply: FastifyReply): void => {
    if (err instanceof LogplaneError) this.#reject(req, reply, err.status, HttpDropReason.MALFORMED, err.id, err.message);
    else this.failed(req, reply, err);
  };

  /** A request that failed while its body was read or handed to a worker (fastify's error codes). */
  failed(req: IngestRequest, reply: IngestReply, err: { code?: string; statusCode?: number; message: string }): void {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      this.#reject(req, reply, 413, HttpDropReason.TOO_LARGE, 'body_too_large', `Body larger than ${this.#maxBody} bytes`);
      return;
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      this.#reject(req, reply, 415, HttpDropReason.UNSUPPORTED_MEDIA_TYPE, 'unsupported_media_type', 'Content-Type must be application/logplex-1');
      return;
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      this.#reject(req, reply, status, HttpDropReason.MALFORMED, 'bad_request', err.message);
      return;
    }
    this.#ctx.log.error({ at: 'ingest.http_error', reqId: req.id, err: err.message }, 'http ingest request failed');
    this.#c.code(500).value++;
    this.#send(req, reply, 500, 'internal_error', 'Internal error');
  }

  /** Validate every frame, check the count, then store them all: in a worker when there is a pool. */
  #accept(req: IngestRequest, reply: IngestReply, authed: TokenEntry, body: Buffer, key: string | null): void {
    if (this.#stopping) {
      this.#unavailable(req, reply);
      return;
    }
    if (this.#pool === null) {
      this.#acceptHere(req, reply, authed, body, key);
      return;
    }
    this.#pool.parseHttp(authed.app, authed.name, body, Date.now()).then(
      ({ result, cooked }) => {
        if (this.#stopping) {
          // the stop's wait for this request is over: not stored
          if (cooked !== null) this.#pool!.discardCooked(cooked);
          this.#unavailable(req, reply);
          return;
        }
        if (!result.ok) {
          this.#reject(req, reply, 400, HttpDropReason.MALFORMED, 'malformed_frame', `Malformed frame ${result.errorFrame} at byte ${result.errorOffset}: ${result.errorText}`);
          return;
        }
        if (this.#mayStore(req, reply, authed, result.frames, key) === null) {
          if (cooked !== null) this.#pool!.discardCooked(cooked);
          return;
        }
        // stored from here on, in routing turns: a retry of this Frame-Id meanwhile is a duplicate
        if (key !== null) this.#ids.add(key);
        if (this.#open.has(reply.raw)) this.#open.set(reply.raw, true);
        if (cooked === null) {
          this.#stored(reply, result.lines, result.bytes, null);
          return;
        }
        this.#pool!.routeCooked(cooked, (limited) => {
          // lines the app's rate limit drops are counted as such, not as accepted
          if (limited > 0) this.#c.rateLimited.value += limited;
          this.#stored(reply, result.lines - limited, result.bytes, null);
        });
      },
      (err: Error) => {
        if (this.#stopping) this.#unavailable(req, reply);
        else this.failed(req, reply, Object.assign(err, { statusCode: 503 }) as FastifyError);
      },
    );
  }

  /**
   * After a body parsed fine: the count header, the token still valid, not a
   * duplicate. Returns the token's current entry, or answers and returns null.
   */
  #mayStore(req: IngestRequest, reply: IngestReply, authed: TokenEntry, frames: number, key: string | null): TokenEntry | null {
    const countHeader = headerValue(req.headers['logplex-msg-count']);
    if (countHeader !== undefined && parseCount(countHeader) !== frames) {
      this.#reject(req, reply, 400, HttpDropReason.COUNT_MISMATCH, 'count_mismatch', COUNT_MISMATCH);
      return null;
    }
    // The app may have changed (or the token been revoked) while the body arrived.
    const entry = this.#ctx.registry.tokens.get(authed.token);
    if (entry === undefined || entry.app !== authed.app) {
      reply.header('WWW-Authenticate', 'Basic realm=Logplex');
      this.#reject(req, reply, 401, HttpDropReason.UNKNOWN_TOKEN, 'unauthorized', 'Unknown token');
      return null;
    }
    if (key !== null && this.#ids.has(key)) {
      this.#duplicate(reply);
      return null;
    }
    return entry;
  }

  #stored(reply: IngestReply, lines: number, bytes: number, key: string | null): void {
    this.#c.lines.value += lines;
    this.#c.bytes.value += bytes;
    if (key !== null) this.#ids.add(key);
    this.#c.code(204).value++;
    reply.code(204).send();
  }

  #acceptHere(req: IngestRequest, reply: IngestReply, authed: TokenEntry, body: Buffer, key: string | null): void {
    const b = this.#body;
    try {
      if (!b.scan(body)) {
        this.#reject(req, reply, 400, HttpDropReason.MALFORMED, 'malformed_frame', `Malformed frame ${b.errorFrame} at byte ${b.errorOffset}: ${b.errorText}`);
        return;
      }
      const entry = this.#mayStore(req, reply, authed, b.count, key);
      if (entry === null) return;
      const now = Date.now();
      const limited = this.#c.rateLimited;
      // logplane run's L12 / L13 line: source heroku whatever the token (local-notice.ts), as in a worker
      const lines = b.forEachFrame((h, buf) => routeMessage(entry, h, buf, now, limited, this.#ctx.registry.tokens, isLocalNotice(h, buf) ? NOTICE_SOURCE : entry.nameBuf));
      this.#stored(reply, lines, b.bytes, key);
    } finally {
      b.release();
    }
  }

  /** The dedupe key of this request (Logplex-Frame-Id, else X-Request-Id), or null. */
  #frameKey(req: IngestRequest, entry: TokenEntry): string | null {
    if (!this.#ids.enabled) return null;
    const id = headerValue(req.headers['logplex-frame-id']) ?? headerValue(req.headers['x-request-id']);
    if (id === undefined || id.length === 0 || id.length > FRAME_ID_MAX_LENGTH) return null;
    return FrameIdCache.key(entry.token, id);
  }

  /** The server is stopping and stores nothing more: the sender should retry (here after the restart, or elsewhere). */
  #unavailable(req: IngestRequest, reply: IngestReply): void {
    this.#c.code(503).value++;
    reply.header('Connection', 'close');
    this.#send(req, reply, 503, 'unavailable', 'Server is stopping');
  }

  #duplicate(reply: IngestReply): void {
    this.#c.dropped(HttpDropReason.DUPLICATE).value++;
    this.#c.code(204).value++;
    reply.code(204).send();
  }

  /**
   * Answering before the body is read: Node then reads and discards it. A body
   * that is chunked or over the limit is not worth reading; close instead.
   */
  #early(req: FastifyRequest, reply: FastifyReply): void {
    if (!hasBody(req)) return;
    const cl = Number(req.headers['content-length']);
    if (!(cl <= this.#maxBody)) reply.header('Connection', 'close');
  }

  #reject(req: IngestRequest, reply: IngestReply, status: number, reason: HttpDropReason, id: string, message: string): void {
    this.#c.dropped(reason).value++;
    this.#c.code(status).value++;
    this.#ctx.log.debug({ at: 'ingest.http_rejected', reqId: req.id, status, reason }, 'http ingest request rejected');
    this.#send(req, reply, status, id, message);
  }

  #send(req: IngestRequest, reply: IngestReply, status: number, id: string, message: string): void {
    const accept = req.headers.accept;
    if (accept !== undefined && accept.includes('application/json')) {
      reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify({ id, error: message }));
    } else {
      reply.code(status).type('text/plain; charset=utf-8').send(message);
    }
  }
}

function passBuffer(_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void): void {
  done(null, body);
}

export function registerHttpIngest(app: FastifyInstance, ctx: Context, opts: HttpIngestOptions = {}): HttpIngest {
  const ingest = new HttpIngest(ctx, opts);
  const bodyLimit = ctx.config.maxBodyBytes;
  // Encapsulated: the logplex parsers exist only for this route; other routes keep their JSON parsing.
  void app.register(async (sub) => {
    sub.addContentTypeParser([...LOGPLEX_CONTENT_TYPES], { parseAs: 'buffer', bodyLimit }, passBuffer);
    sub.route({
      method: 'POST',
      url: '/logs',
      bodyLimit,
      onRequest: ingest.onRequest,
      errorHandler: ingest.onError,
      handler: ingest.handle,
    });
  });
  return ingest;
}
