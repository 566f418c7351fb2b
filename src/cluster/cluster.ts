// Distributed mode (SPEC 9): what one node runs when REDIS_URL is set. It
// owns the Redis connections and wires, around the unchanged embedded core:
//
//   RedisStore        config shared by every node, cache invalidated by pub/sub
//   HybridSeq         per-app seqs that never collide across nodes (seq.ts)
//   RedisHistory      the per-tick Redis batch: every app's AppBatch in app.sinks
//   LineBus           other nodes' lines, per app channel, for tails and drains
//   NodeRegistry      nodes with a TTL; this node's index
//   DrainLeases       which node delivers which drain; DrainFeed per owned drain
//   SessionMirror     sessions readable on every node
//
// Local fan-out never waits on Redis: route() pushes to the local ring, the
// local tail hubs and the batch; only the batch talks to Redis, a tick later.
import type { Redis } from 'ioredis';
import type { App, LineSink } from '../apps.js';
import { RedisHistory, decodeLossNotice, isLossNotice, redisHistoryDefaults } from '../buffer/redis.js';
import type { Config } from '../config.js';
import type { DrainStatus } from '../drains/drain.js';
import type { Context } from '../context.js';
import { receivedOf, seqOf } from '../line.js';
import type { Log } from '../obs/log.js';
import type { Metrics } from '../obs/metrics.js';
import type { ReadyCheck } from '../obs/http.js';
import { RedisStore } from '../store/redis.js';
import type { HubOrder, TailHub } from '../tail/hub.js';
import type { HistoryView } from '../tail/tail.js';
import type { Session } from '../tail/session.js';
import { TailService, type TailCluster } from '../tail/service.js';
import { LineBus } from './bus.js';
import { StreamFollower, type FollowTarget } from './follow.js';
import { DrainFeed, type DrainHandle } from './feed.js';
import { drainState } from './keys.js';
import { DrainLeases, type DrainCluster, type DrainOwnership } from './leases.js';
import { NodeRegistry } from './nodes.js';
import { closeClient, commandClient, connectOrThrow, defineScripts, subscriberClient } from './redis.js';
import { HybridSeq, originOf, seqCeilingAt } from './seq.js';
import { SessionMirror } from './sessions.js';

export interface ClusterOptions {
  /** Node registration refresh period and lifetime without refresh, ms. */
  heartbeatMs: number;
  nodeTtlMs: number;
  /** Drain lease lifetime without renewal (a dead node's drains move after it) and renewal period, ms. */
  leaseTtlMs: number;
  leaseRenewMs: number;
  /** How often drain cursors are checkpointed, ms. */
  checkpointMs: number;
  /** How long a tail holds a line for lines of other nodes, so it can send them in seq order, ms. */
  reorderMs: number;
  /** Lines queued while Redis is unreachable before the oldest are dropped. */
  maxPendingLines: number;
  /** Session keep-alive period while read, ms. */
  sessionRefreshMs: number;
  /** Longest wait for Redis at start, ms. */
  connectTimeoutMs: number;
}

export const clusterDefaults: ClusterOptions = {
  heartbeatMs: 1000,
  nodeTtlMs: 5000,
  leaseTtlMs: 5000,
  leaseRenewMs: 1000,
  checkpointMs: 250,
  reorderMs: 100,
  maxPendingLines: redisHistoryDefaults.maxPendingLines,
  sessionRefreshMs: 60_000,
  connectTimeoutMs: 10_000,
};

const clusters = new WeakMap<Context, Cluster>();
/** Owned drains' status goes to Redis this often; other nodes re-read it at most this often. */
const STATUS_EVERY_MS = 1000;

/** Sort by seq, in place when needed. */
function sortBySeq(recs: Buffer[]): Buffer[] {
  for (let i = 1; i < recs.length; i++) {
    if (seqOf(recs[i]!) < seqOf(recs[i - 1]!)) return recs.sort((a, b) => seqOf(a) - seqOf(b));
  }
  return recs;
}

export interface ClusterHistory extends HistoryView {
  /** False when Redis could not be read: only this node's lines. */
  complete: boolean;
}

export class Cluster implements DrainCluster {
  readonly options: ClusterOptions;
  readonly store: RedisStore;
  readonly seqClock: HybridSeq;
  readonly nodes: NodeRegistry;
  readonly history: RedisHistory;
  readonly bus: LineBus;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #log: Log;
  readonly #metrics: Metrics;
  readonly #config: Config;
  readonly #origins = new Set<number>();
  #ctx: Context | null = null;
  #leases: DrainLeases | null = null;
  #sessions: SessionMirror | null = null;
  readonly #feeds = new Map<string, DrainFeed>();
  readonly #tailWatchers = new Map<TailHub, StreamFollower>();
  #checkpointTimer: NodeJS.Timeout | null = null;
  #checkpointing = false;
  #closing: Promise<void> | null = null;
  #lostToFeeds = 0;
  #statusAt = 0;
  readonly #remoteStatus = new Map<string, { at: number; status: DrainStatus | null }>();

  /** The cluster of a server context (distributed mode), if any. */
  static of(ctx: Context): Cluster | undefined {
    return clusters.get(ctx);
  }

  /** Connect, claim a node index, register. Throws when Redis does not answer within connectTimeoutMs. */
  static async connect(config: Config, log: Log, metrics: Metrics, opts: Partial<ClusterOptions> = {}): Promise<Cluster> {
    const o = { ...clusterDefaults, ...opts };
    const url = config.redisUrl;
    if (!url) throw new Error('distributed mode needs REDIS_URL');
    const cmd = commandClient(url, 'logplane');
    const sub = subscriberClient(url, 'logplane-sub');
    cmd.on('error', () => {}); // reported through state changes, not thrown
    sub.on('error', () => {});
    defineScripts(cmd);
    try {
      await Promise.all([connectOrThrow(cmd, o.connectTimeoutMs), connectOrThrow(sub, o.connectTimeoutMs)]);
    } catch (err) {
      cmd.disconnect();
      sub.disconnect();
      throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${(err as Error).message}`);
    }
    const nodes = new NodeRegistry(cmd, { ttlMs: o.nodeTtlMs, heartbeatMs: o.heartbeatMs, url: '', log });
    try {
      await nodes.start();
    } catch (err) {
      cmd.disconnect();
      sub.disconnect();
      throw err;
    }
    return new Cluster(config, log, metrics, o, cmd, sub, nodes);
  }

  private constructor(config: Config, log: Log, metrics: Metrics, o: ClusterOptions, cmd: Redis, sub: Redis, nodes: NodeRegistry) {
    this.options = o;
    this.#config = config;
    this.#log = log;
    this.#metrics = metrics;
    this.#cmd = cmd;
    this.#sub = sub;
    this.nodes = nodes;
    this.seqClock = new HybridSeq(nodes.index);
    this.#origins.add(nodes.index);
    nodes.on('index', (i: number) => {
      this.seqClock.node = i;
      this.#origins.add(i);
    });
    this.store = new RedisStore(cmd, sub, { nodeId: nodes.id });
    const r = metrics.registry;
    this.history = new RedisHistory(cmd, {
      historyLines: config.historyLines,
      maxPendingLines: o.maxPendingLines,
      chunkLines: redisHistoryDefaults.chunkLines,
      pipelineLines: redisHistoryDefaults.pipelineLines,
      origin: () => this.nodes.index,
      log,
      metrics: r,
      onLost: (appId, recs) => this.#linesLost(appId, recs),
    });
    this.bus = new LineBus(
      sub,
      log,
      r.counter('logplane_cluster_lines_received_total', 'Lines received from Redis pub/sub (every node, this one included) for tails and drains.').labels(),
      r.counter('logplane_cluster_messages_malformed_total', 'Pub/sub messages that could not be decoded.').labels(),
    );
    this.bus.onAnyBatch = (appId, recs) => this.#observe(appId, recs);
  }

  /** This node's id (uuid) and index. */
  get nodeId(): string {
    return this.nodes.id;
  }

  /** True for a seq origin that is this node (its index now or before). */
  ownOrigin(origin: number): boolean {
    return this.#origins.has(origin);
  }

  /** Lines of this node cannot reach the others through Redis right now. */
  degraded(): boolean {
    return !this.history.up || !this.bus.up;
  }

  /**
   * Wire into a started core: the Redis batch in every app's sinks, tail
   * hooks, readiness, metrics, drain leases. Call after registerTail().
   */
  attach(ctx: Context, readyChecks: ReadyCheck[]): void {
    this.#ctx = ctx;
    clusters.set(ctx, this);
    this.nodes.url = ctx.publicUrl;
    const reg = ctx.registry;
    for (const app of reg.apps()) app.addSink(this.history.sink(app.id));
    reg.on('app', (app: App) => app.addSink(this.history.sink(app.id)));
    reg.on('appDeleted', (app: App) => {
      this.history.drop(app.id);
      for (const f of [...this.#feeds.values()]) if (f.appId === app.id) this.detachDrain(f.drainId);
    });

    const tails = TailService.of(ctx);
    if (tails) {
      this.#sessions = new SessionMirror(this.#cmd, this.#log, tails.options.sessionTtlMs, this.options.sessionRefreshMs);
      tails.cluster = this.#tailHooks();
    }
    readyChecks.push(() => {
      if (this.history.up && this.bus.up) return null;
      return `redis: unreachable (${this.history.pendingLines} lines waiting to be written)`;
    });
    const r = this.#metrics.registry;
    const nodes = r.gauge('logplane_cluster_nodes', 'Live logplane nodes registered in Redis.');
    nodes.collect = () => nodes.set(this.nodes.live.length);
    const owned = r.gauge('logplane_cluster_drains_owned', 'Drains this node delivers (holds the lease of).');
    owned.collect = () => owned.set(this.#leases?.size ?? 0);
    const subs = r.gauge('logplane_cluster_subscriptions', 'App channels this node is subscribed to (tails and owned drains).');
    subs.collect = () => subs.set(this.bus.size);
    const lost = r.counter('logplane_cluster_drain_lines_lost_total', 'Lines a drain never got: trimmed from the history before a new owner or a catch-up read them, or never written to Redis (each reported with an L10 line).');
    lost.collect = () => {
      let n = this.#lostToFeeds;
      for (const f of this.#feeds.values()) n += f.lostLines;
      lost.set(n);
    };

    this.#leases = new DrainLeases(this.#cmd, reg, this.nodes, { ttlMs: this.options.leaseTtlMs, renewMs: this.options.leaseRenewMs, log: this.#log });
    this.#checkpointTimer = setInterval(() => void this.checkpoint(), this.options.checkpointMs).unref();
    this.#log.info({ at: 'cluster.joined', node: this.nodes.id, index: this.nodes.index, nodes: this.nodes.live.length }, 'distributed mode: joined the cluster');
  }

  /** Start taking drain leases (after the drain manager follows them). */
  startLeases(): void {
    this.#leases?.start();
  }

  // ---- history -------------------------------------------------------------

  /**
   * The app's history, sorted by seq: Redis merged with this node's own lines
   * not written there yet (the local ring). When Redis cannot be read: the
   * local ring alone (complete = false).
   */
  async getHistory(app: App): Promise<ClusterHistory> {
    let records: Buffer[] = [];
    let trimmedSeq = 0;
    let complete = true;
    try {
      const h = await this.history.read(app.id);
      records = h.records;
      trimmedSeq = h.trimmedSeq;
    } catch {
      complete = false;
    }
    if (records.some(isLossNotice)) records = records.filter((r) => !isLossNotice(r));
    let ownMax = 0;
    for (const r of records) {
      const s = seqOf(r);
      if (s > ownMax && this.#origins.has(originOf(s))) ownMax = s;
    }
    const ring = app.ring;
    let from = ring.count;
    while (from > 0 && seqOf(ring.at(from - 1)) > ownMax) from--;
    for (let i = from; i < ring.count; i++) records.push(Buffer.from(ring.at(i)));
    const lines = sortBySeq(records);
    const cap = this.#config.historyLines;
    const out = lines.length > cap ? lines.slice(lines.length - cap) : lines;
    if (out.length > 0) {
      const last = seqOf(out[out.length - 1]!);
      if (last > app.seq) app.seq = last;
    }
    return { lines: out, trimmedSeq, complete };
  }

  /** Keep the hybrid clock ahead of every seq seen from other nodes. */
  #observe(appId: string, recs: readonly Buffer[]): void {
    if (recs.length === 0) return;
    const app = this.#ctx?.registry.get(appId);
    if (!app) return;
    const s = seqOf(recs[recs.length - 1]!);
    if (s > app.seq) app.seq = s;
  }

  /** The followers of an app's stream for its live tails on this node (tests: caught up yet?). */
  tailFollowers(appId: string): StreamFollower[] {
    return [...this.#tailWatchers.values()].filter((w) => w.appId === appId);
  }

  #tailHooks(): TailCluster {
    const reorderMs = this.options.reorderMs;
    const order: HubOrder = { windowMs: reorderMs, bound: () => seqCeilingAt(Date.now() - reorderMs) };
    return {
      order,
      watch: (app, hub) => {
        // the app's stream in ordinal order (missed batches read back from the history); our own lines went to the hub directly
        const origins = this.#origins;
        const target: FollowTarget = {
          lines(recs, from, _first, origin) {
            if (origin >= 0 && origins.has(origin)) return;
            for (let i = from; i < recs.length; i++) {
              const rec = recs[i]!;
              if (isLossNotice(rec)) {
                // another node's lines that never reached Redis: a gap for every tail
                const n = decodeLossNotice(rec)!;
                if (!origins.has(n.origin)) hub.reportLoss(n.n, n.since);
                continue;
              }
              if (origin < 0 && origins.has(originOf(seqOf(rec)))) continue;
              hub.offer(rec);
            }
          },
          lost: (n, since) => hub.reportLoss(n, since),
          // every line of ours went to the hub directly when it was routed; our notices' lines did too
          ownLost: () => 0,
        };
        const w = new StreamFollower(app.id, this.history, target, this.#log);
        this.#tailWatchers.set(hub, w);
        return this.bus.watch(app.id, w);
      },
      unwatch: (app, hub) => {
        const w = this.#tailWatchers.get(hub);
        if (!w) return;
        this.#tailWatchers.delete(hub);
        w.close();
        this.bus.unwatch(app.id, w);
      },
      history: (app) => this.getHistory(app),
      sessionCreated: (s: Session) => this.#sessions?.created(s),
      sessionTouched: (s: Session) => this.#sessions?.touched(s),
      findSession: (id: string) => this.#sessions?.find(id) ?? Promise.resolve(null),
    };
  }

  // ---- drains --------------------------------------------------------------

  /** Which drains this node delivers (the drain manager follows it). */
  get drains(): DrainOwnership {
    if (!this.#leases) throw new Error('cluster not attached');
    return this.#leases;
  }

  /**
   * An owned drain: returns the sink to put in app.sinks instead of the drain
   * itself. It feeds the drain every line of the app, from every node, once,
   * starting after the previous owner's checkpoint.
   */
  attachDrain(appId: string, drainId: string, handle: DrainHandle): LineSink {
    this.detachDrain(drainId);
    const feed = new DrainFeed(appId, drainId, handle, {
      redis: this.#cmd,
      history: this.history,
      bus: this.bus,
      degraded: () => this.degraded(),
      ownOrigin: (o) => this.#origins.has(o),
      log: this.#log,
    });
    this.#feeds.set(drainId, feed);
    void feed.start();
    return feed;
  }

  /** Stop feeding a drain (released, deleted, node stopping); its last cursor is saved. */
  detachDrain(drainId: string): void {
    const feed = this.#feeds.get(drainId);
    if (!feed) return;
    this.#feeds.delete(drainId);
    if (feed.advance()) void this.#save([feed]);
    feed.close();
  }

  /** The feed of an owned drain (tests). */
  feed(drainId: string): DrainFeed | undefined {
    return this.#feeds.get(drainId);
  }

  /** Write the cursors that moved (and, about once a second, every owned drain's status). */
  async checkpoint(): Promise<void> {
    if (this.#checkpointing) return;
    this.#checkpointing = true;
    try {
      const now = Date.now();
      const withStatus = now - this.#statusAt >= STATUS_EVERY_MS;
      if (withStatus) this.#statusAt = now;
      const moved: DrainFeed[] = [];
      for (const f of this.#feeds.values()) if (f.advance() || withStatus) moved.push(f);
      if (moved.length > 0) await this.#save(moved, withStatus);
    } finally {
      this.#checkpointing = false;
    }
  }

  async #save(feeds: DrainFeed[], withStatus = true): Promise<void> {
    const p = this.#cmd.pipeline();
    const at = Date.now();
    const cursors = feeds.map((f) => f.cursor);
    /** Index of each feed's cursor HSET in the replies. */
    const at0: number[] = [];
    let n = 0;
    for (const f of feeds) {
      const key = drainState(f.appId, f.drainId);
      at0.push(n++);
      p.hset(key, 'cursor', f.cursor, 'at', at, 'node', this.nodes.id);
      const st = withStatus ? f.status() : null;
      if (st) {
        p.hset(key, 'status', JSON.stringify(st));
        n++;
      }
    }
    try {
      const res = await p.exec();
        feeds.forEach((f, k) => {
        if (res?.[at0[k]!]?.[0] === null) f.saved(cursors[k]!);
      });
    } catch {
      /* Redis down: the next checkpoint writes the newer cursor */
    }
  }

  /** The owner's last written status of a drain this node does not deliver (refreshed at most once a second, in the background). */
  remoteStatus(appId: string, drainId: string): DrainStatus | null {
    const now = Date.now();
    const c = this.#remoteStatus.get(drainId);
    if (!c || now - c.at > STATUS_EVERY_MS) {
      if (c) c.at = now;
      else this.#remoteStatus.set(drainId, { at: now, status: null });
      void this.#cmd.hget(drainState(appId, drainId), 'status').then(
        (v) => {
          const e = this.#remoteStatus.get(drainId);
          if (e && v) e.status = JSON.parse(v) as DrainStatus;
        },
        () => {},
      );
      if (this.#remoteStatus.size > 10_000) this.#remoteStatus.clear();
    }
    return c?.status ?? null;
  }

  /** Lines that never reached Redis: the drains this node owns get an L10 for those they did not get directly. */
  #linesLost(appId: string, recs: readonly Buffer[]): void {
    for (const f of this.#feeds.values()) {
      if (f.appId !== appId) continue;
      const n = f.lostLocal(recs);
      if (n > 0) {
        this.#lostToFeeds += n;
        f.offerLoss(n, receivedOf(recs[0]!));
      }
    }
  }

  // ---- stop ----------------------------------------------------------------

  /**
   * Graceful stop (after the drains flushed): write what is queued (bounded),
   * save cursors, give the leases back, deregister, disconnect.
   */
  close(timeoutMs = 2000): Promise<void> {
    this.#closing ??= (async () => {
      const written = await this.history.flush(timeoutMs);
      if (this.#checkpointTimer) clearInterval(this.#checkpointTimer);
      await this.checkpoint();
      for (const id of [...this.#feeds.keys()]) this.detachDrain(id);
      await this.#leases?.releaseAll();
      await this.nodes.stop();
      this.#sessions?.close();
      this.bus.close();
      this.history.close();
      await this.store.close();
      await Promise.all([closeClient(this.#cmd), closeClient(this.#sub)]);
      this.#log.info({ at: 'cluster.left', node: this.nodes.id, unwritten: written ? 0 : this.history.pendingLines }, 'left the cluster');
    })();
    return this.#closing;
  }

  /** Stop abruptly, as a crash would (tests): no flush, no checkpoint, no release. */
  kill(): void {
    if (this.#checkpointTimer) clearInterval(this.#checkpointTimer);
    this.#closing ??= Promise.resolve();
    this.#cmd.disconnect();
    this.#sub.disconnect();
  }
}

/** redis://user:pass@host -> redis://host (never log credentials). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return 'redis://?';
  }
}
