// How the CLI finds a server and its key, and talks to it.
//
// Discovery (no flags needed):
//   URL: LOGPLANE_URL, else <dataDir>/server.json written by `logplane serve`
//        (skipped when its pid is gone), else the "url" of a stored login
//        (~/.config/logplane/credentials.json), else http://127.0.0.1:8601.
//   key: LOGPLANE_API_KEY, else <dataDir>/config.json (field apiKey; in
//        distributed mode server.json's, while its pid runs), the latter only when the URL is this data dir's server or a loopback one,
//        else the stored login's "key" (when its URL is the one used).
//   dataDir: LOGPLANE_DATA_DIR, else ./.logplane.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pidAlive } from '../basics/pid.js';
import { readRunFile, runFilePath } from './runfile.js';

/** One clear line on stderr and this exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A wrong invocation: exit 2 and a pointer to --help. */
export class UsageError extends CliError {
  constructor(message: string, command: string) {
    super(`${message} (see: logplane ${command} --help)`, 2);
    this.name = 'UsageError';
  }
}

export interface Target {
  url: string;
  key: string;
  dataDir: string;
  /** Where the key came from, for the "refused the API key" error. */
  keyFrom: string;
  /** Why this URL was used when it is the default, added to "cannot reach" errors; else ''. */
  urlNote: string;
}

/** Where a local server listens unless told otherwise (LOGPLANE_PORT's default). */
export const DEFAULT_URL = 'http://127.0.0.1:8601';

/** API calls give up after this long. */
const REQUEST_TIMEOUT_MS = 30_000;

export function dataDirOf(env: NodeJS.ProcessEnv): string {
  return resolve(env['LOGPLANE_DATA_DIR'] || './.logplane');
}

/** The stored login (`logplane login`): ~/.config/logplane/credentials.json. */
export function credentialsPath(env: NodeJS.ProcessEnv): string {
  return join(env['HOME'] || homedir(), '.config', 'logplane', 'credentials.json');
}

interface Credentials {
  url: string | null;
  key: string | null;
}

async function readCredentials(path: string): Promise<Credentials | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  let data: { url?: unknown; key?: unknown };
  try {
    data = JSON.parse(text) as typeof data;
  } catch {
    throw new CliError(`${path} is not JSON; it should be {"url":"https://...","key":"..."}`);
  }
  const url = typeof data.url === 'string' && data.url.trim() !== '' ? trimUrl(data.url) : null;
  const key = typeof data.key === 'string' && data.key !== '' ? data.key : null;
  return { url, key };
}

function trimUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

function isLoopback(url: string): boolean {
  try {
    const h = new URL(url).hostname;
    return h === 'localhost' || h === '[::1]' || h === '::1' || h.startsWith('127.');
  } catch {
    return false;
  }
}

function sameServer(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/**
 * The admin key a local `logplane serve` keeps in its data dir and the file
 * it was read from, or null: config.json's (embedded mode), else the run
 * file's while its server runs (distributed mode, whose key lives in Redis).
 */
export async function keyFromDataDir(dataDir: string): Promise<{ key: string; from: string } | null> {
  const configPath = join(dataDir, 'config.json');
  try {
    const data = JSON.parse(await readFile(configPath, 'utf8')) as { apiKey?: unknown };
    if (typeof data.apiKey === 'string' && data.apiKey !== '') return { key: data.apiKey, from: configPath };
  } catch {
    /* no embedded config here */
  }
  const run = await readRunFile(dataDir);
  return run?.apiKey !== undefined && pidAlive(run.pid) ? { key: run.apiKey, from: runFilePath(dataDir) } : null;
}

/** Find the server URL and admin key (see the top of this file). */
export async function discover(env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  const dataDir = dataDirOf(env);
  const credsPath = credentialsPath(env);
  const creds = await readCredentials(credsPath);
  const runPath = runFilePath(dataDir);
  let url = env['LOGPLANE_URL']?.trim() ? trimUrl(env['LOGPLANE_URL']) : null;
  let urlFrom = 'LOGPLANE_URL';
  let local = false;
  let urlNote = '';
  if (url === null) {
    const run = await readRunFile(dataDir);
    if (run !== null && pidAlive(run.pid)) {
      url = run.localUrl;
      urlFrom = runPath;
      local = true;
    } else if (creds?.url) {
      url = creds.url;
      urlFrom = credsPath;
    } else {
      url = DEFAULT_URL;
      urlNote = run !== null ? `${runPath} is left over from pid ${run.pid}, which is gone` : `LOGPLANE_URL is unset and there is no ${runPath}`;
    }
  }
  if (!/^https?:\/\//i.test(url)) {
    throw new CliError(`the server URL must be an http:// or https:// URL (got ${JSON.stringify(url)} from ${urlFrom})`);
  }
  let key = env['LOGPLANE_API_KEY'] || null;
  let keyFrom = 'LOGPLANE_API_KEY';
  const localKeyPath = join(dataDir, 'config.json');
  const localOk = local || isLoopback(url);
  const fromLocal = async () => {
    if (key !== null || !localOk) return;
    // the file the key was read from, for "refused the API key (from ...)"
    const found = await keyFromDataDir(dataDir);
    if (found !== null) ({ key, from: keyFrom } = found);
  };
  const fromLogin = () => {
    if (key === null && creds?.key && (creds.url === null || sameServer(creds.url, url!))) {
      key = creds.key;
      keyFrom = credsPath;
    }
  };
  // the stored login's own URL goes with its own key; otherwise the local data dir comes first
  if (urlFrom === credsPath) {
    fromLogin();
    await fromLocal();
  } else {
    await fromLocal();
    fromLogin();
  }
  if (key === null) {
    const looked = ['LOGPLANE_API_KEY', ...(localOk ? [localKeyPath, runPath] : []), credsPath].join(', ');
    throw new CliError(
      `no API key for ${url}${urlNote ? ` (the default: ${urlNote})` : ''}: looked in ${looked}; ` +
        'run this where `logplane serve` runs (or set LOGPLANE_DATA_DIR to its data dir), or set LOGPLANE_API_KEY to what `logplane config:key` prints there',
    );
  }
  return { url, key, dataDir, keyFrom, urlNote };
}

/** "cannot reach" plus why this URL was tried, when it was only the default. */
export function unreachable(target: Pick<Target, 'url' | 'urlNote'>, reason: string): string {
  const why = target.urlNote ? ` (tried the default because ${target.urlNote}; start one with \`logplane serve\`, or set LOGPLANE_URL)` : '';
  return `cannot reach the server at ${target.url}: ${reason}${why}`;
}

/** Why a request did not get an answer, in a few words. */
export function networkReason(err: unknown): string {
  const e = err as Error & { cause?: NodeJS.ErrnoException & { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timed out';
  const code = e.cause?.code ?? (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
  }
  return e.cause?.message ?? e.message;
}

export interface Response {
  status: number;
  headers: Headers;
  body: Buffer;
}

export interface RequestOptions {
  /** JSON-encoded when given. */
  json?: unknown;
  body?: Buffer;
  headers?: Record<string, string>;
  /** Replaces the admin Authorization header (ingest uses a token). */
  authorization?: string;
}

export class ApiClient {
  readonly target: Target;
  constructor(target: Target) {
    this.target = target;
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: opts.authorization ?? `Bearer ${this.target.key}`, 'user-agent': 'logplane-cli', ...opts.headers };
    // A Buffer is a valid fetch body; the DOM typings only want an ArrayBuffer-backed view.
    let body = opts.body as RequestInit['body'];
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    let res: globalThis.Response;
    try {
      res = await fetch(`${this.target.url}${path}`, { method, headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (err) {
      throw new CliError(unreachable(this.target, networkReason(err)));
    }
    let buf: Buffer;
    try {
      buf = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      throw new CliError(`the server at ${this.target.url} broke off its answer: ${networkReason(err)}`);
    }
    return { status: res.status, headers: res.headers, body: buf };
  }

  /** A JSON request that must succeed with one of `ok`; anything else becomes a CliError. */
  async json<T>(method: string, path: string, ok: readonly number[], opts: RequestOptions & { app?: string } = {}): Promise<{ status: number; data: T }> {
    const res = await this.request(method, path, opts);
    if (!ok.includes(res.status)) throw this.failure(res, opts.app);
    if (res.body.length === 0) return { status: res.status, data: undefined as T };
    try {
      return { status: res.status, data: JSON.parse(res.body.toString('utf8')) as T };
    } catch {
      throw new CliError(`the server at ${this.target.url} sent a reply that is not JSON (status ${res.status})`);
    }
  }

  /** The one-line error for an unexpected answer. */
  failure(res: Response, app?: string): CliError {
    let id = '';
    let error = '';
    try {
      const b = JSON.parse(res.body.toString('utf8')) as { id?: unknown; error?: unknown };
      if (typeof b.id === 'string') id = b.id;
      if (typeof b.error === 'string') error = b.error;
    } catch {
      error = res.body.toString('utf8').trim().slice(0, 200);
    }
    if (res.status === 401) {
      return new CliError(`the server at ${this.target.url} refused the API key (from ${this.target.keyFrom})`);
    }
    if (res.status === 403 && id === 'forbidden') return new CliError(`${error} (key from ${this.target.keyFrom})`);
    if (res.status === 404 && app !== undefined && (id === 'not_found' || error === 'channel not found')) {
      return new CliError(`app ${JSON.stringify(app)} not found`);
    }
    // The v3 API says "channel" (Logplex's word); the CLI says app.
    if (id === 'invalid_channel') return new CliError(invalidAppText(app ?? ''), 2);
    return new CliError(`the server answered ${res.status}${error ? `: ${error}` : ''}`);
  }
}

/** Discover the server and return a client for it. */
export async function connect(env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
  return new ApiClient(await discover(env));
}

/** Path segment for an app id (ids are [a-z0-9._-], but never trust input). */
export function appPath(app: string): string {
  return `/v3/channels/${encodeURIComponent(app)}`;
}

export interface CommandArgs<V> {
  values: V;
  positionals: string[];
}

/**
 * node:util parseArgs with our usage errors: the one place a command's
 * arguments are read, so every command words a wrong option alike (exit 2,
 * a pointer to --help). Parsed leniently, then checked token by token: Node's
 * strict mode would refuse `-n -1` as "ambiguous" before the command could
 * say what -n takes, and its texts name Node's syntax, not ours.
 */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O & { help: { type: 'boolean'; short: 'h' } }; allowPositionals: true; strict: true }>> {
  const all = { ...options, help: { type: 'boolean', short: 'h' } } as const;
  const { values, positionals, tokens } = parseArgs({ args: [...argv], options: all, allowPositionals: true, strict: false, tokens: true });
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const opt = Object.hasOwn(all, t.name) ? all[t.name]! : undefined;
    if (opt === undefined) throw new UsageError(`unknown option ${t.rawName}`, command);
    if (opt.type === 'string' && t.value === undefined) throw new UsageError(`${t.rawName} needs a value`, command);
    if (opt.type === 'boolean' && t.value !== undefined) throw new UsageError(`${t.rawName} takes no value`, command);
    // parseArgs keeps the last of a repeated value: `-a keep -a other` would act on `other` alone, silently
    if (opt.type === 'string' && opt.multiple !== true && seen.has(t.name)) throw new UsageError(`${t.rawName} given more than once`, command);
    seen.add(t.name);
  }
  // every option was checked against its type above: the values are what strict mode would give
  return { values, positionals } as ReturnType<typeof parseCommandArgs<O>>;
}

/** What an app name may be (SPEC 1: `[a-z0-9][a-z0-9._-]{0,99}`). */
const APP_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;
export const APP_NAME_RULE = "app name must be lowercase letters, digits, '.', '_' or '-', start with a letter or digit, at most 100 characters";

function invalidAppText(app: string): string {
  return `invalid app name ${JSON.stringify(app)}: ${APP_NAME_RULE}`;
}

/** The app name, checked here so the server's channel wording never reaches the user (exit 2). */
export function checkApp(app: string): string {
  if (!APP_NAME.test(app)) throw new CliError(invalidAppText(app), 2);
  return app;
}

/**
 * The app from `-a APP` or, for commands that take it so, the one positional
 * (`positionals`); a usage error when absent, not a valid name, or when a
 * second app is named (`apps:destroy keep -a other` must not destroy one of
 * them and ignore the other).
 */
export function requireApp(command: string, flag: string | undefined, positionals: readonly string[] = []): string {
  const [app, extra] = flag === undefined ? positionals : [flag, ...positionals];
  if (!app) throw new UsageError('missing app: pass -a APP', command);
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`, command);
  return checkApp(app);
}

/** A command: its help text and what it does. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: readonly string[]): Promise<void>;
}

/** Rows as aligned columns (two spaces apart; the last column is not padded). */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
