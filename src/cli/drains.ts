// CLI: `logplane drains -a APP`, `drains:add URL -a APP`,
// `drains:remove ID|URL -a APP`, `drains:status -a APP` (SPEC 8, 6.5),
// `drains:replay ID -a APP --num N | --after SEQ` (SPEC 16).
// Server discovery here is minimal (LOGPLANE_URL, LOGPLANE_API_KEY); the
// dispatcher (logplane.ts) passes the connection found by client.ts discover().
import { CliError, UsageError, networkReason, parseCommandArgs, requireApp, table, unreachable } from './client.js';
import type { DrainFilterJson, DrainJson, DrainStatusJson } from '../api/wire.js';
import { ambiguousAt, displayUrl } from '../drains/url.js';

export interface Connection {
  /** Base URL, e.g. http://127.0.0.1:8601 */
  url: string;
  /** Admin API key. */
  key: string;
  /** Why the URL is the default one (see client.ts Target), for "cannot reach" errors. */
  urlNote?: string;
  /** Where the key came from, for "refused the API key". */
  keyFrom?: string;
}

export interface CliIO {
  out: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Found by the caller; else from LOGPLANE_URL / LOGPLANE_API_KEY. */
  conn?: Connection;
  /** Finds the connection when first needed (after the arguments were checked). */
  discover?: () => Promise<Connection>;
}

const defaultIO = (): CliIO => ({ out: (t) => process.stdout.write(t), env: process.env });

/** A one-line error for the user (the dispatcher prints it and exits non-zero). */
export { CliError };

interface Args {
  app: string;
  json: boolean;
  positional: string[];
  /** Values of the command's own options (`--source` -> `source`). */
  opts: Map<string, string>;
}

/** What each command takes as its one positional, as its usage error names it. */
const POSITIONAL: Record<string, string> = {
  'drains:add': 'the drain URL',
  'drains:remove': "the drain's ID, TOKEN or URL",
  'drains:replay': "the drain's ID, TOKEN or URL",
};

/**
 * `-a APP`, `--json`, the positionals, and `options`: the command's own
 * options that take a value (`--grep error` or `--grep=error`), by long name.
 * Read by the CLI's one argument parser (client.ts), so a wrong invocation is
 * a usage error (exit 2, see --help) as in every other command.
 */
function parseArgs(cmd: string, argv: readonly string[], positionals: number, options: readonly string[] = []): Args {
  const own = Object.fromEntries(options.map((o) => [o, { type: 'string' as const }]));
  const { values, positionals: positional } = parseCommandArgs(cmd, argv, { app: { type: 'string', short: 'a' }, json: { type: 'boolean' }, ...own });
  const app = requireApp(cmd, values.app);
  if (positional.length > positionals) throw new UsageError(`unexpected argument ${JSON.stringify(positional[positionals])}`, cmd);
  if (positional.length < positionals) throw new UsageError(`missing ${POSITIONAL[cmd]}`, cmd);
  const opts = new Map<string, string>();
  for (const o of options) {
    const v = (values as Record<string, unknown>)[o];
    if (typeof v === 'string') opts.set(o, v);
  }
  return { app, json: values.json === true, positional, opts };
}

async function connection(io: CliIO): Promise<Connection> {
  if (io.conn) return io.conn;
  if (io.discover) return (io.conn = await io.discover());
  const key = io.env.LOGPLANE_API_KEY;
  if (!key) throw new CliError('no API key: set LOGPLANE_API_KEY (and LOGPLANE_URL if the server is not on 127.0.0.1:8601)');
  return (io.conn = { url: (io.env.LOGPLANE_URL ?? 'http://127.0.0.1:8601').replace(/\/+$/, ''), key });
}

interface Answer {
  status: number;
  /** The JSON body (the text when not JSON, null when empty). */
  data: unknown;
}

/** One request with the key found; any answer (a network failure is a CliError). */
async function request(io: CliIO, method: string, path: string, body?: unknown): Promise<Answer> {
  const c = await connection(io);
  let res: Response;
  try {
    res = await fetch(`${c.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${c.key}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new CliError(unreachable({ url: c.url, urlNote: c.urlNote ?? '' }, networkReason(err)));
  }
  const text = await res.text();
  let data: unknown = null;
  if (text !== '') {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  return { status: res.status, data };
}

/** The one-line error for an answer that is not a success; `drain`: the drain the request named by id. */
function failure(io: CliIO, app: string, a: Answer, drain?: string): CliError {
  const c = io.conn!;
  const { id, error } = (a.data ?? {}) as { id?: unknown; error?: unknown };
  if (a.status === 401) return new CliError(`the server at ${c.url} refused the API key${c.keyFrom ? ` (from ${c.keyFrom})` : ''}`);
  // a viewer key changing drains, a key of other apps (SPEC 12): the server's sentence names the key and the app
  if (a.status === 403 && id === 'forbidden' && typeof error === 'string') return new CliError(`${error}${c.keyFrom ? ` (key from ${c.keyFrom})` : ''}`);
  // found in the list just before, so another client removed it since: the app is still there
  if (a.status === 404 && drain !== undefined && error === 'drain not found') return new CliError(`no drain ${JSON.stringify(drain)} on ${app} (it was removed meanwhile)`);
  // the v3 API's word is channel; the CLI's is app
  if (a.status === 404 && (id === 'not_found' || error === 'channel not found')) return new CliError(`app ${JSON.stringify(app)} not found`);
  return new CliError(typeof error === 'string' ? error : `HTTP ${a.status}`);
}

async function api(io: CliIO, app: string, method: string, path: string, body?: unknown, drain?: string): Promise<unknown> {
  const a = await request(io, method, path, body);
  if (a.status < 200 || a.status > 299) throw failure(io, app, a, drain);
  return a.data;
}

/** DELETE the drain by its id (found in the app's list). */
function deleteDrain(io: CliIO, app: string, id: string): Promise<unknown> {
  return api(io, app, 'DELETE', path(app, `/${encodeURIComponent(id)}`), undefined, id);
}

/**
 * The URL without user:password (never print credentials). A URL with a
 * backslash, whitespace, a control or a non-ASCII character (a drain stored
 * before such URLs were refused, docs/drains.md) is `***`: URL parsers read
 * its host differently, and its raw text could move a terminal's cursor.
 */
export function hideCredentials(url: string): string {
  if (ambiguousAt(url) >= 0) return '***';
  const s = url.indexOf('://');
  if (s === -1) return url;
  const end = url.slice(s + 3).search(/[/?#]/);
  const authority = end === -1 ? url.slice(s + 3) : url.slice(s + 3, s + 3 + end);
  const at = authority.lastIndexOf('@');
  return at === -1 ? url : `${url.slice(0, s + 3)}${authority.slice(at + 1)}${end === -1 ? '' : url.slice(s + 3 + end)}`;
}

/** A drain as the API answered it, its URL without user:password: what every `--json` prints. */
function withoutCredentials<T extends { url: string }>(d: T): T {
  return { ...d, url: hideCredentials(d.url) };
}

/** `source=app dyno=web grep="error"`: the fields set (grep quoted as JSON); null when none. */
export function describeFilter(f: DrainFilterJson | null | undefined): string | null {
  if (!f) return null;
  const parts: string[] = [];
  if (f.source !== null) parts.push(`source=${f.source}`);
  if (f.dyno !== null) parts.push(`dyno=${f.dyno}`);
  if (f.grep !== null) parts.push(`grep=${JSON.stringify(f.grep)}`);
  return parts.length > 0 ? parts.join(' ') : null;
}

function path(app: string, rest = ''): string {
  return `/v3/channels/${encodeURIComponent(app)}/drains${rest}`;
}

async function listDrains(io: CliIO, app: string): Promise<DrainJson[]> {
  return (await api(io, app, 'GET', path(app))) as DrainJson[];
}

/** `logplane drains -a APP [--json]` */
export async function drains(argv: readonly string[], io: CliIO = defaultIO()): Promise<void> {
  const a = parseArgs('drains', argv, 0);
  const list = await listDrains(io, a.app);
  if (a.json) {
    io.out(`${JSON.stringify(list.map(withoutCredentials), null, 2)}\n`);
    return;
  }
  if (list.length === 0) {
    io.out(`${a.app} has no drains.\n`);
    return;
  }
  // one drain a row, whitespace-separated columns (a shown URL has no space); the filter, which may, comes last
  const rows = [['ID', 'URL', 'TOKEN', 'STATE', 'DELIVERED', 'DROPPED', 'FILTER']];
  for (const d of list) {
    const s = d.status;
    rows.push([d.id, hideCredentials(d.url), d.token, s.state, String(s.delivered), String(s.dropped), describeFilter(d.filter) ?? '-']);
  }
  io.out(`${[`=== ${a.app} Drains`, ...table(rows)].join('\n')}\n`);
}

/** `logplane drains:add URL -a APP [--source S] [--dyno D] [--grep TEXT]` */
export async function drainsAdd(argv: readonly string[], io: CliIO = defaultIO()): Promise<void> {
  const a = parseArgs('drains:add', argv, 1, ['source', 'dyno', 'grep']);
  const filter: Record<string, string> = {};
  for (const [k, v] of a.opts) filter[k] = v;
  const body = a.opts.size > 0 ? { url: a.positional[0], filter } : { url: a.positional[0] };
  const d = (await api(io, a.app, 'POST', path(a.app), body)) as { id: string; token: string; url: string; filter?: DrainFilterJson | null };
  if (a.json) io.out(`${JSON.stringify(withoutCredentials(d), null, 2)}\n`);
  else {
    const f = describeFilter(d.filter);
    io.out(`Successfully added drain ${hideCredentials(d.url)}\nid: ${d.id}\ntoken: ${d.token}\n${f ? `filter: ${f}\n` : ''}`);
  }
}

/** What the server shows a non-admin key in place of a secret, or of a stored URL it no longer accepts (SPEC 12). */
const MASKED = '***';

/**
 * The drains KEY names exactly, in a list as GET answers it: by id, else
 * token, else URL as the list has them. A non-admin key's list has URLs
 * redacted (several drains may then show one URL) and, from servers that
 * mask them, tokens as `***`, which never match.
 */
export function exactDrains(list: readonly DrainJson[], key: string): DrainJson[] {
  if (key === MASKED) return [];
  const byId = list.filter((x) => x.id === key);
  if (byId.length) return byId;
  const byToken = list.filter((x) => x.token === key);
  return byToken.length ? byToken : list.filter((x) => x.url === key);
}

/** The one drain of `found`, null for none; several: the error asking for an id. */
function onlyDrain(app: string, key: string, found: readonly DrainJson[]): DrainJson | null {
  if (found.length > 1) throw severalDrains(app, key, found.length);
  return found[0] ?? null;
}

/**
 * The drains whose URL is KEY as a user may have it besides the stored URL:
 * as `logplane drains` prints it (without `user:password@`: hideCredentials,
 * of the redacted URL for a non-admin key), or, when `redacted`, KEY typed as
 * it was added, compared in the redacted form (displayUrl) the list of a
 * non-admin key shows. Several when they differ only in what is hidden.
 */
export function drainsShownAs(list: readonly DrainJson[], key: string, redacted: boolean): DrainJson[] {
  if (key === MASKED) return [];
  const shown = redacted ? displayUrl(key) : null;
  return list.filter((x) => x.url !== MASKED && (hideCredentials(x.url) === key || (shown !== null && shown !== MASKED && x.url === shown)));
}

function noDrain(app: string, key: string): CliError {
  return new CliError(`no drain ${JSON.stringify(hideCredentials(key))} on ${app}`);
}

function severalDrains(app: string, key: string, n: number): CliError {
  return new CliError(`${n} drains of ${app} are shown as ${JSON.stringify(hideCredentials(key))} (they differ in what is hidden): give the drain's id (logplane drains -a ${app} --json)`);
}

/**
 * `logplane drains:remove ID|TOKEN|URL -a APP`. The drain is found in the
 * list, else by the server (DELETE /apps/:app/log-drains/:key compares the
 * stored URLs and tokens, which a non-admin key's list hides), else by the
 * URL as `logplane drains` printed it.
 */
export async function drainsRemove(argv: readonly string[], io: CliIO = defaultIO()): Promise<void> {
  const a = parseArgs('drains:remove', argv, 1);
  const key = a.positional[0]!;
  const list = await listDrains(io, a.app);
  let d = onlyDrain(a.app, key, exactDrains(list, key));
  if (d) await deleteDrain(io, a.app, d.id);
  else if (key !== MASKED) {
    const r = await request(io, 'DELETE', `/apps/${encodeURIComponent(a.app)}/log-drains/${encodeURIComponent(key)}`);
    if (r.status === 200) d = r.data as DrainJson;
    else if (r.status !== 404 || (r.data as { error?: unknown } | null)?.error !== 'drain not found') throw failure(io, a.app, r);
  }
  if (!d) {
    d = onlyDrain(a.app, key, drainsShownAs(list, key, false));
    if (!d) throw noDrain(a.app, key);
    await deleteDrain(io, a.app, d.id);
  }
  if (a.json) io.out(`${JSON.stringify(withoutCredentials({ id: d.id, token: d.token, url: d.url }), null, 2)}\n`);
  else io.out(`Successfully removed drain ${hideCredentials(d.url)}\n`);
}

/** `p50 12 ms, p99 40 ms (last 5 min)`, or `-` with no delivery in that time. */
function latencyText(l: DrainStatusJson['latency_ms']): string {
  if (!l || l.p50 === null || l.p99 === null) return '-';
  return `p50 ${l.p50} ms, p99 ${l.p99} ms (last 5 min)`;
}

/** `logplane drains:replay ID|TOKEN|URL -a APP --num N | --after SEQ`: re-send what the history holds (SPEC 16). */
export async function drainsReplay(argv: readonly string[], io: CliIO = defaultIO()): Promise<void> {
  const a = parseArgs('drains:replay', argv, 1, ['num', 'after']);
  const num = a.opts.get('num');
  const after = a.opts.get('after');
  if ((num === undefined) === (after === undefined)) throw new UsageError('give --num N (the newest N lines) or --after SEQ (the lines after that seq)', 'drains:replay');
  for (const [k, v] of a.opts) if (!/^\d{1,16}$/.test(v)) throw new UsageError(`--${k} must be a whole number (got ${JSON.stringify(v)})`, 'drains:replay');
  const key = a.positional[0]!;
  const list = await listDrains(io, a.app);
  // no route finds a drain to replay by URL or token: the list does, a non-admin key's by the redacted URL
  const d = onlyDrain(a.app, key, exactDrains(list, key)) ?? onlyDrain(a.app, key, drainsShownAs(list, key, true));
  if (!d) throw noDrain(a.app, key);
  const body = num !== undefined ? { num: Number(num) } : { after: Number(after) };
  const r = (await api(io, a.app, 'POST', path(a.app, `/${encodeURIComponent(d.id)}/replay`), body, d.id)) as { replayed: number; missing: number };
  if (a.json) io.out(`${JSON.stringify(r, null, 2)}\n`);
  else {
    const gone = r.missing > 0 ? `; ${r.missing} no longer held (announced to the drain with an L10 line)` : '';
    io.out(`Replaying ${r.replayed} line${r.replayed === 1 ? '' : 's'} to ${hideCredentials(d.url)}${gone}\n`);
  }
}

function when(iso: string | null): string {
  return iso ?? '-';
}

/** `logplane drains:status -a APP [--json]`: per-drain health (SPEC 6.5). */
export async function drainsStatus(argv: readonly string[], io: CliIO = defaultIO()): Promise<void> {
  const a = parseArgs('drains:status', argv, 0);
  const list = await listDrains(io, a.app);
  if (a.json) {
    io.out(`${JSON.stringify(list.map((d) => withoutCredentials({ id: d.id, token: d.token, url: d.url, filter: d.filter, ...d.status })), null, 2)}\n`);
    return;
  }
  if (list.length === 0) {
    io.out(`${a.app} has no drains.\n`);
    return;
  }
  const blocks: string[] = [];
  for (const d of list) {
    const s = d.status;
    const e = s.last_error;
    const err = e === null ? '-' : `${e.status !== undefined ? `HTTP ${e.status}` : (e.errno ?? '')}${e.status === undefined && e.text ? `: ${e.text}` : ''} at ${when(e.at)}`;
    blocks.push([
      `=== ${hideCredentials(d.url)}`,
      `id:            ${d.id}`,
      `token:         ${d.token}`,
      `filter:        ${describeFilter(d.filter) ?? '-'}`,
      `state:         ${s.state}`,
      `delivered:     ${s.delivered}`,
      `dropped:       ${s.dropped}`,
      `dropped (1h):  ${s.dropped_1h ?? '-'}`,
      `latency:       ${latencyText(s.latency_ms)}`,
      `queue depth:   ${s.queue_depth}`,
      `last success:  ${when(s.last_success_at)}`,
      `last error:    ${err}`,
      `next retry:    ${when(s.next_retry_at)}`,
    ].join('\n'));
  }
  io.out(`${blocks.join('\n\n')}\n`);
}

/** Command table for the dispatcher in logplane.ts. */
export const drainCommands = {
  drains,
  'drains:add': drainsAdd,
  'drains:remove': drainsRemove,
  'drains:status': drainsStatus,
  'drains:replay': drainsReplay,
} as const;
