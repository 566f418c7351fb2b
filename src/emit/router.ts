// Heroku router lines (SPEC 14): `heroku router` lines in Heroku's format,
// fields in the order Heroku prints them:
//   at=info method=GET path="/" host=myapp.example.com request_id=... fwd="1.2.3.4"
//   dyno=web.1 connect=1ms service=3ms status=200 bytes=512 protocol=https
// with `at=error code=H12 desc="Request timeout"` first for an error. A field
// the caller does not know is written empty (`connect=`), as Heroku's router
// does for a request that never reached a dyno (H10, H14...). A number field
// that is not one (NaN, negative, a string, status outside 100-599) is
// refused (LPX_ERR_BAD_REQUEST), never written empty or as `1e+30`.
import type { App } from '../apps.js';
import { BadRequestError } from '../errors.js';
import type { Publisher } from './publish.js';

/** One request as the platform's router saw it. connect and service in milliseconds. */
export interface RouterFields {
  method?: string;
  path?: string;
  host?: string;
  request_id?: string;
  fwd?: string;
  dyno?: string;
  connect?: number;
  service?: number;
  status?: number;
  bytes?: number;
  protocol?: string;
  /** Heroku error code (`H12`): the line becomes `at=error code=H12 desc="..."`. */
  code?: string;
  /** The error's description; default: Heroku's for the code (`Request timeout` for H12). */
  desc?: string;
}

/** Heroku's router error codes and their descriptions (devcenter "Heroku Error Codes"). */
export const ROUTER_ERRORS: Readonly<Record<string, string>> = {
  H10: 'App crashed',
  H11: 'Backlog too deep',
  H12: 'Request timeout',
  H13: 'Connection closed without response',
  H14: 'No web dynos running',
  H15: 'Idle connection',
  H17: 'Poorly formatted HTTP response',
  H18: 'Server Request Interrupted',
  H19: 'Backend connection timeout',
  H20: 'App boot timeout',
  H21: 'Backend connection refused',
  H22: 'Connection limit reached',
  H23: 'Endpoint misconfigured',
  H24: 'Forced close',
  H25: 'HTTP Restriction',
  H26: 'Request Error',
  H27: 'Client Request Interrupted',
  H28: 'Client Connection Idle',
  H31: 'Misdirected Request',
  H80: 'Maintenance mode',
  H81: 'Blank app',
  H99: 'Platform error',
};

/** PRI of router lines: local3.info, as Heroku's router sends them. */
export const ROUTER_PRI = 158;

/** A bare value: no spaces or control characters (they would end the field). */
function bare(v: string | undefined): string {
  if (v === undefined) return '';
  let out = '';
  for (const ch of v) {
    const c = ch.codePointAt(0)!;
    out += c <= 0x20 || c === 0x7f ? encodeURIComponent(ch) : ch;
  }
  return out;
}

/** A quoted value: `"` and control characters percent-encoded (a quote would end it, a LF would split the line). */
function quoted(v: string | undefined): string {
  if (v === undefined) return '""';
  let out = '';
  for (const ch of v) {
    const c = ch.codePointAt(0)!;
    out += c < 0x20 || c === 0x7f || c === 0x22 ? encodeURIComponent(ch) : ch;
  }
  return `"${out}"`;
}

/** connect or service: milliseconds, a finite number from 0, written rounded (`3ms`); absent: empty. */
function ms(name: string, v: number | undefined): string {
  if (v === undefined) return '';
  if (typeof v !== 'number' || !(v >= 0) || !Number.isSafeInteger(Math.round(v))) throw new BadRequestError(`${name}: must be a number of milliseconds, 0 or more`, 'invalid_params');
  return `${Math.round(v)}ms`;
}

/** status or bytes: a whole number from min to max; absent: empty. */
function int(name: string, v: number | undefined, min: number, max: number): string {
  if (v === undefined) return '';
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new BadRequestError(`${name}: must be a whole number from ${min} to ${max}`, 'invalid_params');
  return String(v);
}

/** The message of a router line, exactly as Heroku's router writes it. */
export function formatRouter(f: RouterFields): string {
  const head = f.code !== undefined ? `at=error code=${bare(f.code)} desc=${quoted(f.desc ?? ROUTER_ERRORS[f.code] ?? '')} ` : 'at=info ';
  return (
    `${head}method=${bare(f.method)} path=${quoted(f.path)} host=${bare(f.host)} request_id=${bare(f.request_id)} fwd=${quoted(f.fwd)} ` +
    `dyno=${bare(f.dyno)} connect=${ms('connect', f.connect)} service=${ms('service', f.service)} status=${int('status', f.status, 100, 599)} bytes=${int('bytes', f.bytes, 0, Number.MAX_SAFE_INTEGER)} protocol=${bare(f.protocol)}`
  );
}

/** Publish a router line to app (source heroku, dyno router). */
export function emitRouter(publisher: Publisher, app: App, f: RouterFields, time?: Date | number): number {
  return publisher.publish(app, { source: 'heroku', dyno: 'router', msg: formatRouter(f), pri: ROUTER_PRI, ...(time !== undefined ? { time } : {}) });
}
