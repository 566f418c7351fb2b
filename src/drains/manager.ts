// DrainManager: keeps one live Drain per DrainRecord of every app. It listens
// to the registry ('app', 'appDeleted'), creates, replaces (URL change) and
// destroys drains, attaches them to app.sinks so route() offers them every
// line, validates management requests (SPEC 6.1), exposes status and metrics,
// and flushes everything on a graceful stop.
import { randomUUID } from 'node:crypto';
import type { App, LineSink } from '../apps.js';
import type { Context } from '../context.js';
import { ConflictError, NotFoundError, UnprocessableError } from '../errors.js';
import type { DrainRecord } from '../store/store.js';
import { DrainBudget } from './budget.js';
import type { Clock } from '../basics/clock.js';
import type { Drain } from './drain.js';
import type { DrainOptions } from './options.js';
import { DRAIN_STATES, DrainState, stateLabel, type DrainStatus } from './status.js';
import { refusedHost, type Lookup } from './guard.js';
import { HttpsDrain } from './https.js';
import { SyslogTcpDrain, SyslogTlsDrain } from './syslog.js';
import { DrainKind, kindLabel, parseDrainUrl, type DrainTarget } from './url.js';
import type { DrainCluster, DrainHandle, ReplayAnswer } from './ownership.js';
import { replayAnswer, ReplayLimit, type ReplayRequest } from './replay.js';
import type { HistorySource } from '../history/source.js';
import { lineFilterOf, parseDrainFilter, sameFilter } from './filter.js';
import { createDrainMetrics, KINDS, type DrainMetrics } from './metrics.js';
import type { DrainLoss } from './stop-loss.js';

/** Emits a platform line (L14) into an app's stream, as any other line: route() at wiring time. */
export type EmitLine = (app: App, line: Buffer) => void;

/** Test and bench hooks; production uses none of them. */
export interface DrainManagerOptions {
  clock?: Clock;
  random?: () => number;
  /** DNS lookup before the private-address guard. */
  lookup?: Lookup;
  /** Extra trusted CA certificates. */
  ca?: string | Buffer | Array<string | Buffer>;
  batchBytes?: number;
}

/** What the drain manager is built with. */
export interface DrainWiring {
  /** Where a drain's L14 lines go (the router: the manager does not import it). */
  emit: EmitLine;
  /**
   * Distributed mode: run only the drains whose lease this node holds, fed
   * through the cluster (every node's lines once, replay after a takeover)
   * instead of straight from app.sinks. null in embedded mode.
   */
  cluster: DrainCluster | null;
}

export interface DrainInfo {
  record: DrainRecord;
  status: DrainStatus;
}

interface Live {
  record: DrainRecord;
  drain: Drain;
  /** What is in app.sinks: the drain, or in distributed mode its cluster feed. */
  sink: LineSink;
}

/** Make the right Drain for a parsed URL. */
export function createDrain(opts: DrainOptions): Drain {
  switch (opts.target.kind) {
    case DrainKind.HTTPS:
    case DrainKind.HTTP:
      return new HttpsDrain(opts);
    case DrainKind.SYSLOG:
      return new SyslogTcpDrain(opts);
    case DrainKind.SYSLOG_TLS:
      return new SyslogTlsDrain(opts);
  }
}

/** The status of a drain no node has reported on yet (distributed mode: its owner has not written it). */
const UNKNOWN_STATUS: DrainStatus = Object.freeze({ state: 'connecting', delivered: 0, dropped: 0, queueDepth: 0, lastSuccessAt: null, lastError: null, nextRetryAt: null, latencyMs: Object.freeze({ p50: null, p99: null }), dropped1h: 0 });

/**
 * The status of a stored drain whose URL this version refuses (a record an
 * older version let in; docs/drains.md, "URLs"): kept, never run, failing
 * with the reason until its URL is changed or it is removed. Every node
 * reads it the same from the record alone.
 */
function refusedUrlStatus(rec: DrainRecord): DrainStatus | null {
  try {
    parseDrainUrl(rec.url);
    return null;
  } catch (err) {
    const at = Date.parse(rec.updatedAt);
    return { ...UNKNOWN_STATUS, state: DrainState.FAILING, lastError: { at: Number.isFinite(at) ? at : 0, errno: 'EINVALIDURL', text: (err as Error).message } };
  }
}

/** The app's drain of this id, or 404. */
function drainOf(app: App, id: string): DrainRecord {
  const record = app.record.drains.find((d) => d.id === id);
  if (!record) throw new NotFoundError('drain not found');
  return record;
}

/** What distributed mode's feed gets for an owned drain: it filters, the drain queues. */
function clusterHandle(drain: Drain): DrainHandle {
  const f = drain.filter;
  return {
    sink: { offer: (rec: Buffer) => drain.take(rec) },
    ...(f !== null ? { accepts: (rec: Buffer) => f.matches(rec) } : {}),
    consumed: () => drain.consumed,
    status: () => drain.status(),
  };
}

export class DrainManager {
  readonly #ctx: Context;
  readonly #opts: DrainManagerOptions;
  readonly #byApp = new Map<string, Map<string, Live>>();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #metrics: DrainMetrics;
  /** Memory of every drain queue on this node (SPEC 16). */
  readonly budget: DrainBudget;
  readonly #onApp = (app: App): void => this.#sync(app);
  readonly #onAppDeleted = (app: App): void => this.#remove(app);
  /** Distributed mode: a lease came or went; re-sync that app. */
  readonly #onLease = (appId: string): void => {
    const app = this.#ctx.registry.get(appId);
    if (app) this.#sync(app);
  };
  readonly #cluster: DrainCluster | null;
  readonly #emit: EmitLine;
  #started = false;
  /** Where replays read the app's history (set at wiring time). */
  #history: HistorySource | null = null;
  /** One replay of a drain at a time, and so many a minute (replays run here when this node delivers the drain). */
  readonly #replayLimit: ReplayLimit;
  #closing: Promise<void> | null = null;
  /** Embedded mode, once closed: what each drain could not deliver (drains/stop-loss.ts saves it). */
  #lostAtStop: DrainLoss[] = [];

  constructor(ctx: Context, wiring: DrainWiring, opts: DrainManagerOptions = {}) {
    this.#ctx = ctx;
    this.#opts = opts;
    this.#cluster = wiring.cluster;
    this.#emit = wiring.emit;
    this.#metrics = createDrainMetrics(ctx);
    this.#replayLimit = new ReplayLimit(ctx.config.drainReplaysPerMinute);
    this.budget = new DrainBudget({ limitBytes: ctx.config.drainBudgetBytes, perDrainBytes: ctx.config.drainQueueBytes });
    const m = this.#metrics;
    m.queuedBytes.collect = () => m.queuedBytes.set(this.budget.used);
    m.budget.collect = () => m.budget.set(this.budget.limit);
    m.share.collect = () => m.share.set(this.budget.share);
    m.reclaims.collect = () => m.reclaims.set(this.budget.reclaims);
    m.borrowed.collect = () => m.borrowed.set(this.budget.borrowed());
    m.drains.collect = () => {
      const counts = new Map<string, number>();
      const depth = new Map<string, number>();
      for (const d of this.#all()) {
        const k = kindLabel(d.target.kind);
        counts.set(`${k}\u0000${d.state}`, (counts.get(`${k}\u0000${d.state}`) ?? 0) + 1);
        depth.set(k, (depth.get(k) ?? 0) + d.depth);
      }
      for (const kind of KINDS) {
        const k = kindLabel(kind);
        for (const s of DRAIN_STATES) m.drains.set(counts.get(`${k}\u0000${s}`) ?? 0, k, stateLabel(s));
        m.queued.set(depth.get(k) ?? 0, k);
      }
    };
  }

  /** Attach drains to every app now and follow registry changes. */
  start(): this {
    if (this.#started) return this;
    this.#started = true;
    const reg = this.#ctx.registry;
    for (const app of reg.apps()) this.#sync(app);
    reg.on('app', this.#onApp);
    reg.on('appDeleted', this.#onAppDeleted);
    this.#cluster?.drains.on('acquire', this.#onLease).on('release', this.#onLease); // distributed mode
    return this;
  }

  *#all(): Generator<Drain> {
    for (const m of this.#byApp.values()) for (const l of m.values()) yield l.drain;
  }

  /** Number of live drains (all apps). */
  get size(): number {
    let n = 0;
    for (const m of this.#byApp.values()) n += m.size;
    return n;
  }

  /** The live drain for a record id (tests, status). */
  drain(appId: string, id: string): Drain | undefined {
    return this.#byApp.get(appId)?.get(id)?.drain;
  }

  #options(app: App, rec: DrainRecord, target: DrainTarget): DrainOptions {
    const c = this.#ctx.config;
    const o = this.#opts;
    return {
      id: rec.id,
      token: rec.token,
      target,
      queueBytes: c.drainQueueBytes,
      burstBytes: c.drainBurstBytes,
      budget: this.budget,
      retries: c.drainRetries,
      backoffBaseMs: c.drainBackoffBaseMs,
      backoffMaxMs: c.drainBackoffMaxMs,
      connectTimeoutMs: c.drainConnectTimeoutMs,
      responseTimeoutMs: c.drainResponseTimeoutMs,
      reconnectBaseMs: c.drainReconnectBaseMs,
      reconnectMaxMs: c.drainReconnectMaxMs,
      allowPrivate: c.drainAllowPrivate,
      filter: lineFilterOf(rec.filter),
      counters: this.#metrics.counters.get(target.kind)!,
      log: this.#ctx.log,
      emit: (line: Buffer) => {
        // platform lines (L14) go through the app like any other line
        if (this.#ctx.registry.get(app.id) === app) this.#emit(app, line);
      },
      ...(o.batchBytes !== undefined ? { batchBytes: o.batchBytes } : {}),
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.random ? { random: o.random } : {}),
      ...(o.lookup ? { lookup: o.lookup } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
    };
  }

  /** Make the live drains match app.record.drains. */
  #sync(app: App): void {
    if (this.#closing) return;
    let live = this.#byApp.get(app.id);
    const want = app.record.drains;
    if (!live) {
      if (want.length === 0) return;
      live = new Map();
      this.#byApp.set(app.id, live);
    }
    const keep = new Set<string>();
    const cluster = this.#cluster;
    for (const rec of want) {
      if (cluster && !cluster.drains.owns(rec.id)) continue; // distributed mode: another node delivers it
      keep.add(rec.id);
      const cur = live.get(rec.id);
      if (cur && cur.record.url === rec.url && cur.record.token === rec.token && sameFilter(cur.record.filter, rec.filter)) {
        cur.record = rec;
        continue;
      }
      let target: DrainTarget;
      try {
        target = parseDrainUrl(rec.url);
      } catch (err) {
        // a record an older version let in: kept and shown as failing (refusedUrlStatus), not run
        this.#ctx.log.error({ at: 'drain.invalid_record', app: app.id, drain: rec.id, err: (err as Error).message }, 'stored drain has an invalid URL; not started');
        if (cur) this.#stop(app, live, cur);
        continue;
      }
      // URL changed: the new drain takes over what the old one held and owed
      // (its batch in hand, queue and loss ledger: Drain#handOver). Distributed
      // mode: not the lines, the new feed replays them from the checkpoint.
      const handOver = cur?.drain.handOver(!cluster);
      if (cur) this.#stop(app, live, cur);
      const drain = createDrain({ ...this.#options(app, rec, target), ...(handOver ? { handOver } : {}) });
      const sink = cluster ? cluster.attachDrain(app.id, rec.id, clusterHandle(drain)) : drain;
      live.set(rec.id, { record: rec, drain, sink });
      app.addSink(sink);
      this.#ctx.log.info({ at: 'drain.started', app: app.id, drain: rec.id, kind: target.kind, url: target.display }, 'drain started');
    }
    for (const l of [...live.values()]) if (!keep.has(l.record.id)) this.#stop(app, live, l);
    if (live.size === 0) this.#byApp.delete(app.id);
  }

  #stop(app: App, live: Map<string, Live>, l: Live): void {
    app.removeSink(l.sink);
    this.#cluster?.detachDrain(l.record.id); // distributed mode: cursor saved, next owner replays the rest
    live.delete(l.record.id);
    const left = l.drain.destroy();
    this.#ctx.log.info({ at: 'drain.stopped', app: app.id, drain: l.record.id, undelivered: left }, 'drain stopped');
  }

  #remove(app: App): void {
    const live = this.#byApp.get(app.id);
    if (!live) return;
    for (const l of [...live.values()]) this.#stop(app, live, l);
    this.#byApp.delete(app.id);
  }

  // ---- management (SPEC 6.1) -------------------------------------------

  /** Run fn with this app's drain list to itself (no lost updates). */
  async #locked<T>(appId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(appId) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(appId, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(appId) === tail) this.#locks.delete(appId);
    }
  }

  /** Parse, then refuse private destinations early (the connect-time guard still applies). */
  async #validate(url: unknown): Promise<string> {
    const target = parseDrainUrl(url);
    const reason = await refusedHost(target.host, this.#ctx.config.drainAllowPrivate, this.#opts.lookup);
    if (reason) throw new UnprocessableError(`url: ${reason}`, 'private_address');
    return url as string;
  }

  /**
   * The app's drains with their status: this node's drains' own; in
   * distributed mode, for those another node delivers, that node's status as
   * it last wrote it to Redis (read now, bounded in time).
   */
  async list(appId: string): Promise<DrainInfo[]> {
    const app = await this.#current(appId);
    return this.#withStatus(appId, app.record.drains);
  }

  async get(appId: string, id: string): Promise<DrainInfo> {
    const record = await this.record(appId, id);
    return (await this.#withStatus(appId, [record]))[0]!;
  }

  /** The app's drain record as stored now (404 for an unknown app or drain); no status. */
  async record(appId: string, id: string): Promise<DrainRecord> {
    return drainOf(await this.#current(appId), id);
  }

  /** The app as stored now (distributed mode: another node's change included, Registry.current), or 404. */
  async #current(appId: string): Promise<App> {
    const app = await this.#ctx.registry.current(appId);
    if (!app) throw new NotFoundError('channel not found');
    return app;
  }

  async #withStatus(appId: string, records: readonly DrainRecord[]): Promise<DrainInfo[]> {
    const live = this.#byApp.get(appId);
    const refused = new Set<DrainInfo>();
    const out: DrainInfo[] = records.map((record) => {
      const running = live?.get(record.id)?.drain.status();
      if (running) return { record, status: running };
      const bad = refusedUrlStatus(record);
      const info = { record, status: bad ?? UNKNOWN_STATUS };
      if (bad) refused.add(info);
      return info;
    });
    const cluster = this.#cluster;
    if (cluster) {
      // distributed mode: the owners' status, as they last wrote it to Redis (no node runs a refused URL)
      const remote = out.filter((i) => !live?.has(i.record.id) && !refused.has(i));
      const st = await cluster.remoteStatuses(appId, remote.map((i) => i.record.id));
      remote.forEach((i, k) => {
        const s = st[k];
        if (s) i.status = s;
      });
    }
    return out;
  }

  /** Add a drain; `filter` is the request's `filter` field (SPEC 16), checked here. */
  async add(appId: string, url: unknown, filter?: unknown): Promise<DrainRecord> {
    await this.#current(appId);
    const f = parseDrainFilter(filter);
    const u = await this.#validate(url);
    return this.#locked(appId, () =>
      this.#ctx.registry.updateDrains(appId, (drains) => {
        if (drains.some((d) => d.url === u)) throw new ConflictError('already exists');
        if (drains.length >= this.#ctx.config.maxDrainsPerApp) throw new UnprocessableError('maximum number of drains reached', 'limit_reached');
        const now = new Date().toISOString();
        const rec: DrainRecord = { id: randomUUID(), token: `d.${randomUUID()}`, url: u, createdAt: now, updatedAt: now, ...(f ? { filter: f } : {}) };
        return { drains: [...drains, rec], result: rec };
      }),
    );
  }

  /**
   * Change a drain's URL. Its filter cannot change: a `filter` other than the
   * drain's is a 422. `changed`: this call changed the URL (decided by the
   * atomic change: a URL the drain has already is no change).
   */
  async update(appId: string, id: string, url: unknown, filter?: unknown): Promise<{ record: DrainRecord; changed: boolean }> {
    const cur = await this.record(appId, id);
    if (filter !== undefined && !sameFilter(parseDrainFilter(filter), cur.filter)) {
      throw new UnprocessableError('filter: cannot be changed; remove the drain and add it again with the new filter', 'filter_immutable');
    }
    const u = await this.#validate(url);
    return this.#locked(appId, () =>
      this.#ctx.registry.updateDrains<{ record: DrainRecord; changed: boolean }>(appId, (drains) => {
        const i = drains.findIndex((d) => d.id === id);
        if (i === -1) throw new NotFoundError('drain not found');
        const old = drains[i]!;
        if (old.url === u) return { drains: undefined, result: { record: old, changed: false } };
        if (drains.some((d) => d.url === u)) throw new ConflictError('already exists');
        const rec: DrainRecord = { ...old, url: u, updatedAt: new Date().toISOString() };
        const next = drains.slice();
        next[i] = rec;
        return { drains: next, result: { record: rec, changed: true } };
      }),
    );
  }

  /** Remove by id, URL or token (Heroku's id_url_or_token). */
  async remove(appId: string, key: string): Promise<DrainRecord> {
    await this.#current(appId);
    return this.#locked(appId, () =>
      this.#ctx.registry.updateDrains(appId, (drains) => {
        const rec = drains.find((d) => d.id === key) ?? drains.find((d) => d.token === key) ?? drains.find((d) => d.url === key);
        if (!rec) throw new NotFoundError('drain not found');
        return { drains: drains.filter((d) => d !== rec), result: rec };
      }),
    );
  }

  // ---- replay (SPEC 16) ---------------------------------------------------

  /** Replays read `history`; in distributed mode this node also runs the replays other nodes forward to it. */
  replayFrom(history: HistorySource): void {
    this.#history = history;
    this.#cluster?.serveReplays((appId, id, req) => this.#replayHere(appId, id, req, true));
  }

  /**
   * Re-send what the app's history holds to a drain: on this node when it
   * delivers the drain, else (distributed mode) on the node that does.
   * Resolves with the API's answer (202, or the error it met).
   */
  async replay(appId: string, id: string, req: ReplayRequest): Promise<ReplayAnswer> {
    await this.record(appId, id); // unknown app or drain: 404
    if (this.#cluster && !this.#byApp.get(appId)?.has(id)) return this.#cluster.forwardReplay(appId, id, req);
    return this.#replayHere(appId, id, req, false);
  }

  #replayHere(appId: string, id: string, req: ReplayRequest, forwarded: boolean): Promise<ReplayAnswer> {
    return replayAnswer(forwarded, this.#history, this.#cluster, this.#replayLimit, () => {
      const app = this.#ctx.registry.require(appId);
      drainOf(app, id);
      return { app, drain: this.#byApp.get(appId)?.get(id)?.drain };
    }, req);
  }

  // ---- stop ---------------------------------------------------------------

  /** Embedded mode, after close(): the lines each drain held or owed an L10 line for (none in distributed mode: the next owner replays them). */
  get lostAtStop(): readonly DrainLoss[] {
    return this.#lostAtStop;
  }

  /** The losses of the last stop (drains/stop-loss.ts): each drain still there reports them in its next L10 line. Returns the lines announced. */
  announceLosses(losses: readonly DrainLoss[]): number {
    let lines = 0;
    for (const l of losses) {
      const drain = this.drain(l.app, l.drain);
      if (!drain) continue; // removed, or its app deleted, while the server was down
      drain.lostAtStop(l.lines, l.sinceMs);
      lines += l.lines;
    }
    return lines;
  }

  /** Wait (at most timeoutMs) until every drain has delivered what it holds. */
  async flush(timeoutMs: number): Promise<{ drains: number; flushed: number }> {
    const all = [...this.#all()];
    const results = await Promise.all(all.map((d) => d.flush(timeoutMs)));
    return { drains: all.length, flushed: results.filter(Boolean).length };
  }

  /** Graceful stop: flush (bounded), then release every connection. */
  close(timeoutMs: number): Promise<void> {
    this.#closing ??= (async () => {
      const reg = this.#ctx.registry;
      reg.off('app', this.#onApp);
      reg.off('appDeleted', this.#onAppDeleted);
      this.#cluster?.drains.off('acquire', this.#onLease).off('release', this.#onLease);
      // distributed mode: lines from now on are the next owner's (they are in Redis)
      this.#cluster?.quiesce();
      const r = await this.flush(timeoutMs);
      let undelivered = 0;
      for (const [appId, live] of this.#byApp) {
        const app = reg.get(appId);
        for (const l of live.values()) {
          const owed = l.drain.owed;
          if (!this.#cluster && owed.lines > 0) this.#lostAtStop.push({ app: appId, drain: l.record.id, ...owed });
          app?.removeSink(l.sink);
          this.#cluster?.detachDrain(l.record.id);
          undelivered += l.drain.destroy();
        }
      }
      this.#byApp.clear();
      const level = r.flushed === r.drains ? 'info' : 'warn';
      this.#ctx.log[level]({ at: 'drains.closed', drains: r.drains, flushed: r.flushed, undelivered }, 'drains flushed and closed');
    })();
    return this.#closing;
  }
}
