// How the CLI finds a server and its key, and talks to it.
//
// Discovery (no flags needed):
//   URL: LOGPLANE_URL, else <dataDir>/server.json written by `logplane serve`
//        (ignored with a clear error when its pid is gone).
//   key: LOGPLANE_API_KEY, else <dataDir>/config.json (field apiKey), the
//        latter only when the URL is this data dir's server or a loopback one.
//   dataDir: LOGPLANE_DATA_DIR, else ./.logplane.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pidAlive, readRunFile, runFilePath } from './runfile.js';

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
}

/** API calls give up after this long. */
const REQUEST_TIMEOUT_MS = 30_000;

export function dataDirOf(env: NodeJS.ProcessEnv): string {
  return resolve(env['LOGPLANE_DATA_DIR'] || './.logplane');
}

function isLoopback(url: string): boolean {
  try {
    const h = new URL(url).hostname;
    return h === 'localhost' || h === '[::1]' || h === '::1' || h.startsWith('127.');
  } catch {
    return false;
  }
}

async function keyFromDataDir(dataDir: string): Promise<string | null> {
  try {
    const data = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8')) as { apiKey?: unknown };
    return typeof data.apiKey === 'string' && data.apiKey !== '' ? data.apiKey : null;
  } catch {
    return null;
  }
}

/** Find the server URL and admin key (see the top of this file). */
export async function discover(env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  const dataDir = dataDirOf(env);
  let url = env['LOGPLANE_URL']?.trim().replace(/\/+$/, '') || null;
  let local = false;
  if (url === null) {
    const run = await readRunFile(dataDir);
    if (run === null) {
      throw new CliError(`no running server found: set LOGPLANE_URL, or start one with "logplane serve" (no ${runFilePath(dataDir)})`);
    }
    if (!pidAlive(run.pid)) {
      throw new CliError(`no running server found: ${runFilePath(dataDir)} is left over from pid ${run.pid}, which is gone; start one with "logplane serve" or set LOGPLANE_URL`);
    }
    url = run.localUrl;
    local = true;
  } else if (!/^https?:\/\//i.test(url)) {
    throw new CliError(`LOGPLANE_URL must be an http:// or https:// URL (got ${JSON.stringify(url)})`);
  }
  let key = env['LOGPLANE_API_KEY'] || null;
  if (key === null && (local || isLoopback(url))) key = await keyFromDataDir(dataDir);
  if (key === null) {
    throw new CliError(`no API key: set LOGPLANE_API_KEY${local || isLoopback(url) ? ` (none saved in ${join(dataDir, 'config.json')})` : ''}`);
  }
  return { url, key, dataDir };
}

/** Why a request did not get an answer, in a few words. */
function networkReason(err: unknown): string {
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
      throw new CliError(`cannot reach the server at ${this.target.url}: ${networkReason(err)}`);
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
      return new CliError(`the server at ${this.target.url} refused the API key (check LOGPLANE_API_KEY or ${join(this.target.dataDir, 'config.json')})`);
    }
    if (res.status === 404 && app !== undefined && (id === 'not_found' || error === 'channel not found')) {
      return new CliError(`app ${JSON.stringify(app)} not found`);
    }
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

/** node:util parseArgs with our usage errors. */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(command: string, argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!, command);
  }
}

/** The app from `-a APP` or the first positional; a usage error when absent. */
export function requireApp(command: string, flag: string | undefined, positional?: string): string {
  const app = flag ?? positional;
  if (!app) throw new UsageError('missing app: pass -a APP', command);
  return app;
}

/** A command: its help text and what it does. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: readonly string[]): Promise<void>;
}

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
