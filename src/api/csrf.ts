// Requests a web page of another site can make a browser send (cross-site
// request forgery), refused before the key is even looked at. A browser that
// holds credentials for this server (a Basic prompt answered once) sends them
// with any request to it, forged ones included; a page cannot read the
// answer, but a change (a drain that ships every log line to the attacker) is
// done by then. Two rules, each enough against an HTML form (docs/api.md
// "Requests from web pages"):
//   - a change (POST, PUT, PATCH, DELETE) the browser says comes from another
//     site is 403: `Sec-Fetch-Site` other than same-origin or none (typed in
//     the address bar), or, from a browser that does not send it, an `Origin`
//     that is neither the server's public URL nor the Host the request
//     names (the same rule as Go's net/http CrossOriginProtection). A client
//     that is no browser sends neither header and is not concerned;
//   - a change from a browser (it names an Origin, a Referer or a
//     Sec-Fetch-Site/-Dest header) whose declared type is one an HTML form can send
//     (the CORS-safelisted text/plain, application/x-www-form-urlencoded,
//     multipart/form-data, which need no preflight) is 415: bodies are JSON.
//     Any other type, or none, is still read as JSON (scope.ts): a page can
//     send those to another site only through fetch, which always sends
//     Origin and Sec-Fetch-Site. A client that is no browser (curl -d, whose
//     type is a form's, as Logplex's own examples use it) is read as JSON.
import type { FastifyRequest } from 'fastify';
import { ErrorCode, LogplaneError } from '../errors.js';

const CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const FORM_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);

/** 403: a change from a web page of another site. */
export class CrossOriginError extends LogplaneError {
  constructor(from: string) {
    super(ErrorCode.UNAUTHORIZED, 403, 'cross_origin', `forbidden: a web page of another site (${from}) may not change anything here; use a client that is no browser, or the console this server serves`);
    this.name = 'CrossOriginError';
  }
}

/** 415: a change whose body has a type an HTML form can send. */
export class FormTypeError extends LogplaneError {
  constructor(type: string) {
    super(ErrorCode.BAD_REQUEST, 415, 'unsupported_media_type', `unsupported Content-Type ${JSON.stringify(type)}: send the JSON body as application/json (a type an HTML form can send is refused)`);
    this.name = 'FormTypeError';
  }
}

/** Why this request may be a forgery (null: it is not a change, or is not one a web page of another site could make). */
export function forgery(req: FastifyRequest, publicUrl: string): LogplaneError | null {
  if (!CHANGING.has(req.method)) return null;
  const from = anotherSite(req, publicUrl);
  if (from !== null) return new CrossOriginError(from);
  const type = req.headers['content-type'];
  if (type !== undefined && fromBrowser(req) && FORM_TYPES.has(type.split(';')[0]!.trim().toLowerCase())) return new FormTypeError(type);
  return null;
}

/**
 * A browser names where a request comes from (an HTML form's post: Origin,
 * Referer, Sec-Fetch-Site and -Dest); curl and other programs name none of
 * these. (Not Sec-Fetch-Mode: Node's own fetch sends that one.)
 */
function fromBrowser(req: FastifyRequest): boolean {
  const h = req.headers;
  return h.origin !== undefined || h.referer !== undefined || h['sec-fetch-site'] !== undefined || h['sec-fetch-dest'] !== undefined;
}

/** The other site the browser names as the request's source, or null when it names none. */
function anotherSite(req: FastifyRequest, publicUrl: string): string | null {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? null : `Sec-Fetch-Site: ${site}`;
  const origin = req.headers.origin;
  if (origin === undefined || ownOrigin(origin, req.headers.host, publicUrl)) return null;
  return `Origin: ${origin}`;
}

function ownOrigin(origin: string, host: string | undefined, publicUrl: string): boolean {
  try {
    const o = new URL(origin);
    // no Host or an empty one (HTTP/1.0; HTTP/1.1 is refused without, api/errors.ts) names no origin
    return (publicUrl !== '' && o.origin === new URL(publicUrl).origin) || (!!host && o.host === host);
  } catch {
    // `null` (a sandboxed frame, a redirect across sites) or not a URL
    return false;
  }
}
