// The tail service of one node: the session store, one hub per app with
// readers, every open tail, and the timers shared by all tails (WebSocket
// pings, SSE keepalives, session sweeps). Transports (ws.ts, sse.ts, text.ts)
// make a TailSink and call open().
import type { App } from '../apps.js';
import type { Context } from '../context.js';
import { LineFilter } from '../line-filter.js';
import type { HistorySource } from '../history/source.js';
import { TailHub, type HubOrder } from './hub.js';
import { Tail, type TailSink, type Transport } from './tail.js';
import type { StartHistory } from './start.js';
import { systemClock, type TimeSource } from '../basics/clock.js';
import { SessionStore, sameIncarnation, type Session, type SessionRequest, type SessionSpec } from './session.js';
import { quotaOf, SESSION_LIMITS, sessionLimitError, type Refusal, type SessionLimit } from './quota.js';
import type { Child } from '../obs/metrics.js';

export interface TailServiceOptions {
  /** Lines a tail may queue before the oldest are dropped (config.tailQueueLines). */
  queueLines: number;
  /** Socket buffer above which a tail queues instead of writing. */
  maxBufferedBytes: number;
  /** WebSocket ping period; a peer that misses two pongs is closed. */
  pingIntervalMs: number;
  /** Keepalive period of the HTTP tails, SSE `: keepalive` and text's empty line (sent when nothing else was). */
  keepaliveMs: number;
  /** How often expired sessions are forgotten. */
  sweepMs: number;
  /** Session life after creation / after the last reader left. */
  sessionTtlMs: number;
  clock: TimeSource;
}

export const tailDefaults = {
  maxBufferedBytes: 512 * 1024,
  pingIntervalMs: 30_000,
  keepaliveMs: 15_000,
  sweepMs: 60_000,
  sessionTtlMs: 360_000,
} as const;

/** Optional periodic duties of a sink. */
export interface Heartbeat {
  ping?(): void;
  keepalive?(): void;
}

/**
 * Distributed mode hooks (implemented by cluster/tails.ts): sessions shared
 * through Redis, live lines of other nodes.
 */
export interface TailCluster {
  /** Seq ordering of live lines across nodes. */
  readonly order: HubOrder;
  /** First tail of an app on this node: feed the hub the app's lines from other nodes. Resolves once subscribed. */
  watch(app: App, hub: TailHub): Promise<void>;
  unwatch(app: App, hub: TailHub): void;
  /** A tail of the hub started from the app's shared history read through this ordinal (its live part goes on from there). */
  readThrough?(hub: TailHub, ordinal: number): void;
  /** A session was created here: make it readable on every node; resolves once it is (or cannot be). */
  sessionCreated(s: Session): Promise<void>;
  /** A session's readers changed on this node (keep it alive while read anywhere). */
  sessionTouched(s: Session): void;
  /** A session made on another node, or null. */
  findSession(id: string): Promise<Session | null>;
  /** Sessions this node forgot before their time (their key lost the app, their app is gone): no node may adopt them again. */
  sessionsEnded(sessions: readonly Session[]): void;
}

/** What the tail service is built with. */
export interface TailWiring {
  /** Where a tail's replay comes from: the local ring, or Redis merged with it. */
  history: HistorySource;
  /** Distributed mode hooks; null in embedded mode. */
  cluster: TailCluster | null;
  /** Whether a session may still be read (its creating key still reaches the app); absent: always. */
  admit?: (spec: SessionSpec) => boolean;
}

export class TailService {
  readonly ctx: Context;
  readonly sessions: SessionStore;
  readonly options: TailServiceOptions;
  readonly #hubs = new Map<string, TailHub>();
  readonly #tails = new Set<Tail>();
  /** Distributed mode: hubs whose subscription to other nodes' lines is not yet confirmed. */
  readonly #subscribing = new Map<TailHub, Promise<void>>();
  #pingTimer: NodeJS.Timeout | null = null;
  #keepaliveTimer: NodeJS.Timeout | null = null;
  #sweepTimer: NodeJS.Timeout | null = null;
  #closing = false;
  /** Run at close, after the tails are stopped (e.g. the WebSocket gateway). */
  readonly closers: Array<() => void> = [];
  /** Totals of tails that have closed (live tails are added at scrape time). */
  readonly #closedOut = new Map<Transport, number>();
  #closedDropped = 0;
  #closedLate = 0;
  #closedResumeLate = 0;
  /** Distributed mode hooks; null in embedded mode. */
  readonly cluster: TailCluster | null;
  readonly #history: HistorySource;
  readonly #admit: ((spec: SessionSpec) => boolean) | null;
  /** Sessions refused by a quota (quota.ts), by limit. */
  readonly #refused: Record<SessionLimit, Child>;

  constructor(ctx: Context, wiring: TailWiring, opts: Partial<TailServiceOptions> = {}) {
    this.ctx = ctx;
    this.cluster = wiring.cluster;
    this.#history = wiring.history;
    this.#admit = wiring.admit ?? null;
    this.options = {
      queueLines: ctx.config.tailQueueLines,
      ...tailDefaults,
      clock: systemClock,
      ...opts,
    };
    this.sessions = new SessionStore({ ttlMs: this.options.sessionTtlMs, clock: this.options.clock, quota: quotaOf(ctx.config) });
    ctx.registry.on('appDeleted', (app: App) => this.#appDeleted(app));
    this.#refused = this.#installMetrics();
    this.#startTimers();
  }

  /** Change timings or the clock (tests); restarts the timers. */
  configure(opts: Partial<TailServiceOptions>): void {
    Object.assign(this.options, opts);
    this.sessions.clock = this.options.clock;
    this.sessions.ttlMs = this.options.sessionTtlMs;
    this.#startTimers();
  }

  /** A new session of `app` (bound to this incarnation of it); in distributed mode resolves once other nodes can read it too. Over a quota: a LimitError (429 or 503). */
  async createSession(app: App, req: SessionRequest): Promise<Session> {
    const s = this.createHere(app, req);
    await this.cluster?.sessionCreated(s);
    return s;
  }

  /** A new session of `app` on this node only (not shared through Redis: the library's in-process tails); throws a LimitError over a quota. */
  createHere(app: App, req: SessionRequest): Session {
    const spec: SessionSpec = { ...req, app: app.id, appUuid: app.record.uuid };
    const refused = this.sessions.admit(spec);
    if (refused !== null) throw this.#refusal(refused, spec);
    return this.sessions.create(spec)!;
  }

  /** Count a refusal (never logged: a client at its quota would fill the log, and a log line must not name a key) and make its answer. */
  #refusal(r: Refusal, spec: SessionSpec): Error {
    this.#refused[r.limit].value++;
    return sessionLimitError(r, spec, this.sessions.quota.options, this.options.clock.now());
  }

  /** lookup(), or in distributed mode a session made on another node (adopted here). */
  async lookupAnywhere(id: string): Promise<{ session: Session; app: App } | null> {
    const found = this.lookup(id);
    if (found || this.cluster === null || this.#closing) return found;
    const s = await this.cluster.findSession(id);
    // one that is 404 anyway (its key lost the app, the app is gone or made again) takes no slot here
    if (!s || this.#closing || this.#readableApp(s.spec) === null) return null;
    // held here too, so within this node's quota: the key's sessions read here count as those made here
    const refused = this.sessions.adopt(s);
    if (refused !== null) throw this.#refusal(refused, s.spec);
    return this.lookup(id);
  }

  /** The session and its app, or null (unknown, expired, app gone or made again, key's access lost) → 404. */
  lookup(id: string): { session: Session; app: App } | null {
    if (this.#closing) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    const app = this.#readableApp(session.spec);
    return app === null ? null : { session, app };
  }

  /** Start a reader: history (or every line after `after`) now, then live lines if the session tails. */
  open(session: Session, app: App, sink: TailSink, after: number | null): Tail {
    const spec = session.spec;
    const o = this.options;
    const tail = new Tail(session, app, sink, new LineFilter(spec), { queueLines: o.queueLines, maxBufferedBytes: o.maxBufferedBytes, clock: o.clock });
    this.sessions.acquire(session);
    this.cluster?.sessionTouched(session);
    this.#tails.add(tail);
    tail.onClose = (t) => {
      this.#tails.delete(t);
      this.sessions.release(t.session);
      this.cluster?.sessionTouched(t.session);
      this.#closedOut.set(t.sink.transport, (this.#closedOut.get(t.sink.transport) ?? 0) + t.linesOut);
      this.#closedDropped += t.queue.droppedTotal;
      this.#closedLate += t.lateTotal;
      this.#closedResumeLate += t.resumeLateTotal;
    };
    const cluster = this.cluster;
    let hub: TailHub | null = null;
    let subscribed: Promise<void> = Promise.resolve();
    if (spec.tail) {
      hub = this.#hubs.get(app.id) ?? null;
      if (hub === null || hub.app !== app) {
        const h = new TailHub(app, cluster?.order ?? null);
        hub = h;
        h.onEmpty = (x) => {
          if (this.#hubs.get(x.app.id) === x) this.#hubs.delete(x.app.id);
          cluster?.unwatch(x.app, x);
        };
        h.onError = (err) => this.ctx.log.error({ at: 'tail.deliver_failed', app: app.id, err: err.message }, 'tail delivery failed; tail closed');
        this.#hubs.set(app.id, h);
        if (cluster) this.#subscribing.set(h, cluster.watch(app, h).finally(() => this.#subscribing.delete(h)));
      }
      subscribed = this.#subscribing.get(hub) ?? subscribed;
    }
    // a resume point from the reader (query `after`, Last-Event-ID) wins over the session's
    const resume = after ?? spec.after;
    const history = this.#history;
    if (history.local) {
      tail.start(hub, resume);
      return tail;
    }
    // the history as of now (read before any line routed from here on is
    // written; `num` counts back from it), then, once other nodes' lines
    // reach the hub, what they appended in between: with the live lines, every
    // line after that history, none twice (tail.ts startFrom); when that
    // second read fails, the tail announces a gap for what it may have missed
    let ready: Promise<StartHistory>;
    // (for a resume, the loss notices it cannot have been told of: HistorySource.read)
    if (hub === null || history.readSplit === undefined) ready = history.read(app, Infinity, false, resume);
    else {
      const split = history.readSplit(app, resume);
      const started = hub;
      ready = Promise.all([split.view, subscribed]).then(
        ([h]) => {
          if (h.through === undefined) {
            split.cancel();
            return h;
          }
          const through = h.through;
          return split.after(through).then(
            (newer) => {
              // the app's follower, on a quiet app, never had a batch: what is trimmed past here before it reads is lost, not unknown
              // (when this read fails the start estimates the hole after the history instead)
              if (newer.complete) cluster?.readThrough?.(started, newer.through);
              return { ...h, newer };
            },
            () => ({ ...h, newer: { lines: [], lost: 0, since: o.clock.now(), through, complete: false } }),
          );
        },
        (err: unknown) => {
          split.cancel();
          throw err;
        },
      );
    }
    tail.startFrom(hub, resume, ready);
    return tail;
  }

  /** Open tails (tests, metrics). */
  get tailCount(): number {
    return this.#tails.size;
  }
  tails(): IterableIterator<Tail> {
    return this.#tails.values();
  }
  hub(appId: string): TailHub | undefined {
    return this.#hubs.get(appId);
  }

  /** Stop every tail (server closing): WebSockets get 1001, HTTP streams end. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#stopTimers();
    for (const t of [...this.#tails]) {
      try {
        t.sink.close('shutdown');
      } finally {
        t.close();
      }
    }
    for (const c of this.closers) c();
  }

  /**
   * Access changed (a key revoked or narrowed): end the tails whose session
   * it no longer admits, and forget those sessions. They are 404 from now on
   * for good (the key given the app back does not revive them), so they must
   * not hold their key's and app's slots until they expire (quota.ts).
   */
  recheck(): void {
    const admit = this.#admit;
    if (admit === null) return;
    for (const t of [...this.#tails]) {
      if (admit(t.session.spec)) continue;
      try {
        t.sink.close('revoked');
      } finally {
        t.close();
      }
    }
    this.dropUnreadable();
  }

  /**
   * Forget every session that may no longer be read (#readableApp): a
   * session is 404 for good once its key lost the app, or its app is gone
   * (the incarnation it was made for never comes back). Called on an access
   * change and, in embedded mode, on the sessions restored at a start, which
   * the config may have changed under (a data dir restored from a backup).
   */
  dropUnreadable(): number {
    const ended = this.sessions.dropIf((s) => this.#readableApp(s.spec) === null);
    if (ended.length > 0) this.cluster?.sessionsEnded(ended);
    return ended.length;
  }

  /** The app a session of `spec` reads, or null: the app is gone or is another app of that name, or the session's key no longer reaches it. */
  #readableApp(spec: SessionSpec): App | null {
    if (this.#admit !== null && !this.#admit(spec)) return null;
    const app = this.ctx.registry.get(spec.app);
    return app !== undefined && sameIncarnation(spec, app) ? app : null;
  }

  #appDeleted(app: App): void {
    const hub = this.#hubs.get(app.id);
    if (hub && hub.app === app) {
      for (const t of [...hub.tails()]) {
        t.sink.close('deleted');
        t.close();
      }
    }
    this.sessions.dropApp(app.id);
  }

  #startTimers(): void {
    this.#stopTimers();
    if (this.#closing) return;
    const o = this.options;
    this.#pingTimer = setInterval(() => this.#each('ping'), o.pingIntervalMs).unref();
    this.#keepaliveTimer = setInterval(() => this.#each('keepalive'), o.keepaliveMs).unref();
    this.#sweepTimer = setInterval(() => this.sessions.sweep(), o.sweepMs).unref();
  }

  #stopTimers(): void {
    for (const t of [this.#pingTimer, this.#keepaliveTimer, this.#sweepTimer]) if (t) clearInterval(t);
    this.#pingTimer = this.#keepaliveTimer = this.#sweepTimer = null;
  }

  #each(duty: 'ping' | 'keepalive'): void {
    for (const t of this.#tails) {
      const hb = t.sink as TailSink & Heartbeat;
      try {
        hb[duty]?.();
      } catch {
        /* a sink that cannot be written is closed by its own close event */
      }
    }
  }

  #installMetrics(): Record<SessionLimit, Child> {
    const reg = this.ctx.metrics.registry;
    const refused = reg.counter('logplane_tail_sessions_refused_total', 'Sessions refused (created or read from another node), by the limit they were over: key_limit, app_limit (429), node_limit (503).', ['reason']);
    const tails = reg.gauge('logplane_tails', 'Open tail readers, by transport.', ['transport']);
    const sessions = reg.gauge('logplane_tail_sessions', 'Sessions held (not yet expired).');
    const linesOut = reg.counter('logplane_tail_lines_total', 'Lines written to tail readers, by transport.', ['transport']);
    const dropped = reg.counter('logplane_tail_dropped_total', 'Lines dropped by tail queues (slow readers), by reason.', ['reason']);
    const transports: Transport[] = ['ws', 'sse', 'text', 'lib'];
    tails.collect = () => {
      const n = new Map<Transport, number>(transports.map((t) => [t, 0]));
      for (const t of this.#tails) n.set(t.sink.transport, n.get(t.sink.transport)! + 1);
      for (const [k, v] of n) tails.set(v, k);
    };
    sessions.collect = () => sessions.set(this.sessions.size);
    linesOut.collect = () => {
      const n = new Map<Transport, number>(transports.map((t) => [t, this.#closedOut.get(t) ?? 0]));
      for (const t of this.#tails) n.set(t.sink.transport, n.get(t.sink.transport)! + t.linesOut);
      for (const [k, v] of n) linesOut.set(v, k);
    };
    dropped.collect = () => {
      let n = this.#closedDropped;
      let late = this.#closedLate;
      let resumeLate = this.#closedResumeLate;
      for (const t of this.#tails) {
        n += t.queue.droppedTotal;
        late += t.lateTotal;
        resumeLate += t.resumeLateTotal;
      }
      dropped.set(n, 'overflow');
      if (this.cluster) dropped.set(late, 'late'); // distributed mode: lines of other nodes that arrived out of order
      if (this.cluster) dropped.set(resumeLate, 'resume_late'); // and a resume's: appended after the line it resumed from, with older seqs
    };
    return Object.fromEntries(SESSION_LIMITS.map((l) => [l, refused.labels(l)])) as Record<SessionLimit, Child>;
  }
}
