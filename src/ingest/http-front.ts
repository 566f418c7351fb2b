// The lean front of POST /logs, ahead of fastify on the same node:http
// server. The common request (POST /logs with a known token, a Logplex
// Content-Type, no Content-Encoding or identity, a Content-Length within the
// limit, no Expect, a Host) is read and answered here on node:http's own request and
// response; its body goes through HttpIngest.body like fastify's, so the
// answers, counts and limits are the same. Anything else (another route, a
// bad token, gzip, chunked, too large, the server closing) goes to fastify
// untouched, before any of its body is read, and is answered there.
//
// What it saves per request: fastify's routing, hooks (an async one), request
// and reply objects, and the body's chunk list and concat (read into one
// buffer of its own that grows as the body arrives, BodyBuffer, which is then
// handed to a worker without a copy).
// With 500-line bodies on 4 connections that was a tenth of the server's CPU.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Context } from '../context.js';
import { basicToken, encodingOf, ENC_IDENTITY, headerValue, isLogplexContentType, type HttpIngest, type IngestReply, type IngestRequest } from './http.js';

export interface IngestFrontOptions {
  /** The request id of a request (the API's Request-Id header). */
  requestId: (req: IncomingMessage) => string;
}

/** node:http's response behind the few calls HttpIngest answers with. */
class FrontReply implements IngestReply {
  readonly raw: ServerResponse;
  readonly #res: ServerResponse;
  readonly #headers: Record<string, string | number>;
  #status = 200;
  constructor(res: ServerResponse, id: string) {
    this.raw = res;
    this.#res = res;
    this.#headers = { 'request-id': id };
  }
  header(name: string, value: string): this {
    this.#headers[name.toLowerCase()] = value;
    return this;
  }
  code(status: number): this {
    this.#status = status;
    return this;
  }
  type(contentType: string): this {
    this.#headers['content-type'] = contentType;
    return this;
  }
  send(body?: string): void {
    if (body !== undefined) this.#headers['content-length'] = Buffer.byteLength(body);
    this.#res.writeHead(this.#status, this.#headers);
    this.#res.end(body);
  }
}

/** The least a body buffer starts with (or the declared size when smaller). */
export const BODY_START = 64 * 1024;

/**
 * A body of a declared size, read into one buffer that grows as bytes arrive
 * (to twice what has arrived, at least BODY_START, at most the declared size):
 * what a request holds follows what it has sent, never what it declared, so
 * connections that declare the maximum and send a byte reserve 64 KiB each,
 * not the maximum (SPEC 17). Growing copies at most the body's size in all,
 * and a body read in one or two reads (the common case) is allocated once.
 * Complete, the buffer is the body exactly, with an ArrayBuffer of its own
 * (handed to a worker without a copy).
 */
export class BodyBuffer {
  readonly size: number;
  #buf: Buffer | null = null;
  /** Bytes arrived (over size: the body did not match its Content-Length). */
  got = 0;

  constructor(size: number) {
    this.size = size;
  }

  add(chunk: Buffer): void {
    const end = this.got + chunk.length;
    if (end <= this.size) {
      this.#reserve(end);
      chunk.copy(this.#buf!, this.got);
    }
    this.got = end;
  }

  /** The bytes reserved so far. */
  get reserved(): number {
    return this.#buf?.length ?? 0;
  }

  /** The body, once all of it arrived (got === size). */
  get body(): Buffer {
    return this.#buf!;
  }

  #reserve(end: number): void {
    if (end <= this.reserved) return;
    const next = Buffer.allocUnsafeSlow(Math.min(this.size, Math.max(2 * end, BODY_START)));
    this.#buf?.copy(next, 0, 0, this.got);
    this.#buf = next;
  }
}

const BODY_SIZE_MISMATCH = { code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', statusCode: 400, message: 'Request body size did not match Content-Length' };

export class IngestFront {
  readonly #ctx: Context;
  readonly #ingest: HttpIngest;
  readonly #maxBody: number;
  readonly #requestId: (req: IncomingMessage) => string;
  /** Set when the server starts closing: fastify answers 503 from then on. */
  closing = false;

  constructor(ctx: Context, ingest: HttpIngest, opts: IngestFrontOptions) {
    this.#ctx = ctx;
    this.#ingest = ingest;
    this.#maxBody = ctx.config.maxBodyBytes;
    this.#requestId = opts.requestId;
  }

  /** Serve req here when it is the common case; false: fastify's. */
  take(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST' || req.url !== '/logs' || this.closing) return false;
    const h = req.headers;
    // no Host: fastify answers (400 for HTTP/1.1, api/errors.ts)
    if (!h.host || h['transfer-encoding'] !== undefined || h.expect !== undefined || h['content-length'] === undefined) return false;
    const n = Number(h['content-length']);
    if (!(Number.isInteger(n) && n > 0 && n <= this.#maxBody)) return false;
    if (!isLogplexContentType(h['content-type']) || encodingOf(headerValue(h['content-encoding'])) !== ENC_IDENTITY) return false;
    const token = basicToken(headerValue(h.authorization));
    const entry = token === null ? undefined : this.#ctx.registry.tokens.get(token);
    if (entry === undefined) return false;

    const r: IngestRequest = { id: this.#requestId(req), headers: h };
    const reply = new FrontReply(res, r.id);
    // a graceful stop waits for it to be answered
    this.#ingest.track(res);
    const body = new BodyBuffer(n);
    let failed = false;
    req.on('data', (chunk: Buffer) => body.add(chunk));
    req.on('end', () => {
      if (failed) return;
      if (body.got !== n) this.#ingest.failed(r, reply, BODY_SIZE_MISMATCH);
      else this.#ingest.body(r, reply, entry, body.body);
    });
    req.on('error', (err: Error) => {
      // aborted: answered as fastify would (the client is gone)
      if (failed) return;
      failed = true;
      this.#ingest.failed(r, reply, { statusCode: 400, message: err.message });
    });
    return true;
  }

  /** Put the front ahead of the server's request listener (fastify's). */
  install(server: Server): void {
    const behind = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.take(req, res)) return;
      for (const l of behind) l.call(server, req, res);
    });
  }
}
