// The options of createLogplane (SPEC 14: they mirror section 2) and the one
// Config they become: every option is turned into the setting `logplane
// serve` reads from its environment and validated by the same loadConfig,
// so both list every problem alike. The process environment is not read.
import type { Logger } from 'pino';
import { loadConfig, settings as knownSettings, type Config } from './config.js';
import { ConfigError } from './errors.js';

/** Where an instance listens; `false` for no listener at all. */
export interface ListenOptions {
  /** Default 8601 (HTTP) / 6001 (syslog); 0 = any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface SyslogListenOptions extends ListenOptions {
  /** Syslog over TLS (RFC 5425) as well: port, PEM certificate and key paths. */
  tls?: { port: number; cert: string; key: string };
}

export interface LogplaneOptions {
  /** Config (apps, tokens, drains, the admin key) and saved rings; default `./.logplane`. Not used with `redis`. */
  dataDir?: string;
  /** Redis URL: distributed mode (SPEC 9). Default: embedded. */
  redis?: string | null;
  /** Lines of history per app; default 1,500. */
  historyLines?: number;
  /** The admin API key; default: generated at first start and kept in the data dir (or Redis). */
  apiKey?: string;
  /** Base URL of session URLs; default `http://<host>:<port>`. */
  publicUrl?: string;
  /** A pino logger for logplane's own logs, or false for none; default: JSON lines on stderr at `logLevel`. */
  logger?: Logger | false;
  /** Level of the default logger; default `info`. */
  logLevel?: string;
  /** The HTTP API, ingest, sessions and WebSockets; `false`: no HTTP port. */
  http?: ListenOptions | false;
  /** Syslog TCP + UDP (and TLS); `false`: no syslog port. */
  syslog?: SyslogListenOptions | false;
  /**
   * Any other setting of docs/operations.md by its environment name, e.g.
   * `{ LOGPLANE_DRAIN_RETRIES: 3 }`, validated like the environment of
   * `logplane serve`. The process environment itself is not read.
   */
  settings?: Readonly<Record<string, string | number | boolean>>;
}

const ENV_NAMES = new Set(knownSettings.map((s) => s.env));

/** Every option key, by object (the compiler keeps these lists in step with the interfaces). */
const OPTION_KEYS = Object.keys({ dataDir: 1, redis: 1, historyLines: 1, apiKey: 1, publicUrl: 1, logger: 1, logLevel: 1, http: 1, syslog: 1, settings: 1 } satisfies Record<keyof LogplaneOptions, 1>);
const LISTEN_KEYS = Object.keys({ port: 1, host: 1 } satisfies Record<keyof ListenOptions, 1>);
const SYSLOG_KEYS = Object.keys({ port: 1, host: 1, tls: 1 } satisfies Record<keyof SyslogListenOptions, 1>);
const TLS_KEYS = Object.keys({ port: 1, cert: 1, key: 1 } satisfies Record<keyof NonNullable<SyslogListenOptions['tls']>, 1>);

/** Edit distance of a and b (keys are short: a plain table). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** A problem for each key of o not in known, with the known key it is likely a typo of. */
function unknownKeys(where: string, o: unknown, known: readonly string[], problems: string[]): void {
  if (typeof o !== 'object' || o === null) return;
  for (const k of Object.keys(o)) {
    if (known.includes(k)) continue;
    const near = known.find((n) => n.toLowerCase() === k.toLowerCase()) ?? known.find((n) => distance(n, k) <= 2);
    problems.push(`${where}${k}: unknown option${near !== undefined ? ` (did you mean ${where}${near}?)` : ''}`);
  }
}

/** The config of these options: one validation, every problem listed (ConfigError). */
export function configOf(o: LogplaneOptions): Config {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  unknownKeys('', o, OPTION_KEYS, problems);
  if (o.http) unknownKeys('http.', o.http, LISTEN_KEYS, problems);
  if (o.syslog) {
    unknownKeys('syslog.', o.syslog, SYSLOG_KEYS, problems);
    if (o.syslog.tls) unknownKeys('syslog.tls.', o.syslog.tls, TLS_KEYS, problems);
  }
  for (const [k, v] of Object.entries(o.settings ?? {})) {
    if (!ENV_NAMES.has(k)) problems.push(`settings: unknown setting ${k}`);
    else env[k] = String(v);
  }
  const set = (name: string, v: string | number | undefined | null): void => {
    if (v !== undefined && v !== null) env[name] = String(v);
  };
  set('LOGPLANE_DATA_DIR', o.dataDir);
  set('REDIS_URL', o.redis);
  set('LOGPLANE_HISTORY_LINES', o.historyLines);
  set('LOGPLANE_API_KEY', o.apiKey);
  set('LOGPLANE_PUBLIC_URL', o.publicUrl);
  set('LOGPLANE_LOG_LEVEL', o.logLevel);
  if (o.http) {
    set('LOGPLANE_PORT', o.http.port);
    set('LOGPLANE_HOST', o.http.host);
  }
  if (o.syslog === false) env['LOGPLANE_SYSLOG_PORT'] = '0';
  else if (o.syslog) {
    // port 0 is "any free port" here, as for http (LOGPLANE_SYSLOG_PORT=0 would mean off)
    if (o.syslog.port !== 0) set('LOGPLANE_SYSLOG_PORT', o.syslog.port);
    if (o.syslog.tls) {
      set('LOGPLANE_SYSLOG_TLS_PORT', o.syslog.tls.port);
      set('LOGPLANE_TLS_CERT', o.syslog.tls.cert);
      set('LOGPLANE_TLS_KEY', o.syslog.tls.key);
    }
  }
  let config: Config | null = null;
  try {
    config = loadConfig([], env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0 || config === null) throw new ConfigError(problems);
  return config;
}
