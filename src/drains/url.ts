// Drain URLs (SPEC 6.2): parse and validate once, when a drain is created or
// changed. A URL is cut into its parts once (splitDrainUrl), and everything
// is derived from those parts: the host and port a drain connects to, the
// Basic auth, the path and query sent byte for byte as the user wrote them,
// and displayUrl(), the one way a drain URL is shown anywhere but to an
// admin (secrets redacted). What two URL parsers could read differently is
// refused (docs/drains.md, "URLs"): backslashes, whitespace, control and
// non-ASCII characters anywhere, more than one `@`, a host or port written
// in a form WHATWG `new URL` rewrites; and the parts are checked against
// what `new URL` reads, so that the host shown is the host connected to.
// The fragment is never sent; `#insecure` turns off certificate checks.
import { isIPv4, isIPv6 } from 'node:net';
import { BACKSLASH, CASE_BIT, COLON, DASH, DEL, DIGIT_0, DIGIT_9, DOT, EQ, LBRACKET, LOWER_A, LOWER_F, LOWER_Z, PERCENT, PLUS, QUESTION, SLASH, SP, TILDE, UNDERSCORE, UPPER_A, UPPER_Z } from '../basics/chars.js';
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
  /** Host name (lowercase) or IP address (IPv6 without brackets). */
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

/** A drain URL cut into its parts, each exactly as written. */
interface DrainUrlParts {
  /** As written (`HTTPS` stays `HTTPS` in the display form). */
  readonly scheme: string;
  readonly kind: DrainKind;
  /** Percent-encoded as written; null without `@`. */
  readonly user: string | null;
  /** Percent-encoded as written; null without `:` in the userinfo. */
  readonly password: string | null;
  /** user and password percent-decoded (Basic auth); null without `@`. */
  readonly credentials: { readonly user: string; readonly password: string } | null;
  /** As written; an IPv6 address in brackets. */
  readonly host: string;
  /** The host to connect to: lowercase name, IPv4, or IPv6 without brackets (canonical). */
  readonly address: string;
  /** Decimal digits as written; null without `:port`. */
  readonly port: string | null;
  readonly portNumber: number;
  /** Raw, `''` when none (HTTP(S) only). */
  readonly path: string;
  /** Raw, without its `?`; null without `?`. */
  readonly query: string | null;
  readonly insecure: boolean;
}

const DEFAULT_PORT: Record<DrainKind, number> = { https: 443, http: 80, syslog: 601, 'syslog+tls': 6514 };
const MAX_URL = 4096;

function bad(reason: string): never {
  throw new UnprocessableError(`url: ${reason}`, 'invalid_url');
}

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}
function isLetter(c: number): boolean {
  return (c >= UPPER_A && c <= UPPER_Z) || (c >= LOWER_A && c <= LOWER_Z);
}
function isHex(c: number): boolean {
  return isDigit(c) || ((c | CASE_BIT) >= LOWER_A && (c | CASE_BIT) <= LOWER_F);
}

const CONTROL_NAMES: Record<number, string> = { 0x09: 'a tab', 0x0a: 'a line feed', 0x0d: 'a carriage return', 0x20: 'a space' };

/**
 * Refuse, anywhere in the URL, what parsers disagree on: WHATWG drops TAB,
 * CR and LF and trims spaces and controls, reads `\` as `/` for http(s),
 * and maps non-ASCII host names (IDNA); RFC 3986 parsers keep or reject them.
 */
function checkChars(url: string): void {
  const i = ambiguousAt(url);
  if (i >= 0) {
    const c = url.charCodeAt(i);
    if (c <= SP || c === DEL) bad(`must not contain spaces or control characters (${CONTROL_NAMES[c] ?? `U+${c.toString(16).toUpperCase().padStart(4, '0')}`} at offset ${i}); percent-encode them`);
    if (c === BACKSLASH) bad(`must not contain a backslash (offset ${i}): some URL parsers read it as /, others as part of the name; percent-encode it as %5C`);
    bad(`must be ASCII (offset ${i}): percent-encode other characters, and write an international host name in its xn-- form`);
  }
}

/** The offset of the first character checkChars refuses (a space, a control, a backslash, non-ASCII), or -1. */
export function ambiguousAt(url: string): number {
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= SP || c === DEL || c === BACKSLASH || c > TILDE) return i;
  }
  return -1;
}

/** RFC 3986 userinfo besides letters, digits and `%XX`: unreserved marks, sub-delims and `:`; nothing a parser could take for a delimiter. */
const USERINFO_MARKS = "-._~!$&'()*+,;=:";

/** Percent-decode a user name or password, refusing what decodes differently elsewhere. */
function decodeUserinfo(s: string, what: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === PERCENT) {
      if (!isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) bad(`the ${what} has a % not followed by two hex digits`);
      i += 2;
    } else if (!isDigit(c) && !isLetter(c) && !USERINFO_MARKS.includes(s[i]!)) {
      bad(`the ${what} may hold only letters, digits and -._~!$&'()*+,;=: (percent-encode the character at offset ${i} of it)`);
    }
  }
  try {
    return decodeURIComponent(s);
  } catch {
    return bad(`the ${what} does not percent-decode to UTF-8`);
  }
}

/** Whether WHATWG reads a host as an IPv4 address: its last label is a number (decimal, or 0x hex). */
function endsInNumber(host: string): boolean {
  const labels = host.split('.');
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop();
  const last = labels[labels.length - 1] ?? '';
  if (last === '') return false;
  let i = last.length > 1 && last.charCodeAt(0) === DIGIT_0 && (last.charCodeAt(1) | CASE_BIT) === 0x78 /* x */ ? 2 : 0;
  const hex = i === 2;
  for (; i < last.length; i++) {
    const c = last.charCodeAt(i);
    if (!(hex ? isHex(c) : isDigit(c))) return false;
  }
  return true;
}

/** The host and port of an authority (after any `@`): host as written, where to connect, port digits. */
function splitHostPort(hp: string): { host: string; address: string; port: string | null } {
  let host: string;
  let address: string;
  let rest: string;
  if (hp.charCodeAt(0) === LBRACKET) {
    const close = hp.indexOf(']');
    if (close === -1) bad('an IPv6 address must end with ]');
    const inner = hp.slice(1, close);
    if (inner.includes('%') || !isIPv6(inner)) bad(`[${inner}] is not an IPv6 address (zone ids are not accepted)`);
    host = hp.slice(0, close + 1);
    address = inner; // written out canonically by the WHATWG cross-check (splitDrainUrl)
    rest = hp.slice(close + 1);
    if (rest !== '' && rest.charCodeAt(0) !== COLON) bad('only :port may follow an IPv6 address');
  } else {
    const colon = hp.indexOf(':');
    host = colon === -1 ? hp : hp.slice(0, colon);
    rest = colon === -1 ? '' : hp.slice(colon);
    if (host === '') bad('must have a host');
    for (let i = 0; i < host.length; i++) {
      const c = host.charCodeAt(i);
      if (!(isDigit(c) || isLetter(c) || c === DASH || c === DOT || c === UNDERSCORE)) {
        bad(`the host may hold only letters, digits, '-', '.' and '_' (found ${JSON.stringify(host[i])}); an IPv6 address goes in [ ]`);
      }
    }
    if (endsInNumber(host) && !isIPv4(host)) {
      bad(`host ${JSON.stringify(host)}: write an IPv4 address as four decimal numbers 0-255 without leading zeros (parsers read 127.1, 0x7f.0.0.1 or 0177.0.0.1 as 127.0.0.1, or not at all)`);
    }
    address = host.toLowerCase();
  }
  if (rest === '') return { host, address, port: null };
  const port = rest.slice(1);
  let digits = port.length > 0 && port.length <= 5 && port.charCodeAt(0) !== DIGIT_0;
  for (let i = 0; digits && i < port.length; i++) digits = isDigit(port.charCodeAt(i));
  if (!digits || Number(port) > 65535) bad('port must be 1-65535, in decimal without leading zeros');
  return { host, address, port };
}

/**
 * Cut a drain URL into its parts, or throw a 422 saying why. The parts are
 * checked against WHATWG `new URL`: the same host, port, user and password,
 * or the URL is refused (the host shown is the host connected to).
 */
function splitDrainUrl(url: unknown): DrainUrlParts {
  if (typeof url !== 'string') bad('must be a string');
  if (url.length === 0) bad('must not be empty');
  if (url.length > MAX_URL) bad(`must be at most ${MAX_URL} characters`);
  checkChars(url);
  const sep = url.indexOf('://');
  if (sep <= 0) bad('must be an absolute URL (https://, http://, syslog:// or syslog+tls://)');
  const scheme = url.slice(0, sep);
  const lower = scheme.toLowerCase();
  let kind: DrainKind;
  switch (lower) {
    case 'https':
    case 'http':
    case 'syslog':
    case 'syslog+tls':
      kind = lower;
      break;
    default:
      return bad(`unsupported scheme ${JSON.stringify(lower)}: use https, http, syslog or syslog+tls`);
  }

  // authority up to the first / ? or #; then path, query, fragment
  const start = sep + 3;
  const hash = url.indexOf('#', start);
  const end = hash === -1 ? url.length : hash;
  let authEnd = end;
  for (let i = start; i < end; i++) {
    const c = url.charCodeAt(i);
    if (c === SLASH || c === QUESTION) {
      authEnd = i;
      break;
    }
  }
  const authority = url.slice(start, authEnd);
  const at = authority.indexOf('@');
  if (at !== authority.lastIndexOf('@')) bad('more than one @ before the host: parsers differ on which one ends user:password; write an @ in them as %40');
  let user: string | null = null;
  let password: string | null = null;
  let credentials: DrainUrlParts['credentials'] = null;
  if (at !== -1) {
    const userinfo = authority.slice(0, at);
    if (userinfo === '') bad('nothing before @: leave the @ out or write user:password before it');
    const colon = userinfo.indexOf(':');
    user = colon === -1 ? userinfo : userinfo.slice(0, colon);
    password = colon === -1 ? null : userinfo.slice(colon + 1);
    credentials = { user: decodeUserinfo(user, 'user name'), password: password === null ? '' : decodeUserinfo(password, 'password') };
    if (credentials.user.includes(':')) bad("the user name must not decode to ':' (Basic auth splits user and password at the first ':')");
  }
  const hp = splitHostPort(authority.slice(at + 1));
  const portNumber = hp.port === null ? DEFAULT_PORT[kind] : Number(hp.port);

  const rest = url.slice(authEnd, end);
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? null : rest.slice(q + 1);
  const fragment = hash === -1 ? null : url.slice(hash + 1);
  const insecure = fragment === 'insecure';
  if (fragment !== null && !insecure) bad('the only fragment allowed is #insecure');
  if (insecure && (kind === DrainKind.HTTP || kind === DrainKind.SYSLOG)) bad(`#insecure only applies to ${kind === DrainKind.HTTP ? 'https' : 'syslog+tls'} URLs`);
  if (kind === DrainKind.SYSLOG || kind === DrainKind.SYSLOG_TLS) {
    if (rest !== '' && rest !== '/') bad('syslog drain URLs take no path or query');
    if (at !== -1) bad('syslog drain URLs take no user:password');
  }

  // the cross-check: WHATWG must read the same destination and credentials
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return bad('is not a valid URL');
  }
  // an IPv6 literal passed isIPv6 above; WHATWG's stricter-or-equal parser writes the same address canonically
  const v6 = hp.host.charCodeAt(0) === LBRACKET;
  const whatwgHost = v6 ? parsed.hostname.slice(1, -1) : parsed.hostname.toLowerCase();
  const address = v6 ? whatwgHost : hp.address;
  const whatwgPort = parsed.port === '' ? DEFAULT_PORT[kind] : Number(parsed.port);
  if (!(v6 ? parsed.hostname.startsWith('[') && isIPv6(whatwgHost) : whatwgHost === address)) {
    bad(`the host reads as ${JSON.stringify(hp.host)} here but as ${JSON.stringify(parsed.hostname)} to a WHATWG URL parser`);
  }
  if (whatwgPort !== portNumber) bad(`the port reads as ${portNumber} here but as ${whatwgPort} to a WHATWG URL parser`);
  if (safeDecode(parsed.username) !== (credentials?.user ?? '') || safeDecode(parsed.password) !== (credentials?.password ?? '')) bad('user:password reads differently to a WHATWG URL parser');
  return { scheme, kind, user, password, credentials, host: hp.host, address, port: hp.port, portNumber, path, query, insecure };
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** Parse a drain URL or throw a 422 UnprocessableError saying why. */
export function parseDrainUrl(url: unknown): DrainTarget {
  const p = splitDrainUrl(url);
  let path = '/';
  let authorization: string | null = null;
  if (p.kind === DrainKind.HTTPS || p.kind === DrainKind.HTTP) {
    path = `${p.path === '' ? '/' : p.path}${p.query === null ? '' : `?${p.query}`}`;
    const c = p.credentials;
    if (c !== null) authorization = `Basic ${Buffer.from(`${c.user}:${c.password}`, 'utf8').toString('base64')}`;
  }
  return { kind: p.kind, host: p.address, port: p.portNumber, path, authorization, insecure: p.insecure, display: displayOf(p) };
}

const REDACTED = '***';

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

/** The display form (SPEC 12) of a parsed URL: built from its parts, never from the raw string. */
function displayOf(p: DrainUrlParts): string {
  let out = `${p.scheme}://`;
  if (p.user !== null) out += `${redactSegment(p.user)}${p.password === null ? '' : `:${REDACTED}`}@`;
  out += p.port === null ? p.host : `${p.host}:${p.port}`;
  out += p.path.split('/').map(redactSegment).join('/');
  if (p.query !== null) {
    const parts = p.query.split('&').map((part) => {
      const eq = part.indexOf('=');
      if (eq === -1) return redactSegment(part);
      return `${redactSegment(part.slice(0, eq))}=${eq === part.length - 1 ? '' : REDACTED}`;
    });
    out += `?${parts.join('&')}`;
  }
  return p.insecure ? `${out}#insecure` : out;
}

/**
 * A drain URL as it may be shown in own logs, error texts, the L14 line and
 * to anyone but an admin (SPEC 12): the password and every query value
 * become `***`, and so does a user name, path segment or query name that
 * looks like a key (looksLikeKey), e.g.
 * `https://user:***@logs.example.com/x/***?apikey=***`. A string that is not
 * a drain URL this version accepts (a record stored by an older one) is
 * shown as `***` whole: its raw text may name another host than the one it
 * would reach. Never throws.
 */
export function displayUrl(url: string): string {
  try {
    return displayOf(splitDrainUrl(url));
  } catch {
    return REDACTED;
  }
}
