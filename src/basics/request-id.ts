// The Request-Id every response carries (SPEC 7): the client's, if sane, else
// a new one. Here, below api/ and tail/, because both answer requests (the
// WebSocket gateway refuses upgrades before the API sees them).
import { randomUUID } from 'node:crypto';

const REQUEST_ID = /^[A-Za-z0-9._:@\-]{1,200}$/;

/** Request-Id: the client's (Request-Id or X-Request-Id) if sane, else a new uuid. */
export function genReqId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const h = req.headers['request-id'] ?? req.headers['x-request-id'];
  const v = Array.isArray(h) ? h[0] : h;
  return v && REQUEST_ID.test(v) ? v : randomUUID();
}
