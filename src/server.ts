// Wiring only: builds each part with its dependencies passed in, starts them
// in order, and keeps a stack of what started; close() and a failed start
// unwind that stack in reverse.
import { randomBytes } from 'node:crypto';
import { maxHeaderSize } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { Socket as UdpSocket } from 'node:dgram';
import Fastify, { type FastifyInstance } from 'fastify';
import { Access } from './access/access.js';
import { Registry } from './apps.js';
import { loadRings, saveRings } from './buffer/snapshot.js';
import { publicBaseUrl, type Config } from './config.js';
import type { Context } from './context.js';
import { route } from './router.js';
import { clientError, frameworkError, genReqId, installErrorHandling } from './api/errors.js';
import { registerOpsRoutes, type ReadyCheck } from './api/ops.js';
import { registerV3 } from './api/v3.js';
import { registerPlatform } from './api/platform.js';
import { registerSessions } from './api/sessions.js';
import { registerDrainRoutes } from './api/drains.js';
import { registerPlatformDrainRoutes } from './api/platform-drains.js';
import { registerKeyRoutes } from './api/keys.js';
import { registerConsole } from './api/console.js';
import { registerStatsRoutes } from './api/stats.js';
import { Cluster, type ClusterOptions } from './cluster/cluster.js';
import type { NodeStats } from './cluster/node-stats.js';
import { DrainManager, type DrainManagerOptions } from './drains/manager.js';
import { displayUrl } from './drains/url.js';
import { LocalHistory } from './history/local.js';
import type { HistorySource } from './history/source.js';
import { registerHttpIngest } from './ingest/http.js';
import { IngestFront } from './ingest/http-front.js';
import { guardHttpServer, startConnectionLimits, type ConnectionLimits } from './ingest/limits.js';
import { IngestPool } from './ingest/pool.js';
import { AppRateLimiter } from './ingest/rate-limit.js';
import { GarbageLog } from './ingest/syslog-conn.js';
import { closeStreamServer, startSyslogTcp } from './ingest/tcp.js';
import { startSyslogTls } from './ingest/tls.js';
import { loadDrainLosses, saveDrainLosses } from './drains/stop-loss.js';
import { startSyslogUdp } from './ingest/udp.js';
import { createLog, type Log } from './obs/log.js';
import { createMetrics, type Metrics } from './obs/metrics.js';
import { DataDirLock } from './store/dir-lock.js';
import { FileStore } from './store/file.js';
import type { ConfigStore } from './store/store.js';
import { TailService, tailDefaults } from './tail/service.js';
import { loadSessions, saveSessions } from './tail/session-file.js';

export interface ServerOptions {
  log?: Log;
  store?: ConfigStore;
  /** Skip restoring saved rings (tests). */
  noRestore?: boolean;
  /** Bind syslog TCP/UDP (and TLS when configured) to free ports instead of the configured ones (tests). */
  anyFreeSyslogPorts?: boolean;
  /** Drain test hooks: CA, DNS lookup, clock. */
  drains?: DrainManagerOptions;
  /** Distributed mode timings (tests); used only when config.redisUrl is set. */
  cluster?: Partial<ClusterOptions>;
  /** No HTTP listener (an embedded instance: createLogplane's `http: false`); the routes are built but not bound. */
  noHttp?: boolean;
  /** Bind the syslog listeners here instead of config.host. */
  syslogHost?: string;
}

export interface Ports {
  http: number;
  syslog: number | null;
  udp: number | null;
  tls: number | null;
}

/** How often apps quiet for the whole lines/s window give their window back (buffer/rates.ts). */
const RATE_SWEEP_MS = 60_000;

/**
 * At stop, POST /logs requests taken (their bodies being read, parsed or
 * stored) and then the ingest workers share INGEST_STOP_MS, as the workers
 * alone had it before: requests get REQUESTS_STOP_MS to be answered (what is
 * not answered by then is not stored: its connection is closed and its
 * sender retries), bodies being routed then at most STORING_STOP_MS more, and
 * the workers the rest (at least WORKERS_STOP_MS) to hand back what they
 * hold. Drains flush after that (drainFlushTimeoutMs); `serve` bounds the
 * whole stop at stopBoundMs (docs/operations.md).
 */
const INGEST_STOP_MS = 3000;
const REQUESTS_STOP_MS = 2000;
const STORING_STOP_MS = 500;
const WORKERS_STOP_MS = 500;
/** After the drains' flush: rings and sessions saved, or (distributed mode) queued lines written to Redis (2 s) and the node's counts (1 s); a second to spare. */
const AFTER_FLUSH_STOP_MS = 4000;

/**
 * How long a graceful stop may take before `serve` exits anyway (exit 1,
 * nothing saved): the sum of its steps' own bounds, so that a raised
 * drainFlushTimeoutMs is not cut short by a fixed bound (docs/operations.md,
 * "Stopping"); at least 10 s.
 */
export function stopBoundMs(config: Pick<Config, 'drainFlushTimeoutMs'>): number {
  return Math.max(10_000, INGEST_STOP_MS + config.drainFlushTimeoutMs + AFTER_FLUSH_STOP_MS);
}

/** Stops a started part; `aborting` is true when the start itself failed (nothing to flush or save). */
type Stop = (aborting: boolean) => unknown;

/** The parts started so far, newest last: unwound in reverse by close() and by a failed start. */
class StartedParts {
  readonly #stack: Array<{ name: string; stop: Stop }> = [];

  push(name: string, stop: Stop): void {
    this.#stack.push({ name, stop });
  }

  /** Stop every part, newest first; a part that fails to stop is logged and the rest still stop. */
  async unwind(aborting: boolean, log: Log): Promise<void> {
    for (let p = this.#stack.pop(); p; p = this.#stack.pop()) {
      try {
        await p.stop(aborting);
      } catch (err) {
        log.error({ at: 'server.part_stop_failed', part: p.name, err: (err as Error).message }, 'a part failed to stop');
      }
    }
  }
}

/** What the stop saved (embedded mode): lines in the ring snapshot (null in distributed mode), and what it could not save. */
interface Saved {
  lines: number | null;
  /** "rings: <error>", "sessions: <error>": state this stop lost; close() rejects naming it. */
  failed: string[];
}

/** What #start hands to the Server it makes. */
interface Started {
  ctx: Context;
  http: FastifyInstance;
  ports: Ports;
  generatedKey: boolean;
  drains: DrainManager;
  tails: TailService;
  cluster: Cluster | null;
  history: HistorySource;
  /** Embedded mode: the data dir's lock, held until the stop ends; null in distributed mode. */
  lock: DataDirLock | null;
}

export class Server {
  readonly ctx: Context;
  readonly http: FastifyInstance;
  readonly ports: Ports;
  /** True when the admin key was generated by this start (print it once). */
  readonly generatedKey: boolean;
  /** The drain manager (status, tests). */
  readonly drains: DrainManager;
  /** The live tails and sessions of this node. */
  readonly tails: TailService;
  /** Distributed mode: null in embedded mode. */
  readonly cluster: Cluster | null;
  /** Where history is read: the ring, or Redis merged with it. */
  readonly history: HistorySource;
  readonly #parts: StartedParts;
  readonly #saved: Saved;
  readonly #lock: DataDirLock | null;
  #closing: Promise<void> | null = null;

  private constructor(s: Started, parts: StartedParts, saved: Saved) {
    this.ctx = s.ctx;
    this.http = s.http;
    this.ports = s.ports;
    this.generatedKey = s.generatedKey;
    this.drains = s.drains;
    this.tails = s.tails;
    this.cluster = s.cluster;
    this.history = s.history;
    this.#parts = parts;
    this.#saved = saved;
    this.#lock = s.lock;
  }

  /** The admin key; '' on a node in distributed mode that does not know it (Redis keeps only its hash: give the node LOGPLANE_API_KEY). */
  get apiKey(): string {
    return this.ctx.registry.apiKey ?? '';
  }
  get url(): string {
    return this.ctx.publicUrl;
  }

  static async start(config: Config, opts: ServerOptions = {}): Promise<Server> {
    const log = opts.log ?? createLog(config.logLevel);
    const parts = new StartedParts();
    const saved: Saved = { lines: null, failed: [] };
    try {
      return new Server(await Server.#start(config, opts, log, createMetrics(), parts, saved), parts, saved);
    } catch (err) {
      await parts.unwind(true, log);
      throw err;
    }
  }

  static async #start(config: Config, opts: ServerOptions, log: Log, metrics: Metrics, parts: StartedParts, saved: Saved): Promise<Started> {
    // embedded mode: the data dir holds config, rings and sessions, so one server at a time (store/dir-lock.ts);
    // distributed mode keeps nothing there that two nodes would fight over (server.json is removed only by its writer)
    const lock = config.redisUrl ? null : await DataDirLock.acquire(config.dataDir, {
      onWait: (pid) => log.info({ at: 'datadir.lock_wait', dataDir: config.dataDir, holder: pid }, 'waiting for the server stopping on this data dir'),
      onStale: (pid) => log.warn({ at: 'datadir.stale_lock', dataDir: config.dataDir, holder: pid }, 'took over the lock of a server that is gone'),
    });
    // last to go: released when everything else stopped (rings and sessions saved)
    if (lock) parts.push('data dir lock', () => lock.release());
    // distributed mode: REDIS_URL set -> config, history, sessions and drain state in Redis
    const cluster = config.redisUrl ? await Cluster.connect(config, log, metrics, opts.cluster) : null;
    if (cluster) parts.push('cluster', (aborting) => (aborting ? cluster.close(0) : cluster.close()));

    const store = opts.store ?? cluster?.store ?? new FileStore(config.dataDir, { log });
    // the cluster's own store closes with the cluster
    if (store !== cluster?.store) parts.push('store', () => store.close());
    const registry = new Registry(store, { historyLines: config.historyLines, seqClock: cluster?.seqClock ?? null, maxTokens: config.maxTokensPerApp });
    await registry.init();
    const rateSweep = setInterval(() => registry.sweepRates(Math.floor(Date.now() / 1000)), RATE_SWEEP_MS).unref();
    parts.push('rate windows', () => clearInterval(rateSweep));
    const generatedKey = await bootstrapKey(config, registry, cluster);
    const access = new Access(registry, metrics, route, displayUrl, {
      authFailureLimit: config.authFailureLimit,
      throttleLoopback: config.authThrottleLoopback,
      auditAdminKey: config.auditAdminKey,
      // distributed mode: an address's failures are counted over every node
      sharedFailures: cluster?.authFailures() ?? null,
    });
    await access.init();
    const ctx: Context = { config, log, metrics, registry, access, publicUrl: '' };

    if (!cluster) {
      // embedded mode: history is the rings, saved on stop and restored on start
      if (!opts.noRestore) await restoreRings(config, registry, log);
      parts.push('rings', async (aborting) => {
        if (!aborting) saved.lines = await saveRings(config.dataDir, registry).catch((err: Error) => {
          log.error({ at: 'rings.save_failed', err: err.message }, 'could not save rings');
          saved.failed.push(`rings: ${err.message}`);
          return 0;
        });
      });
    }

    // drains attach to apps before any ingest listener starts; in distributed
    // mode only the drains whose lease this node holds
    const drains = new DrainManager(ctx, { emit: route, cluster: cluster?.join(registry) ?? null }, opts.drains).start();
    if (!cluster) await keepDrainLosses(config.dataDir, drains, parts, saved, log);
    parts.push('drains', (aborting) =>
      // deliver what they hold, at most drainFlushTimeoutMs
      drains.close(aborting ? 0 : config.drainFlushTimeoutMs).catch((err: Error) => log.error({ at: 'drains.close_failed', err: err.message }, 'could not close drains')),
    );
    cluster?.startLeases();

    // ingest workers: HTTP ingest and the syslog listeners hand input to them;
    // at close, lines the workers still hold are routed before drains flush and rings are saved
    // the per-app rate limit (off by default), asked by every ingest path before routing
    if (config.appRateLines > 0) {
      const rate = new AppRateLimiter(ctx, config.appRateLines);
      // distributed mode: the limit is the app's across the nodes (cluster/limit-share.ts)
      const shares = cluster?.shareRateLimit(rate) ?? null;
      parts.push('rate limit', () => {
        shares?.stop();
        rate.close();
      });
    }
    const garbage = new GarbageLog(ctx);
    const pool = config.ingestWorkers > 0 ? await IngestPool.start(ctx, config.ingestWorkers, garbage) : null;
    // when the HTTP server began to stop: the workers get what is left of INGEST_STOP_MS
    const ingestStop = { since: 0 };
    if (pool) parts.push('ingest workers', () => pool.close(ingestStop.since === 0 ? INGEST_STOP_MS : Math.max(WORKERS_STOP_MS, ingestStop.since + INGEST_STOP_MS - Date.now())));

    const http = createHttp(config);
    // stops accepting, answers the POST /logs requests taken (bounded, see registerRoutes), then closes every connection
    parts.push('http', () => {
      ingestStop.since = Date.now();
      return http.close();
    });
    const limits = startConnectionLimits(ctx);
    guardHttpServer(http.server, limits.listener('http'), metrics);
    const history: HistorySource = cluster?.merged ?? new LocalHistory();
    drains.replayFrom(history);
    const tails = new TailService(ctx, {
      history,
      cluster: cluster?.tailBridge(tailDefaults.sessionTtlMs) ?? null,
      admit: (spec) => access.admits(spec),
    });
    if (!cluster) {
      // embedded mode: sessions outlive a graceful restart (saved after the tails end)
      const restored = await loadSessions(config.dataDir, tails.sessions, log);
      // the config may have changed while the server was down (a data dir restored from a backup, an edit
      // by hand): a session its key or its app no longer admits is not kept, nor does it hold quota slots
      const dropped = tails.dropUnreadable();
      if (restored > 0) log.info({ at: 'sessions.restored', sessions: restored - dropped, ...(dropped > 0 ? { dropped } : {}) }, 'restored saved sessions');
      parts.push('sessions', async (aborting) => {
        if (!aborting) await saveSessions(config.dataDir, tails.sessions).catch((err: Error) => {
          log.error({ at: 'sessions.save_failed', err: err.message }, 'could not save sessions');
          saved.failed.push(`sessions: ${err.message}`);
        });
      });
    }
    access.keys.on('changed', () => tails.recheck());
    // live tails end (WebSockets 1001, streams ended) before the HTTP server closes
    parts.push('tails', () => tails.close());
    const readyChecks: ReadyCheck[] = cluster ? [() => cluster.readiness()] : [];
    registerRoutes(http, ctx, { readyChecks, tails, drains, pool, history, stats: cluster?.stats ?? null });

    let httpPort = 0;
    if (opts.noHttp) {
      await http.ready();
      ctx.publicUrl = config.publicUrl ?? '';
    } else {
      await http.listen({ port: config.port, host: config.host });
      const addr = http.server.address();
      httpPort = typeof addr === 'object' && addr ? addr.port : config.port;
      ctx.publicUrl = publicBaseUrl(config, httpPort);
    }
    if (cluster) cluster.nodes.url = ctx.publicUrl;

    const ports = await startListeners(ctx, opts, pool, garbage, parts, limits);
    ports.http = httpPort;
    log.info({ at: 'server.started', http: ports.http, syslog: ports.syslog, udp: ports.udp, tls: ports.tls, dataDir: config.dataDir, apps: registry.size, mode: cluster ? 'distributed' : 'embedded' }, 'logplane started');
    return { ctx, http, ports, generatedKey, drains, tails, cluster, history, lock };
  }

  /** Graceful stop: stop accepting, end tails, answer the POST /logs requests taken (bounded), flush drains (bounded), save rings, close the store; rejects, once stopped, when the rings or sessions could not be saved. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const log = this.ctx.log;
    // a new server on this data dir may start now: it waits for our lock instead of being refused
    this.#lock?.stopping();
    await this.#parts.unwind(false, log);
    const { lines, failed } = this.#saved;
    log.info({ at: 'server.stopped', ...(lines !== null ? { savedLines: lines } : {}) }, 'logplane stopped');
    // stopped all the same, but what was not saved is lost at this restart: `serve` exits 1 for it
    if (failed.length > 0) throw new Error(`stopped, but could not save ${failed.join('; ')}`);
  }
}

/** The admin key: the configured one, the stored one, or a new one (distributed mode: cluster.ts bootstrapApiKey). */
async function bootstrapKey(config: Config, registry: Registry, cluster: Cluster | null): Promise<boolean> {
  if (config.apiKey !== null) {
    // the configured key is the admin key: stored (in Redis, its hash) unless it is already
    if (!registry.useApiKey(config.apiKey)) await registry.setApiKey(config.apiKey);
    return false;
  }
  if (cluster) return cluster.bootstrapApiKey(registry);
  if (registry.apiKey !== null) return false;
  await registry.setApiKey(randomBytes(24).toString('base64url'));
  return true;
}

async function restoreRings(config: Config, registry: Registry, log: Log): Promise<void> {
  const restored = await loadRings(config.dataDir, registry, log);
  if (restored > 0) log.info({ at: 'rings.restored', lines: restored }, 'restored saved history');
}

function createHttp(config: Config): FastifyInstance {
  return Fastify({
    logger: false,
    bodyLimit: config.maxBodyBytes,
    genReqId,
    requestIdHeader: false,
    forceCloseConnections: true,
    return503OnClosing: true,
    // A path parameter can never be longer than the request line, so the
    // router hands every id to its route, which answers an unknown one
    // (Fastify's default of 100 answered 414 for longer ids, and for long
    // URL-encoded drain URLs in DELETE /apps/:app/log-drains/:url).
    routerOptions: { maxParamLength: maxHeaderSize },
    frameworkErrors: frameworkError,
    // what Node's parser refuses (timeouts, oversized headers, not HTTP) in the API's error shape too
    clientErrorHandler: clientError,
    // SPEC 17: headers within 10 s, the whole request within the request
    // timeout (a stalled body is closed), idle keep-alive closed after 60 s;
    // Node checks the first two every connectionsCheckingInterval
    keepAliveTimeout: config.httpKeepAliveMs,
    requestTimeout: config.httpRequestTimeoutMs,
    // Node's own Host check answers an empty 400 without Request-Id: errors.ts answers it in the API's shape
    http: { headersTimeout: config.httpHeadersTimeoutMs, connectionsCheckingInterval: Math.min(1000, config.httpHeadersTimeoutMs), requireHostHeader: false },
  });
}

interface RouteParts {
  readyChecks: ReadyCheck[];
  tails: TailService;
  drains: DrainManager;
  pool: IngestPool | null;
  history: HistorySource;
  /** Distributed mode: the other nodes' lines/s and the apps' cluster counts, for the stats route and the channel list. */
  stats: NodeStats | null;
}

/** Every HTTP route: operations, Logplex v3, sessions and the WebSocket gateway, Platform API, drains, ingest. */
function registerRoutes(http: FastifyInstance, ctx: Context, p: RouteParts): void {
  installErrorHandling(http, ctx);
  registerOpsRoutes(http, ctx, p.readyChecks);
  registerV3(http, ctx, p.history, p.stats);
  registerSessions(http, ctx, p.tails);
  registerPlatform(http, ctx, p.tails);
  registerDrainRoutes(http, ctx, p.drains);
  registerPlatformDrainRoutes(http, ctx, p.drains);
  registerKeyRoutes(http, ctx);
  registerStatsRoutes(http, ctx, p.drains, p.stats);
  registerConsole(http);
  const ingest = registerHttpIngest(http, ctx, { pool: p.pool });
  // POST /logs's common case is served ahead of fastify (http-front.ts)
  const front = new IngestFront(ctx, ingest, { requestId: genReqId });
  front.install(http.server);
  // Graceful stop: fastify answers new requests 503 from now on (and the front hands them to it); no new
  // connections; the POST /logs requests taken are answered, or not stored, before fastify closes every
  // connection after this hook (forceCloseConnections). So a request is stored only if it was answered,
  // and a shipper's retry of one cut off is not stored twice.
  http.addHook('preClose', async () => {
    front.closing = true;
    if (http.server.listening) http.server.close();
    await ingest.settle(REQUESTS_STOP_MS, STORING_STOP_MS);
  });
}

/**
 * Embedded mode: the drains report in an L10 line what they could not
 * deliver at the last stop, and this stop's losses are saved after they
 * close (drains/stop-loss.ts), also when the start fails (nothing delivered).
 */
async function keepDrainLosses(dataDir: string, drains: DrainManager, parts: StartedParts, saved: Saved, log: Log): Promise<void> {
  const lines = drains.announceLosses(await loadDrainLosses(dataDir, log));
  if (lines > 0) log.warn({ at: 'drains.stop_losses', lines }, 'drains begin with an L10 line for what they could not deliver at the last stop');
  parts.push('drain losses', () =>
    saveDrainLosses(dataDir, drains.lostAtStop).catch((err: Error) => {
      log.error({ at: 'drains.losses_save_failed', err: err.message }, 'could not save what the drains could not deliver');
      saved.failed.push(`drain losses: ${err.message}`);
    }),
  );
}

/** The syslog listeners (TCP, UDP on the same port, TLS when configured), each pushed as it starts. */
async function startListeners(ctx: Context, opts: ServerOptions, pool: IngestPool | null, garbage: GarbageLog, parts: StartedParts, limits: ConnectionLimits): Promise<Ports> {
  const { config } = ctx;
  const host = opts.syslogHost ?? config.host;
  const ports: Ports = { http: 0, syslog: null, udp: null, tls: null };
  if (config.syslogPort !== 0 || opts.anyFreeSyslogPorts) {
    const tcp = await startSyslogTcp(ctx, opts.anyFreeSyslogPorts ? 0 : config.syslogPort, host, pool, garbage, limits.listener('tcp'));
    parts.push('syslog tcp', () => closeStreamServer(tcp));
    ports.syslog = (tcp.address() as { port: number }).port;
    const udp: UdpSocket = await startSyslogUdp(ctx, ports.syslog, host, pool);
    parts.push('syslog udp', () => udp.close());
    ports.udp = udp.address().port;
  }
  if (config.syslogTlsPort !== null && config.tlsCert && config.tlsKey) {
    const tls = (await startSyslogTls(ctx, opts.anyFreeSyslogPorts ? 0 : config.syslogTlsPort, host, config.tlsCert, config.tlsKey, pool, garbage, limits.listener('tls'))) as unknown as NetServer;
    parts.push('syslog tls', () => closeStreamServer(tls));
    ports.tls = (tls.address() as { port: number }).port;
  }
  return ports;
}
