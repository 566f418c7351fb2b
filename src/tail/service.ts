// The tail service of one node: the session store, one hub per app with
// readers, every open tail, and the timers shared by all tails (WebSocket
// pings, SSE keepalives, session sweeps). Transports (ws.ts, sse.ts, text.ts)
// make a TailSink and call open().
import type { App } from '../apps.js';
import type { Context } from '../context.js';
import { LogplaneError, ErrorCode } from '../errors.js';
import { LineFilter } from './filter.js';
import { Tail, TailHub, type TailSink, type Transport } from './hub.js';
import { SessionStore, systemClock, type Clock, type Session, type SessionSpec } from './session.js';

export interface TailServiceOptions {
  /** Lines a tail may queue before the oldest are dropped (config.tailQueueLines). */
  queueLines: number;
  /** Socket buffer above which a tail queues instead of writing. */
  maxBufferedBytes: number;
  /** WebSocket ping period; a peer that misses two pongs is closed. */
  pingIntervalMs: number;
  /** SSE `: keepalive` period (sent when nothing else was). */
  keepaliveMs: number;
  /** How often expired sessions are forgotten. */
  sweepMs: number;
  /** Session life after creation / after the last reader left. */
  sessionTtlMs: number;
  clock: Clock;
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

class TooManySessionsError extends LogplaneError {
  constructor() {
    super(ErrorCode.UNPROCESSABLE, 503, 'too_many_sessions', 'too many open sessions; try again later');
  }
}

const services = new WeakMap<Context, TailService>();

export class TailService {
  readonly ctx: Context;
  readonly sessions: SessionStore;
  readonly options: TailServiceOptions;
  readonly #hubs = new Map<string, TailHub>();
  readonly #tails = new Set<Tail>();
  #pingTimer: NodeJS.Timeout | null = null;
  #keepaliveTimer: NodeJS.Timeout | null = null;
  #sweepTimer: NodeJS.Timeout | null = null;
  #closing = false;
  /** Run at close, after the tails are stopped (e.g. the WebSocket gateway). */
  readonly closers: Array<() => void> = [];
  /** Totals of tails that have closed (live tails are added at scrape time). */
  readonly #closedOut = new Map<Transport, number>();
  #closedDropped = 0;

  /** The service registered for this server context. */
  static of(ctx: Context): TailService | undefined {
    return services.get(ctx);
  }

  constructor(ctx: Context, opts: Partial<TailServiceOptions> = {}) {
    this.ctx = ctx;
    this.options = {
      queueLines: ctx.config.tailQueueLines,
      ...tailDefaults,
      clock: systemClock,
      ...opts,
    };
    this.sessions = new SessionStore({ ttlMs: this.options.sessionTtlMs, clock: this.options.clock });
    services.set(ctx, this);
    ctx.registry.on('appDeleted', (app: App) => this.#appDeleted(app));
    this.#installMetrics();
    this.#startTimers();
  }

  /** Change timings or the clock (tests); restarts the timers. */
  configure(opts: Partial<TailServiceOptions>): void {
    Object.assign(this.options, opts);
    this.sessions.clock = this.options.clock;
    this.sessions.ttlMs = this.options.sessionTtlMs;
    this.#startTimers();
  }

  createSession(spec: SessionSpec): Session {
    const s = this.sessions.create(spec);
    if (!s) throw new TooManySessionsError();
    return s;
  }

  /** The session and its app, or null (unknown, expired, app gone) → 404. */
  lookup(id: string): { session: Session; app: App } | null {
    if (this.#closing) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    const app = this.ctx.registry.get(session.spec.app);
    if (!app) return null;
    return { session, app };
  }

  /** Start a reader: history (or every line after `after`) now, then live lines if the session tails. */
  open(session: Session, app: App, sink: TailSink, after: number | null): Tail {
    const spec = session.spec;
    const o = this.options;
    const tail = new Tail(session, app, sink, new LineFilter(spec), { queueLines: o.queueLines, maxBufferedBytes: o.maxBufferedBytes, clock: o.clock });
    this.sessions.acquire(session);
    this.#tails.add(tail);
    tail.onClose = (t) => {
      this.#tails.delete(t);
      this.sessions.release(t.session);
      this.#closedOut.set(t.sink.transport, (this.#closedOut.get(t.sink.transport) ?? 0) + t.linesOut);
      this.#closedDropped += t.queue.droppedTotal;
    };
    let hub: TailHub | null = null;
    if (spec.tail) {
      hub = this.#hubs.get(app.id) ?? null;
      if (hub === null || hub.app !== app) {
        hub = new TailHub(app);
        hub.onEmpty = (h) => {
          if (this.#hubs.get(h.app.id) === h) this.#hubs.delete(h.app.id);
        };
        hub.onError = (err) => this.ctx.log.error({ at: 'tail.deliver_failed', app: app.id, err: err.message }, 'tail delivery failed; tail closed');
        this.#hubs.set(app.id, hub);
      }
    }
    // a resume point from the reader (query `after`, Last-Event-ID) wins over the session's
    tail.start(hub, after ?? spec.after);
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

  #installMetrics(): void {
    const reg = this.ctx.metrics.registry;
    const tails = reg.gauge('logplane_tails', 'Open tail readers, by transport.', ['transport']);
    const sessions = reg.gauge('logplane_tail_sessions', 'Sessions held (not yet expired).');
    const linesOut = reg.counter('logplane_tail_lines_total', 'Lines written to tail readers, by transport.', ['transport']);
    const dropped = reg.counter('logplane_tail_dropped_total', 'Lines dropped by tail queues (slow readers), by reason.', ['reason']);
    const transports: Transport[] = ['ws', 'sse', 'text'];
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
      for (const t of this.#tails) n += t.queue.droppedTotal;
      dropped.set(n, 'overflow');
    };
  }
}
