// The library entry (SPEC 14): `createLogplane(options)` starts the same
// service `logplane serve` runs (server.ts wires it; cli/serve.ts is a user
// of this function), in-process, and hands back the API below. Every type a
// user sees is declared here or in emit/ by hand: no internal class leaks
// out, so the internals can change without breaking embedders
// (docs/embedding.md says what is stable).
import type { App } from './apps.js';
import { BadRequestError, ConfigError, LogplaneError, NotFoundError, StartError, StateError } from './errors.js';
import { configOf, type LogplaneOptions } from './logplane-options.js';
import { emitBuild, type BuildFields } from './emit/build.js';
import { emitPlatform, type PlatformFields } from './emit/platform.js';
import { Publisher } from './emit/publish.js';
import { emitRouter, type RouterFields } from './emit/router.js';
import { dynoOf, msgStartOf, seqOf, sourceOf, tsOf } from './line.js';
import { createLog, silentLog } from './obs/log.js';
import { Server } from './server.js';
import { LineFilter } from './line-filter.js';
import { IterableTailSink, type TailEvent } from './tail/iterable.js';
import type { DrainInfo as InternalDrainInfo } from './drains/manager.js';

export { DataDirInUseError, ErrorCode, LogplaneError } from './errors.js';
export { formatRouter, ROUTER_ERRORS, ROUTER_PRI, type RouterFields } from './emit/router.js';
export { formatPlatform, RUNTIME_ERRORS, PLATFORM_PRI, type PlatformFields } from './emit/platform.js';
export { startHeapTuner, type HeapTuner } from './basics/heap-tuner.js';
export type { BuildFields } from './emit/build.js';
export type { TailEvent, TailGapEvent, TailLineEvent } from './tail/iterable.js';
export type { ListenOptions, LogplaneOptions, SyslogListenOptions } from './logplane-options.js';

export interface LogplanePorts {
  http: number | null;
  syslog: number | null;
  udp: number | null;
  tls: number | null;
}

export interface AppInfo {
  id: string;
  /** Token name -> token (`t.<uuid>`). */
  tokens: Record<string, string>;
  drains: { id: string; token: string; url: string }[];
  createdAt: string;
}

export interface TokenInfo {
  token: string;
  name: string;
}

export interface DrainStatusInfo {
  state: 'idle' | 'connecting' | 'delivering' | 'backing off' | 'failing';
  delivered: number;
  dropped: number;
  queueDepth: number;
  lastSuccessAt: string | null;
  lastError: { at: string; status?: number; errno?: string; text: string } | null;
  nextRetryAt: string | null;
  /** Ingest to delivery over the last 5 minutes, ms (SPEC 16; the API's `latency_ms`); null without deliveries. */
  latencyMs: { p50: number | null; p99: number | null };
  /** Lines dropped in the last hour (SPEC 16; the API's `dropped_1h`). */
  dropped1h: number;
}

export interface DrainInfo {
  id: string;
  token: string;
  url: string;
  createdAt: string;
  status: DrainStatusInfo;
}

/** One line to publish. */
export interface PublishLine {
  source: string;
  dyno: string;
  msg: string | Uint8Array;
  /** The line's timestamp; default now. */
  time?: Date | number;
}

/** A line of history. */
export interface LogLine {
  seq: number;
  /** The line's timestamp as it was sent (RFC 3339). */
  time: string;
  source: string;
  dyno: string;
  msg: string;
}

export interface HistoryOptions {
  /** Newest lines to return; default 100. */
  num?: number;
  source?: string;
  /** Equal, or a prefix followed by `.` (`web` matches `web.1`). */
  dyno?: string;
}

export interface TailOptions {
  /** Lines of history first; default 0 (live lines only). */
  num?: number;
  source?: string;
  dyno?: string;
  /** Substring of the message. */
  grep?: string;
  /** Resume: every line after this seq still held, then live lines. */
  after?: number;
}

/** A live tail: iterate it; leaving the loop (or close()) ends it. */
export interface LogTail extends AsyncIterable<TailEvent> {
  close(): void;
}

export interface Logplane {
  /** The HTTP base URL, or null with `http: false`. */
  readonly url: string | null;
  readonly ports: LogplanePorts;
  /** The admin API key (for HTTP clients of this instance). */
  readonly apiKey: string;
  readonly apps: {
    /** Create the app if missing and give it the named tokens it lacks (idempotent). */
    create(app: string, opts?: { tokens?: readonly string[] }): Promise<AppInfo>;
    get(app: string): Promise<AppInfo | null>;
    list(): Promise<AppInfo[]>;
    destroy(app: string): Promise<void>;
  };
  readonly tokens: {
    /** A token with this name (an existing name answers its token). */
    create(app: string, name: string): Promise<TokenInfo>;
  };
  /** In-process ingest: synchronous, cooked and routed like every other ingest. Returns the lines it became. */
  publish(app: string, line: PublishLine): number;
  history(app: string, opts?: HistoryOptions): Promise<LogLine[]>;
  tail(app: string, opts?: TailOptions): LogTail;
  readonly drains: {
    add(app: string, url: string): Promise<DrainInfo>;
    remove(app: string, idOrUrl: string): Promise<void>;
    list(app: string): Promise<DrainInfo[]>;
  };
  readonly emit: {
    /** A `heroku router` line in Heroku's router format. */
    router(app: string, fields: RouterFields): void;
    /** A `heroku <dyno>` line (`Error R14 (Memory quota exceeded)`). */
    platform(app: string, fields: PlatformFields): void;
    /** A `heroku build` line. */
    build(app: string, fields: BuildFields): void;
  };
  /** Graceful stop: listeners, tails, `POST /logs` requests in flight answered (bounded), drains flushed (bounded), rings saved; rejects, once stopped, when the rings or sessions could not be saved. */
  close(): Promise<void>;
}

const DEFAULT_HISTORY_NUM = 100;
function appInfo(a: App): AppInfo {
  const tokens: Record<string, string> = {};
  for (const t of a.record.tokens) tokens[t.name] = t.token;
  return { id: a.id, tokens, drains: a.record.drains.map((d) => ({ id: d.id, token: d.token, url: d.url })), createdAt: a.record.createdAt };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function drainInfo(d: InternalDrainInfo): DrainInfo {
  const s = d.status;
  const e = s.lastError;
  return {
    id: d.record.id,
    token: d.record.token,
    url: d.record.url,
    createdAt: d.record.createdAt,
    status: {
      state: s.state,
      delivered: s.delivered,
      dropped: s.dropped,
      queueDepth: s.queueDepth,
      lastSuccessAt: iso(s.lastSuccessAt),
      lastError: e === null ? null : { at: iso(e.at)!, ...(e.status !== undefined ? { status: e.status } : {}), ...(e.errno !== undefined ? { errno: e.errno } : {}), text: e.text },
      nextRetryAt: iso(s.nextRetryAt),
      // as the HTTP API's statusJson: a status written by an older node lacks them
      latencyMs: { p50: s.latencyMs?.p50 ?? null, p99: s.latencyMs?.p99 ?? null },
      dropped1h: s.dropped1h ?? 0,
    },
  };
}

function optString(v: unknown, name: string): string | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw new BadRequestError(`${name}: must be a string`, 'invalid_params');
  return v;
}

function optCount(v: unknown, name: string, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new BadRequestError(`${name}: must be a whole number (0 or more)`, 'invalid_params');
  return v;
}

/** The app, or an UnknownAppError (`LPX_ERR_NOT_FOUND`). */
function appOf(server: Server, id: string): App {
  const a = typeof id === 'string' ? server.ctx.registry.get(id) : undefined;
  if (!a) throw new NotFoundError(`unknown app ${JSON.stringify(id)}`);
  return a;
}

class Instance implements Logplane {
  readonly server: Server;
  readonly #publisher: Publisher;
  readonly #http: boolean;
  /** close() was called: every call but close() is refused from then on (see #open). */
  #closed = false;

  constructor(server: Server, http: boolean) {
    this.server = server;
    this.#http = http;
    this.#publisher = new Publisher(server.ctx);
  }

  get url(): string | null {
    return this.#http ? this.server.url : null;
  }
  get ports(): LogplanePorts {
    const p = this.server.ports;
    return { http: this.#http ? p.http : null, syslog: p.syslog, udp: p.udp, tls: p.tls };
  }
  get apiKey(): string {
    return this.server.apiKey;
  }

  /**
   * Refuses a call once close() began: a line published then would be missed
   * by the rings saved at close (acknowledged, then lost), and a config write
   * would reach a data dir (or Redis) the next instance may already run on.
   */
  #open(): void {
    if (this.#closed) throw new StateError('this logplane instance is closed (lp.close() was called)', 'closed');
  }

  /** The app of a call on an open instance (see #open); an unknown one throws NotFoundError. */
  #app(id: string): App {
    this.#open();
    return appOf(this.server, id);
  }

  readonly apps: Logplane['apps'] = {
    create: async (app, opts = {}) => {
      this.#open();
      const names = opts.tokens ?? [];
      if (!Array.isArray(names)) throw new BadRequestError('tokens: must be an array of token names', 'invalid_params');
      // one atomic change: a refused one (a name, the token limit, a store that cannot write) applies nothing
      return appInfo(await this.server.ctx.registry.ensureTokens(app, names));
    },
    get: async (app) => {
      this.#open();
      const a = await this.server.ctx.registry.current(app);
      return a ? appInfo(a) : null;
    },
    list: async () => {
      this.#open();
      return this.server.ctx.registry.list(null, Number.MAX_SAFE_INTEGER).map(appInfo);
    },
    destroy: async (app) => {
      this.#app(app);
      await this.server.ctx.access.deleteApp(app);
    },
  };

  readonly tokens: Logplane['tokens'] = {
    create: async (app, name) => {
      this.#app(app);
      const { token } = await this.server.ctx.registry.createToken(app, name);
      return { token, name };
    },
  };

  publish(app: string, line: PublishLine): number {
    if (line === null || typeof line !== 'object') throw new BadRequestError('line: must be an object {source, dyno, msg}', 'invalid_params');
    return this.#publisher.publish(this.#app(app), line);
  }

  async history(app: string, opts: HistoryOptions = {}): Promise<LogLine[]> {
    const num = optCount(opts.num, 'num', DEFAULT_HISTORY_NUM);
    const filter = new LineFilter({ source: optString(opts.source, 'source'), dyno: optString(opts.dyno, 'dyno'), grep: null });
    const a = this.#app(app);
    const h = await this.server.history.read(a, filter.all ? num : Infinity);
    const out: LogLine[] = [];
    for (let i = h.lines.length - 1; i >= 0 && out.length < num; i--) {
      const rec = h.lines[i]!;
      if (filter.matches(rec)) out.push({ seq: seqOf(rec), time: tsOf(rec), source: sourceOf(rec), dyno: dynoOf(rec), msg: rec.toString('utf8', msgStartOf(rec)) });
    }
    return out.reverse();
  }

  tail(app: string, opts: TailOptions = {}): LogTail {
    const a = this.#app(app);
    const num = optCount(opts.num, 'num', 0);
    const after = opts.after === undefined ? null : optCount(opts.after, 'after', 0);
    const tails = this.server.tails;
    // a session of this process only (no URL reaches it, so it is not shared through Redis): made and opened
    // synchronously, so no line published after tail() returns is missed
    const session = tails.createHere(a, { num, tail: true, source: optString(opts.source, 'source'), dyno: optString(opts.dyno, 'dyno'), grep: optString(opts.grep, 'grep'), after });
    const sink = new IterableTailSink();
    const tail = tails.open(session, a, sink, after);
    sink.onLeave = () => tail.close();
    return {
      [Symbol.asyncIterator]: () => sink,
      close: () => void sink.return(),
    };
  }

  readonly drains: Logplane['drains'] = {
    add: async (app, url) => {
      this.#open();
      const rec = await this.server.drains.add(app, url);
      return drainInfo(await this.server.drains.get(app, rec.id));
    },
    remove: async (app, idOrUrl) => {
      this.#open();
      await this.server.drains.remove(app, idOrUrl);
    },
    list: async (app) => {
      this.#open();
      return (await this.server.drains.list(app)).map(drainInfo);
    },
  };

  readonly emit: Logplane['emit'] = {
    router: (app, fields) => void emitRouter(this.#publisher, this.#app(app), fields),
    platform: (app, fields) => void emitPlatform(this.#publisher, this.#app(app), fields),
    build: (app, fields) => void emitBuild(this.#publisher, this.#app(app), fields),
  };

  close(): Promise<void> {
    this.#closed = true;
    return this.server.close();
  }
}

/** Start logplane in this process. Rejects with a LogplaneError: LPX_ERR_CONFIG listing every bad option, DataDirInUseError, or LPX_ERR_START (a port, the data dir, Redis). */
export async function createLogplane(options: LogplaneOptions = {}): Promise<Logplane> {
  if (options === null || typeof options !== 'object') throw new ConfigError(['options: must be an object']);
  const config = configOf(options);
  const log = options.logger === false ? silentLog() : (options.logger ?? createLog(config.logLevel));
  const http = options.http !== false;
  const syslog = options.syslog;
  let server: Server;
  try {
    server = await Server.start(config, { log, noHttp: !http, ...(syslog ? { syslogHost: syslog.host, anyFreeSyslogPorts: syslog.port === 0 } : {}) });
  } catch (err) {
    // every rejection is a LogplaneError (docs/embedding.md): a system error keeps its errno as the cause
    throw err instanceof LogplaneError ? err : new StartError(err);
  }
  return new Instance(server, http);
}

/**
 * The Server behind an instance (cli/serve.ts prints its start message and
 * writes the run file from it).
 * @internal
 */
export function serverOf(lp: Logplane): Server {
  if (!(lp instanceof Instance)) throw new LogplaneError('LPX_ERR_BAD_REQUEST', 400, 'bad_request', 'not a logplane instance');
  return lp.server;
}
