// The Request-Id every response carries (SPEC 7): the client's, if sane, else
// a new one. Here, below api/ and tail/, because both answer requests (the
// WebSocket gateway refuses upgrades before the API sees them), and the
// HTTP/1.1 Host rule both apply.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';

const REQUEST_ID = /^[A-Za-z0-9._:@\-]{1,200}$/;

/** Request-Id: the client's (Request-Id or X-Request-Id) if sane, else a new uuid. */
export function genReqId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const h = req.headers['request-id'] ?? req.headers['x-request-id'];
  const v = Array.isArray(h) ? h[0] : h;
  return v && REQUEST_ID.test(v) ? v : randomUUID();
}

/**
 * HTTP/1.1 requires Host (RFC 9112 section 3.2: 400 without one, or with an
 * empty one, as Node's own check had it). Node's check (requireHostHeader,
 * off in server.ts) answered an empty 400 without Request-Id before any
 * route; this one answers in the API's shape, ahead of every route's own
 * hooks, so nothing behind it (the CSRF rule's Host, csrf.ts) meets an
 * HTTP/1.1 request without one.
 */
export function missingHost(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && !req.headers.host;
}

/** The answer to a request missingHost refuses (the WebSocket gateway's too, tail/ws.ts; api/errors.ts's onRequest hook). */
export const MISSING_HOST = 'bad request: HTTP/1.1 requires a Host header';

/**
 * A whole HTTP/1.1 error response in the API's shape (`{"id", "error"}`,
 * Request-Id, Connection: close), for the answers written on a raw socket
 * before any route sees the request: Node's parser errors (api/errors.ts)
 * and refused WebSocket upgrades (tail/ws.ts). moreHeaders: CRLF-terminated.
 */
export function rawErrorResponse(status: number, requestId: string, id: string, error: string, moreHeaders = ''): string {
  const body = JSON.stringify({ id, error });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nRequest-Id: ${requestId}\r\n${moreHeaders}Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
