// Configuration: defaults (one comment each), read from flags and environment,
// validated once at start with every problem listed, then frozen.
import { ConfigError } from './errors.js';

export interface Config {
  /** HTTP port: API, ingest, sessions, WebSocket, console. 0 = any free port. */
  readonly port: number;
  /** Bind address for every listener. Loopback unless asked otherwise. */
  readonly host: string;
  /** Syslog TCP + UDP port; 0 = off. */
  readonly syslogPort: number;
  /** Syslog TLS (RFC 5425) port; needs tlsCert and tlsKey; null = off. */
  readonly syslogTlsPort: number | null;
  /** PEM certificate path for syslog TLS. */
  readonly tlsCert: string | null;
  /** PEM key path for syslog TLS. */
  readonly tlsKey: string | null;
  /** Admin API key; null = generated at first start and saved in the data dir. */
  readonly apiKey: string | null;
  /** Where config (apps, tokens, drains, key) and saved rings live. */
  readonly dataDir: string;
  /** Ring size: lines of history kept per app. */
  readonly historyLines: number;
  /** Redis URL; null = embedded mode. */
  readonly redisUrl: string | null;
  /** Run on a Redis Cluster (REDIS_URL names any of its nodes); implied by a redis-cluster:// URL. */
  readonly redisCluster: boolean;
  /** Base URL put in session URLs; null = http://<host>:<port>. */
  readonly publicUrl: string | null;
  /** Largest accepted POST /logs body (after gunzip), bytes. */
  readonly maxBodyBytes: number;
  /** How long an accepted Logplex-Frame-Id is remembered per token, ms. */
  readonly frameIdTtlMs: number;
  /** Bytes of lines one drain may queue before the oldest are dropped. */
  readonly drainQueueBytes: number;
  /** Bytes of lines all drains of the node may queue together (see docs/drains.md). */
  readonly drainBudgetBytes: number;
  /** Bytes a healthy drain may queue in a burst, borrowing beyond its queue from the budget's free room. */
  readonly drainBurstBytes: number;
  /** Drains per app. */
  readonly maxDrainsPerApp: number;
  /** Replays one drain may start in any minute (0: no limit); one at a time whatever this is (docs/drains.md, Replay). */
  readonly drainReplaysPerMinute: number;
  /** Tokens per app (each one is in the app's record, which every change writes whole). */
  readonly maxTokensPerApp: number;
  /** Allow drains to loopback, link-local and private addresses. */
  readonly drainAllowPrivate: boolean;
  /** Retries of one drain batch after its first attempt; then it is dropped and counted. */
  readonly drainRetries: number;
  /** First HTTP drain retry delay, ms (doubles per attempt, jittered). */
  readonly drainBackoffBaseMs: number;
  /** Longest HTTP drain retry delay, ms. */
  readonly drainBackoffMaxMs: number;
  /** Drain connect timeout (TCP connect plus TLS handshake), ms. */
  readonly drainConnectTimeoutMs: number;
  /** HTTP drain response timeout (and syslog drain write timeout), ms. */
  readonly drainResponseTimeoutMs: number;
  /** Syslog drain reconnect unit: the delay is this x 2^failures, ms. */
  readonly drainReconnectBaseMs: number;
  /** Longest syslog drain reconnect delay, ms. */
  readonly drainReconnectMaxMs: number;
  /** On a graceful stop, how long drains may take to deliver what they hold, ms. */
  readonly drainFlushTimeoutMs: number;
  /** Lines a tail may hold before the oldest are dropped. */
  readonly tailQueueLines: number;
  /** Sessions this node holds at most (its session table). */
  readonly maxSessions: number;
  /** Sessions one API key may hold on this node; 0 = no per-key limit. The admin key has none. */
  readonly maxSessionsPerKey: number;
  /** Sessions of one app on this node, whoever made them; 0 = no per-app limit. */
  readonly maxSessionsPerApp: number;
  /** Percent of the node's table and of each app's quota that only the admin key may use (API keys stop short of it). */
  readonly sessionAdminReservePercent: number;
  /** pino level for our own logs. */
  readonly logLevel: string;
  /** Ingest worker threads that frame, scan and cook syslog input; 0 = all on the main thread. */
  readonly ingestWorkers: number;
  /** MB of old-generation headroom V8 is held to above the live heap (basics/heap-tuner.ts; `serve` only, 0 = V8's own). */
  readonly heapHeadroomMb: number;
  /** Open connections per listener (syslog TCP, TLS, HTTP); also held under the fd limit (docs/reliability.md). */
  readonly maxConnections: number;
  /** Open connections per client address, per listener. */
  readonly maxConnectionsPerIp: number;
  /** A syslog TCP/TLS connection that sends nothing for this long is closed, ms; 0 = never. */
  readonly syslogIdleMs: number;
  /** A syslog TLS client must finish its handshake within this, ms. */
  readonly tlsHandshakeMs: number;
  /** An HTTP client must send its request headers within this, ms. */
  readonly httpHeadersTimeoutMs: number;
  /** An HTTP client must send its whole request (headers and body) within this, ms. */
  readonly httpRequestTimeoutMs: number;
  /** An idle keep-alive HTTP connection is closed after this, ms. */
  readonly httpKeepAliveMs: number;
  /** Per-app ingest limit, lines/s, with a burst of twice that; 0 = off. */
  readonly appRateLines: number;
  /** Failed API authentications per minute from one address before it gets 429; 0 = no throttle. */
  readonly authFailureLimit: number;
  /** Throttle loopback clients too (they are exempt by default, as in fail2ban's ignoreip). */
  readonly authThrottleLoopback: boolean;
  /** Audit lines also for token and drain changes made with the admin key (API keys' changes always are). */
  readonly auditAdminKey: boolean;
  /** A key /metrics asks for (Bearer or Basic, as the API); null = /metrics open (it holds no app ids and no secret). */
  readonly metricsKey: string | null;
}

export const defaults: Config = {
  port: 8601,
  host: '127.0.0.1',
  syslogPort: 6001,
  syslogTlsPort: null,
  tlsCert: null,
  tlsKey: null,
  apiKey: null,
  dataDir: './.logplane',
  historyLines: 1500,
  redisUrl: null,
  redisCluster: false,
  publicUrl: null,
  maxBodyBytes: 8 * 1024 * 1024,
  frameIdTtlMs: 5 * 60 * 1000,
  drainQueueBytes: 4 * 1024 * 1024,
  drainBudgetBytes: 256 * 1024 * 1024,
  drainBurstBytes: 64 * 1024 * 1024,
  maxDrainsPerApp: 5,
  drainReplaysPerMinute: 6,
  maxTokensPerApp: 100,
  drainAllowPrivate: false,
  drainRetries: 5,
  drainBackoffBaseMs: 500,
  drainBackoffMaxMs: 30_000,
  drainConnectTimeoutMs: 3000,
  drainResponseTimeoutMs: 5000,
  drainReconnectBaseMs: 1000,
  drainReconnectMaxMs: 300_000,
  drainFlushTimeoutMs: 5000,
  tailQueueLines: 1024,
  maxSessions: 100_000,
  maxSessionsPerKey: 1000,
  maxSessionsPerApp: 10_000,
  sessionAdminReservePercent: 5,
  logLevel: 'info',
  ingestWorkers: 1,
  heapHeadroomMb: 96,
  maxConnections: 10_000,
  maxConnectionsPerIp: 1000,
  syslogIdleMs: 10 * 60 * 1000,
  tlsHandshakeMs: 10_000,
  httpHeadersTimeoutMs: 10_000,
  httpRequestTimeoutMs: 60_000,
  httpKeepAliveMs: 60_000,
  appRateLines: 0,
  authFailureLimit: 20,
  authThrottleLoopback: false,
  auditAdminKey: true,
  metricsKey: null,
};

type Kind = 'port' | 'int' | 'string' | 'bool' | 'url' | 'level';
interface Setting {
  key: keyof Config;
  env: string;
  flag: string;
  kind: Kind;
  min?: number;
  max?: number;
  /** A credential: a problem with it never shows its value. */
  secret?: true;
}

/** Every setting: config key, environment variable, command-line flag. */
export const settings: readonly Setting[] = [
  { key: 'port', env: 'LOGPLANE_PORT', flag: 'port', kind: 'port' },
  { key: 'host', env: 'LOGPLANE_HOST', flag: 'host', kind: 'string' },
  { key: 'syslogPort', env: 'LOGPLANE_SYSLOG_PORT', flag: 'syslog-port', kind: 'port' },
  { key: 'syslogTlsPort', env: 'LOGPLANE_SYSLOG_TLS_PORT', flag: 'syslog-tls-port', kind: 'port' },
  { key: 'tlsCert', env: 'LOGPLANE_TLS_CERT', flag: 'tls-cert', kind: 'string' },
  { key: 'tlsKey', env: 'LOGPLANE_TLS_KEY', flag: 'tls-key', kind: 'string' },
  { key: 'apiKey', env: 'LOGPLANE_API_KEY', flag: 'api-key', kind: 'string', secret: true },
  { key: 'dataDir', env: 'LOGPLANE_DATA_DIR', flag: 'data-dir', kind: 'string' },
  { key: 'historyLines', env: 'LOGPLANE_HISTORY_LINES', flag: 'history-lines', kind: 'int', min: 1, max: 1_000_000 },
  { key: 'redisUrl', env: 'REDIS_URL', flag: 'redis', kind: 'url' },
  { key: 'redisCluster', env: 'LOGPLANE_REDIS_CLUSTER', flag: 'redis-cluster', kind: 'bool' },
  { key: 'publicUrl', env: 'LOGPLANE_PUBLIC_URL', flag: 'public-url', kind: 'url' },
  { key: 'maxBodyBytes', env: 'LOGPLANE_MAX_BODY_BYTES', flag: 'max-body-bytes', kind: 'int', min: 1024, max: 1 << 30 },
  { key: 'frameIdTtlMs', env: 'LOGPLANE_FRAME_ID_TTL_MS', flag: 'frame-id-ttl-ms', kind: 'int', min: 0, max: 86_400_000 },
  { key: 'drainQueueBytes', env: 'LOGPLANE_DRAIN_QUEUE_BYTES', flag: 'drain-queue-bytes', kind: 'int', min: 1024, max: 1 << 30 },
  { key: 'drainBudgetBytes', env: 'LOGPLANE_DRAIN_BUDGET_BYTES', flag: 'drain-budget-bytes', kind: 'int', min: 1024, max: 2 ** 40 },
  { key: 'drainBurstBytes', env: 'LOGPLANE_DRAIN_BURST_BYTES', flag: 'drain-burst-bytes', kind: 'int', min: 1024, max: 2 ** 40 },
  { key: 'maxDrainsPerApp', env: 'LOGPLANE_MAX_DRAINS_PER_APP', flag: 'max-drains-per-app', kind: 'int', min: 0, max: 10_000 },
  { key: 'drainReplaysPerMinute', env: 'LOGPLANE_DRAIN_REPLAYS_PER_MINUTE', flag: 'drain-replays-per-minute', kind: 'int', min: 0, max: 10_000 },
  { key: 'maxTokensPerApp', env: 'LOGPLANE_MAX_TOKENS_PER_APP', flag: 'max-tokens-per-app', kind: 'int', min: 1, max: 10_000 },
  { key: 'drainAllowPrivate', env: 'LOGPLANE_DRAIN_ALLOW_PRIVATE', flag: 'drain-allow-private', kind: 'bool' },
  { key: 'drainRetries', env: 'LOGPLANE_DRAIN_RETRIES', flag: 'drain-retries', kind: 'int', min: 0, max: 100 },
  { key: 'drainBackoffBaseMs', env: 'LOGPLANE_DRAIN_BACKOFF_BASE_MS', flag: 'drain-backoff-base-ms', kind: 'int', min: 1, max: 3_600_000 },
  { key: 'drainBackoffMaxMs', env: 'LOGPLANE_DRAIN_BACKOFF_MAX_MS', flag: 'drain-backoff-max-ms', kind: 'int', min: 1, max: 3_600_000 },
  { key: 'drainConnectTimeoutMs', env: 'LOGPLANE_DRAIN_CONNECT_TIMEOUT_MS', flag: 'drain-connect-timeout-ms', kind: 'int', min: 1, max: 600_000 },
  { key: 'drainResponseTimeoutMs', env: 'LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS', flag: 'drain-response-timeout-ms', kind: 'int', min: 1, max: 600_000 },
  { key: 'drainReconnectBaseMs', env: 'LOGPLANE_DRAIN_RECONNECT_BASE_MS', flag: 'drain-reconnect-base-ms', kind: 'int', min: 1, max: 3_600_000 },
  { key: 'drainReconnectMaxMs', env: 'LOGPLANE_DRAIN_RECONNECT_MAX_MS', flag: 'drain-reconnect-max-ms', kind: 'int', min: 1, max: 3_600_000 },
  { key: 'drainFlushTimeoutMs', env: 'LOGPLANE_DRAIN_FLUSH_TIMEOUT_MS', flag: 'drain-flush-timeout-ms', kind: 'int', min: 0, max: 600_000 },
  { key: 'tailQueueLines', env: 'LOGPLANE_TAIL_QUEUE_LINES', flag: 'tail-queue-lines', kind: 'int', min: 1, max: 10_000_000 },
  { key: 'maxSessions', env: 'LOGPLANE_MAX_SESSIONS', flag: 'max-sessions', kind: 'int', min: 1, max: 10_000_000 },
  { key: 'maxSessionsPerKey', env: 'LOGPLANE_MAX_SESSIONS_PER_KEY', flag: 'max-sessions-per-key', kind: 'int', min: 0, max: 10_000_000 },
  { key: 'maxSessionsPerApp', env: 'LOGPLANE_MAX_SESSIONS_PER_APP', flag: 'max-sessions-per-app', kind: 'int', min: 0, max: 10_000_000 },
  { key: 'sessionAdminReservePercent', env: 'LOGPLANE_SESSION_ADMIN_RESERVE_PERCENT', flag: 'session-admin-reserve-percent', kind: 'int', min: 0, max: 90 },
  { key: 'logLevel', env: 'LOGPLANE_LOG_LEVEL', flag: 'log-level', kind: 'level' },
  { key: 'ingestWorkers', env: 'LOGPLANE_INGEST_WORKERS', flag: 'ingest-workers', kind: 'int', min: 0, max: 64 },
  { key: 'heapHeadroomMb', env: 'LOGPLANE_HEAP_HEADROOM_MB', flag: 'heap-headroom-mb', kind: 'int', min: 0, max: 65_536 },
  { key: 'maxConnections', env: 'LOGPLANE_MAX_CONNECTIONS', flag: 'max-connections', kind: 'int', min: 1, max: 10_000_000 },
  { key: 'maxConnectionsPerIp', env: 'LOGPLANE_MAX_CONNECTIONS_PER_IP', flag: 'max-connections-per-ip', kind: 'int', min: 1, max: 10_000_000 },
  { key: 'syslogIdleMs', env: 'LOGPLANE_SYSLOG_IDLE_MS', flag: 'syslog-idle-ms', kind: 'int', min: 0, max: 86_400_000 },
  { key: 'tlsHandshakeMs', env: 'LOGPLANE_TLS_HANDSHAKE_TIMEOUT_MS', flag: 'tls-handshake-timeout-ms', kind: 'int', min: 100, max: 3_600_000 },
  { key: 'httpHeadersTimeoutMs', env: 'LOGPLANE_HTTP_HEADERS_TIMEOUT_MS', flag: 'http-headers-timeout-ms', kind: 'int', min: 100, max: 3_600_000 },
  { key: 'httpRequestTimeoutMs', env: 'LOGPLANE_HTTP_REQUEST_TIMEOUT_MS', flag: 'http-request-timeout-ms', kind: 'int', min: 100, max: 3_600_000 },
  { key: 'httpKeepAliveMs', env: 'LOGPLANE_HTTP_KEEPALIVE_MS', flag: 'http-keepalive-ms', kind: 'int', min: 100, max: 3_600_000 },
  { key: 'appRateLines', env: 'LOGPLANE_APP_RATE_LINES', flag: 'app-rate-lines', kind: 'int', min: 0, max: 100_000_000 },
  { key: 'authFailureLimit', env: 'LOGPLANE_AUTH_FAILURE_LIMIT', flag: 'auth-failure-limit', kind: 'int', min: 0, max: 1_000_000 },
  { key: 'authThrottleLoopback', env: 'LOGPLANE_AUTH_THROTTLE_LOOPBACK', flag: 'auth-throttle-loopback', kind: 'bool' },
  { key: 'auditAdminKey', env: 'LOGPLANE_AUDIT_ADMIN_KEY', flag: 'audit-admin-key', kind: 'bool' },
  { key: 'metricsKey', env: 'LOGPLANE_METRICS_KEY', flag: 'metrics-key', kind: 'string', secret: true },
];

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * A value as a problem shows it (SPEC 12: no credential in an error): the
 * user and password of a URL, well-formed or not (whatever is between the
 * start or `//` and the last `@`), as `***`.
 */
export function shownValue(raw: string): string {
  const at = raw.lastIndexOf('@');
  if (at === -1) return raw;
  const slashes = raw.indexOf('//');
  const from = slashes !== -1 && slashes < at ? slashes + 2 : 0;
  return `${raw.slice(0, from)}***${raw.slice(at)}`;
}

function parseValue(s: Setting, raw: string, where: string, problems: string[]): unknown {
  const bad = (why: string): undefined => {
    problems.push(s.secret ? `${where}: ${why}` : `${where}: ${why} (got ${JSON.stringify(shownValue(raw))})`);
    return undefined;
  };
  switch (s.kind) {
    case 'port': {
      if (!/^\d+$/.test(raw)) return bad('must be a port number 0-65535');
      const n = Number(raw);
      if (n > 65535) return bad('must be a port number 0-65535');
      return n;
    }
    case 'int': {
      if (!/^\d+$/.test(raw)) return bad('must be a whole number');
      const n = Number(raw);
      if (s.min !== undefined && n < s.min) return bad(`must be at least ${s.min}`);
      if (s.max !== undefined && n > s.max) return bad(`must be at most ${s.max}`);
      return n;
    }
    case 'bool': {
      const v = raw.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
      return bad('must be 1/0, true/false, yes/no or on/off');
    }
    case 'url': {
      if (s.key === 'redisUrl' && raw.startsWith('redis-cluster://')) {
        // redis-cluster://[user:pass@]host:port,host:port (not one URL host, so checked by hand)
        const seeds = raw.slice('redis-cluster://'.length).replace(/^[^@/]*@/, '').replace(/\/.*$/, '').split(',');
        return seeds.every((h) => /^[^\s:,]+:\d{1,5}$/.test(h)) ? raw : bad('must list host:port,host:port after redis-cluster://');
      }
      try {
        const u = new URL(raw);
        if (s.key === 'redisUrl' && !['redis:', 'rediss:', 'redis-cluster:'].includes(u.protocol)) return bad('must be a redis://, rediss:// or redis-cluster://host:port,host:port URL');
        if (s.key === 'publicUrl' && !['http:', 'https:'].includes(u.protocol)) return bad('must be an http:// or https:// URL');
        return s.key === 'publicUrl' ? raw.replace(/\/+$/, '') : raw;
      } catch {
        return bad('must be a URL');
      }
    }
    case 'level':
      return LEVELS.has(raw) ? raw : bad(`must be one of ${[...LEVELS].join(', ')}`);
    case 'string':
      return raw === '' ? bad('must not be empty') : raw;
  }
}

/** A setting's raw value and where it came from: `--flag` or the environment variable's name. */
interface Given {
  raw: string;
  where: string;
}

/** The flags of argv, by setting (the last of a repeated flag wins); unknown flags and stray words are problems. */
function readFlags(argv: readonly string[], problems: string[]): Map<keyof Config, Given> {
  const byFlag = new Map(settings.map((s) => [s.flag, s]));
  const given = new Map<keyof Config, Given>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument ${JSON.stringify(shownValue(arg))}`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const s = byFlag.get(name);
    if (!s) {
      problems.push(`unknown flag --${name}`);
      // its value (a misspelt --api-key's key, say) is not echoed as an unexpected argument
      if (eq === -1 && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) i++;
      continue;
    }
    let raw: string | undefined;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else if (s.kind === 'bool' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) raw = 'true';
    else raw = argv[++i];
    if (raw === undefined) problems.push(`--${name} needs a value`);
    else given.set(s.key, { raw, where: `--${name}` });
  }
  return given;
}

/**
 * Build the config from flags (`--port 8601` or `--port=8601`) over environment
 * over defaults. A flag replaces its environment variable, which is then not
 * read at all (a bad value there does not stop a start that overrides it), and
 * every problem names what the user set: the flag or the variable.
 * Throws ConfigError listing every problem; returns a frozen object.
 */
export function loadConfig(argv: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = { ...defaults };
  const given = readFlags(argv, problems);
  for (const s of settings) {
    if (!given.has(s.key) && env[s.env] !== undefined) given.set(s.key, { raw: env[s.env]!, where: s.env });
  }
  for (const s of settings) {
    const g = given.get(s.key);
    if (g === undefined) continue;
    const v = parseValue(s, g.raw, g.where, problems);
    if (v !== undefined) out[s.key] = v;
  }
  // drain queues used to be bounded by lines; a setting that is silently ignored would hide a loss
  if (env['LOGPLANE_DRAIN_QUEUE_LINES'] !== undefined) problems.push('LOGPLANE_DRAIN_QUEUE_LINES: no longer used; drain queues are bounded by bytes (LOGPLANE_DRAIN_QUEUE_BYTES, LOGPLANE_DRAIN_BUDGET_BYTES)');
  const c = out as unknown as Config;
  problems.push(...crossProblems(c, namer(given)));
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(c);
}

/**
 * Names for settings checked together: flags (`--tls-cert`) when the user set
 * any of them by flag, else their environment variables.
 */
function namer(given: ReadonlyMap<keyof Config, Given>): (...keys: (keyof Config)[]) => string[] {
  const byKey = new Map(settings.map((s) => [s.key, s]));
  return (...keys) => {
    const flags = keys.some((k) => given.get(k)?.where.startsWith('--'));
    return keys.map((k) => (flags ? `--${byKey.get(k)!.flag}` : byKey.get(k)!.env));
  };
}

/** Problems of settings that are each valid but do not fit together. */
function crossProblems(c: Config, names: ReturnType<typeof namer>): string[] {
  const problems: string[] = [];
  const tlsParts = [c.syslogTlsPort !== null, c.tlsCert !== null, c.tlsKey !== null];
  if (tlsParts.some(Boolean) && !tlsParts.every(Boolean)) {
    const [port, cert, key] = names('syslogTlsPort', 'tlsCert', 'tlsKey');
    problems.push(`syslog TLS needs all of ${port}, ${cert} and ${key}`);
  }
  const atLeast = (key: keyof Config, min: keyof Config, why = '') => {
    const [a, b] = names(key, min);
    if ((c[key] as number) < (c[min] as number)) problems.push(`${a}: must be at least ${b} (${c[min]})${why}`);
  };
  atLeast('drainBudgetBytes', 'drainQueueBytes');
  atLeast('httpRequestTimeoutMs', 'httpHeadersTimeoutMs');
  // equal to the queue turns borrowing off; larger than the budget is allowed (the budget bounds it)
  atLeast('drainBurstBytes', 'drainQueueBytes', '; equal turns burst borrowing off');
  if (c.apiKey !== null && c.apiKey.length < 16) problems.push(`${names('apiKey')[0]}: must be at least 16 characters`);
  return problems;
}

function listensOnAll(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/**
 * True when session URLs point at 127.0.0.1 though the node listens on every
 * interface (no LOGPLANE_PUBLIC_URL): a wildcard is no address a client can
 * use, and which of the machine's names other hosts reach it by is not known
 * here, so only clients on this machine can use them; `serve` says so at start.
 */
export function sessionUrlsLocalOnly(c: Config): boolean {
  return c.publicUrl === null && listensOnAll(c.host);
}

/** host:port as clients write it: an IPv6 address in brackets (`[::1]:6001`; `::1:6001` is no address). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The base URL clients should use for this node (session URLs). */
export function publicBaseUrl(c: Config, boundPort: number): string {
  if (c.publicUrl) return c.publicUrl;
  return `http://${hostPort(listensOnAll(c.host) ? '127.0.0.1' : c.host, boundPort)}`;
}
