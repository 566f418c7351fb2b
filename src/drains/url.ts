// Drain URLs (SPEC 6.2): parse and validate once, when a drain is created or
// changed. The path and query of HTTP(S) drains are kept byte for byte as the
// user wrote them (not re-serialised by the WHATWG parser); the fragment is
// never sent; `#insecure` turns off certificate checks. displayUrl() is the
// one way a drain URL is shown anywhere but to an admin: secrets redacted.
import { DASH, DEL, DIGIT_0, DIGIT_9, DOT, EQ, LOWER_A, LOWER_Z, PERCENT, PLUS, QUESTION, SLASH, SP, TILDE, UNDERSCORE, UPPER_A, UPPER_Z } from '../basics/chars.js';
import { UnprocessableError } from '../errors.js';

export const DrainKind = {
  HTTPS: 'https',
  HTTP: 'http',
  SYSLOG: 'syslog',
  SYSLOG_TLS: 'syslog+tls',
} as const;
export type DrainKind = (typeof DrainKind)[keyof typeof DrainKind];

/** Metric label for a kind (no `+`). */
export function kindLabel(kind: DrainKind): string {
  return kind === DrainKind.SYSLOG_TLS ? 'syslog_tls' : kind;
}

export interface DrainTarget {
  readonly kind: DrainKind;
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** HTTP(S): raw path and query as written, `/` when empty. Syslog: unused. */
  readonly path: string;
  /** `Basic <base64>` from the URL's user:pass (HTTP(S) only), or null. */
  readonly authorization: string | null;
  /** `#insecure`: do not verify the peer certificate (TLS kinds). */
  readonly insecure: boolean;
  /** The URL with its secrets redacted (displayUrl), for logs, errors and the L14 line. */
  readonly display: string;
}

const DEFAULT_PORT: Record<DrainKind, number> = { https: 443, http: 80, syslog: 601, 'syslog+tls': 6514 };
const MAX_URL = 4096;

function bad(reason: string): never {
  throw new UnprocessableError(`url: ${reason}`, 'invalid_url');
}

/** Characters an HTTP request line cannot carry as they are (the head is written as latin1). */
function pathProblem(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= SP || c > 0xff || c === DEL) return true;
  }
  return false;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Parse a drain URL or throw a 422 UnprocessableError saying why. */
export function parseDrainUrl(url: unknown): DrainTarget {
  if (typeof url !== 'string') bad('must be a string');
  if (url.length === 0) bad('must not be empty');
  if (url.length > MAX_URL) bad(`must be at most ${MAX_URL} characters`);
  const sep = url.indexOf('://');
  if (sep <= 0) bad('must be an absolute URL (https://, http://, syslog:// or syslog+tls://)');
  const scheme = url.slice(0, sep).toLowerCase();
  let kind: DrainKind;
  switch (scheme) {
    case 'https':
    case 'http':
    case 'syslog':
    case 'syslog+tls':
      kind = scheme;
      break;
    default:
      return bad(`unsupported scheme ${JSON.stringify(scheme)}: use https, http, syslog or syslog+tls`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return bad('is not a valid URL');
  }

  // Split the raw string ourselves: authority, then path+query, then fragment.
  const hash = url.indexOf('#', sep + 3);
  const fragment = hash === -1 ? '' : url.slice(hash + 1);
  const noFrag = hash === -1 ? url : url.slice(0, hash);
  let authEnd = noFrag.length;
  for (let i = sep + 3; i < noFrag.length; i++) {
    const c = noFrag.charCodeAt(i);
    if (c === SLASH || c === QUESTION) {
      authEnd = i;
      break;
    }
  }
  const authority = noFrag.slice(sep + 3, authEnd);
  const rest = noFrag.slice(authEnd);
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? null : authority.slice(0, at);

  let host = parsed.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') bad('must have a host');
  const port = parsed.port === '' ? DEFAULT_PORT[kind] : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) bad('port must be 1-65535');

  const insecure = fragment === 'insecure';
  if (fragment !== '' && !insecure) bad('the only fragment allowed is #insecure');
  if (insecure && (kind === DrainKind.HTTP || kind === DrainKind.SYSLOG)) bad(`#insecure only applies to ${kind === DrainKind.HTTP ? 'https' : 'syslog+tls'} URLs`);

  let path = '/';
  let authorization: string | null = null;
  if (kind === DrainKind.HTTPS || kind === DrainKind.HTTP) {
    if (rest !== '') path = rest.charCodeAt(0) === 0x3f ? `/${rest}` : rest;
    if (pathProblem(path)) bad('path and query must not contain spaces, control or non-Latin-1 characters (percent-encode them)');
    if (userinfo !== null) {
      const colon = userinfo.indexOf(':');
      const user = safeDecode(colon === -1 ? userinfo : userinfo.slice(0, colon));
      const pass = colon === -1 ? '' : safeDecode(userinfo.slice(colon + 1));
      authorization = `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
    }
  } else {
    if (rest !== '' && rest !== '/') bad('syslog drain URLs take no path or query');
    if (userinfo !== null) bad('syslog drain URLs take no user:password');
  }
  return { kind, host, port, path, authorization, insecure, display: displayUrl(url) };
}

const REDACTED = '***';

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}
function isLetter(c: number): boolean {
  return (c >= UPPER_A && c <= UPPER_Z) || (c >= LOWER_A && c <= LOWER_Z);
}
/** Characters of tokens: base64(url), hex, uuids, JWTs, percent-encoding. */
function isTokenChar(c: number): boolean {
  return isDigit(c) || isLetter(c) || c === DASH || c === UNDERSCORE || c === DOT || c === TILDE || c === PLUS || c === EQ || c === PERCENT;
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a URL part looks like a key: a uuid, or at least 16 token
 * characters with both letters and digits (random tokens have both; words
 * and plain paths like `/v1/logs` do not reach 16 or lack digits).
 */
export function looksLikeKey(s: string): boolean {
  if (s.length < 16) return false;
  if (UUID.test(s)) return true;
  let digits = false;
  let letters = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isTokenChar(c)) return false;
    if (isDigit(c)) digits = true;
    else if (isLetter(c)) letters = true;
  }
  return digits && letters;
}

function redactSegment(seg: string): string {
  return looksLikeKey(seg) ? REDACTED : seg;
}

/**
 * A drain URL as it may be shown in own logs, error texts, the L14 line and
 * to anyone but an admin (SPEC 12): the password and every query value
 * become `***`, and so does a user name, path segment or query name that
 * looks like a key (looksLikeKey), e.g.
 * `https://user:***@logs.example.com/x/***?apikey=***`. Works on any string,
 * valid URL or not; never throws.
 */
export function displayUrl(url: string): string {
  const sep = url.indexOf('://');
  const start = sep === -1 ? 0 : sep + 3;
  const hash = url.indexOf('#', start);
  const noFrag = hash === -1 ? url : url.slice(0, hash);
  // the only fragment a drain URL may have is #insecure
  const fragment = hash === -1 ? '' : url.slice(hash) === '#insecure' ? '#insecure' : `#${REDACTED}`;
  let authEnd = noFrag.length;
  for (let i = start; i < noFrag.length; i++) {
    const c = noFrag.charCodeAt(i);
    if (c === SLASH || c === QUESTION) {
      authEnd = i;
      break;
    }
  }
  let authority = noFrag.slice(start, authEnd);
  const at = authority.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
    authority = `${redactSegment(user)}${colon === -1 ? '' : `:${REDACTED}`}${authority.slice(at)}`;
  }
  const rest = noFrag.slice(authEnd);
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  let out = `${url.slice(0, start)}${authority}${path.split('/').map(redactSegment).join('/')}`;
  if (q !== -1) {
    const parts = rest.slice(q + 1).split('&').map((part) => {
      const eq = part.indexOf('=');
      if (eq === -1) return redactSegment(part);
      return `${redactSegment(part.slice(0, eq))}=${eq === part.length - 1 ? '' : REDACTED}`;
    });
    out += `?${parts.join('&')}`;
  }
  return out + fragment;
}
