// Distributed mode (SPEC 9): what one node runs when REDIS_URL is set. It
// owns the Redis connections and, around the unchanged embedded core:
//
//   RedisStore        config shared by every node, cache invalidated by pub/sub
//   HybridSeq         per-app seqs that never collide across nodes (seq.ts)
//   RedisHistory      the per-tick Redis batch: every app's AppBatch in app.sinks (history.ts)
//   MergedHistory     the history API and tails read: Redis merged with the local ring
//   LineBus           other nodes' lines, per app channel, for tails and drains
//   NodeRegistry      nodes with a TTL; this node's index
//   DrainLeases       which node delivers which drain; DrainFeeds, one feed per owned drain (drains.ts)
//   TailBridge        other nodes' lines for this node's tail hubs; sessions on every node (tails.ts)
//   NodeStats         once a second, one pipeline with all this node shares about its traffic (node-stats.ts):
//                     the console's lines/s (rates.ts), the rate limit's reports (limit-share.ts),
//                     the apps' line counts of the whole cluster (counts.ts)
//
// Built in two steps because the registry's store and seq clock come from
// here: connect() (Redis, node index, store), then join(registry) (sinks,
// leases, drain feeds). server.ts hands the pieces to the parts that use them.
//
// Local fan-out never waits on Redis: route() pushes to the local ring, the
// local tail hubs and the batch; only the batch talks to Redis, a tick later.
import type { Redis } from 'ioredis';
import type { App, Registry } from '../apps.js';
import type { Config } from '../config.js';
import { StateError } from '../errors.js';
import type { DrainOwnership } from '../drains/ownership.js';
import { seqOf } from '../line.js';
import type { Log } from '../obs/log.js';
import type { Metrics } from '../obs/metrics.js';
import { LayoutSwitch } from './layout.js';
import { closeClient, commandClient, connectOrThrow, dropClient, isCluster, redisTarget, subscriberClient } from '../redis/connection.js';
import { defineScripts } from '../redis/scripts.js';
import { RedisStore } from '../store/redis.js';
import { LineBus } from './bus.js';
import { DrainFeeds } from './drains.js';
import type { DrainFeed } from './feed.js';
import type { StreamFollower } from './follow.js';
import { RedisHistory, redisHistoryDefaults } from './history.js';
import { DrainLeases } from './leases.js';
import { MergedHistory } from './merged-history.js';
import { NodeRegistry } from './nodes.js';
import { NodeStats } from './node-stats.js';
import { LimitShares, type LimitShareTarget } from './limit-share.js';
import { RedisAuthFailures } from './auth-failures.js';
import { HybridSeq } from './seq.js';
import { TailBridge } from './tails.js';
import type { HistoryView } from '../history/source.js';
import { claimSaved, removeSaved, saveUnwritten } from './unwritten.js';
import { adminKeyPath, readAdminKey, saveAdminKey } from './admin-key.js';
import { randomBytes } from 'node:crypto';

/** Indexes this node lost whose sent ceilings it keeps (Cluster.#former). */
const FORMER_KEPT = 8;

export interface ClusterOptions {
  /** Node registration refresh period and lifetime without refresh, ms. */
  heartbeatMs: number;
  nodeTtlMs: number;
  /** How long this node's index claim lives without a renewal (default 6 x nodeTtlMs); past it, queued lines wait for the claim to be checked (nodes.ts), ms. */
  indexTtlMs?: number;
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
  /** Longest wait of a graceful stop for Redis to write what is queued (what is left then is counted unwritten), ms. */
  stopWaitMs: number;
  /** How often this node writes its stats (lines/s for the console, the rate limit's report, the apps' line counts), ms. */
  statsPeriodMs: number;
  /** How long its record outlives the node's last write (a dead node's lines/s leave the others' stats after this), ms. */
  statsTtlMs: number;
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
  stopWaitMs: 2000,
  statsPeriodMs: 1000,
  statsTtlMs: 5000,
};

export class Cluster {
  readonly options: ClusterOptions;
  readonly store: RedisStore;
  readonly seqClock: HybridSeq;
  readonly nodes: NodeRegistry;
  /** The per-tick batch into Redis, and reads of the shared history. */
  readonly history: RedisHistory;
  /** The history readers see (the HistorySource of distributed mode). */
  readonly merged: MergedHistory;
  readonly bus: LineBus;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #log: Log;
  readonly #metrics: Metrics;
  readonly #origins = new Set<number>();
  /**
   * Indexes this node stamped and no longer surely holds (doubtful, or lost):
   * per app, the highest seq it sent to Redis by then. A line of that index
   * above it is another node's (ours were not sent under it since), however
   * it compares with the lines of ours our tails got directly (ownCeiling).
   * The newest FORMER_KEPT only (a node that lost its index that often is
   * long past the lines the older ones could matter for).
   */
  readonly #former = new Map<number, Map<string, number>>();
  readonly #layout: LayoutSwitch;
  #registry: Registry | null = null;
  #leases: DrainLeases | null = null;
  #feeds: DrainFeeds | null = null;
  #tails: TailBridge | null = null;
  #stats: NodeStats | null = null;
  #checkpointTimer: NodeJS.Timeout | null = null;
  #closing: Promise<void> | null = null;
  /** Where a stop saves the lines it could not write, and a start finds those of stopped nodes (unwritten.ts). */
  readonly #dataDir: string;
  /** The start's announcement of stopped nodes' unwritten lines (never rejects). */
  #announcing: Promise<void> = Promise.resolve();
  /** Files claimed at start whose notices are not written yet (removed once they are, or at the stop). */
  #claimed: string[] = [];

  /** Connect, claim a node index, register. Throws when Redis does not answer within connectTimeoutMs. */
  static async connect(config: Config, log: Log, metrics: Metrics, opts: Partial<ClusterOptions> = {}): Promise<Cluster> {
    const o = { ...clusterDefaults, ...opts };
    const url = config.redisUrl;
    if (!url) throw new Error('distributed mode needs REDIS_URL');
    const target = redisTarget(url, config.redisCluster);
    const cmd = commandClient(target, 'logplane');
    const sub = subscriberClient(target, 'logplane-sub');
    cmd.on('error', () => {}); // reported through state changes, not thrown
    sub.on('error', () => {});
    defineScripts(cmd);
    try {
      await Promise.all([connectOrThrow(cmd, o.connectTimeoutMs), connectOrThrow(sub, o.connectTimeoutMs)]);
    } catch (err) {
      dropClient(cmd);
      dropClient(sub);
      throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${(err as Error).message}`);
    }
    const nodes = new NodeRegistry(cmd, { ttlMs: o.nodeTtlMs, indexTtlMs: o.indexTtlMs, heartbeatMs: o.heartbeatMs, url: '', log });
    try {
      await nodes.start();
    } catch (err) {
      dropClient(cmd);
      dropClient(sub);
      throw err;
    }
    // the history layout is known before the first append (a node alone, or among nodes of this release, writes layout 2 at once)
    const layout = new LayoutSwitch(cmd, nodes, log, isCluster(cmd));
    await layout.check();
    nodes.on('heartbeat', () => void layout.check());
    return new Cluster(config, log, metrics, o, cmd, sub, nodes, layout);
  }

  private constructor(config: Config, log: Log, metrics: Metrics, o: ClusterOptions, cmd: Redis, sub: Redis, nodes: NodeRegistry, layout: LayoutSwitch) {
    this.options = o;
    this.#log = log;
    this.#metrics = metrics;
    this.#cmd = cmd;
    this.#sub = sub;
    this.nodes = nodes;
    this.#layout = layout;
    this.#dataDir = config.dataDir;
    this.seqClock = new HybridSeq(nodes.index);
    this.#origins.add(nodes.index);
    // a lost claim (docs/reliability.md, "Node index"): new lines get the new index, the lines queued
    // under the old one move to it before any is written, and the old one is no longer this node's
    // (another node may stamp it now: its lines must not be taken for ours)
    nodes.on('index', (i: number, was: number) => {
      this.seqClock.node = i;
      if (!this.#former.has(was)) this.#formerSet(was);
      this.history.reindex(was, i);
      this.#feeds?.reindexed(was, i);
      this.#origins.add(i);
      this.#origins.delete(was);
      this.#former.delete(i);
    });
    // while the claim is doubtful the index is not taken for ours: lines stamped with it by another node
    // must reach this node's tails and drains (ours of that time are not written until it is checked)
    nodes.on('doubtful', () => {
      this.#origins.delete(nodes.index);
      this.#formerSet(nodes.index);
    });
    nodes.on('claimed', () => {
      this.#origins.add(nodes.index);
      this.#former.delete(nodes.index);
      this.history.kick();
    });
    this.store = new RedisStore(cmd, sub, { nodeId: nodes.id });
    const r = metrics.registry;
    this.history = new RedisHistory(cmd, {
      historyLines: config.historyLines,
      maxPendingLines: o.maxPendingLines,
      chunkLines: redisHistoryDefaults.chunkLines,
      pipelineLines: redisHistoryDefaults.pipelineLines,
      origin: () => this.nodes.index,
      claimed: () => this.nodes.claimed(),
      nodeId: nodes.id,
      // on a Redis Cluster, an app's lines are published in its shard only (SSUBSCRIBE), not broadcast to every master
      publish: isCluster(cmd) ? 'SPUBLISH' : 'PUBLISH',
      layout: () => layout.current,
      log,
      metrics: r,
      onLost: (appId, recs) => this.#feeds?.linesLost(appId, recs),
    });
    this.merged = new MergedHistory(this.history, (origin) => this.#origins.has(origin), config.historyLines);
    this.bus = new LineBus(
      sub,
      log,
      r.counter('logplane_cluster_lines_received_total', 'Lines received from Redis pub/sub (every node, this one included) for tails and drains.').labels(),
      r.counter('logplane_cluster_messages_malformed_total', 'Pub/sub messages that could not be decoded.').labels(),
    );
    this.bus.onAnyBatch = (appId, recs) => this.#observe(appId, recs);
  }

  /**
   * The admin key of a node started without LOGPLANE_API_KEY (SPEC 12:
   * Redis keeps only its SHA-256). The key saved in this node's data dir
   * when its hash is the stored one; else, when Redis has no admin key (yet,
   * or no more: restarted without its data), the saved key, or a new one
   * saved in the data dir (nodes starting together agree on one: SET NX of
   * the hash, the first wins); else the node checks requests against the
   * hash but does not know the key itself (logged: its local CLI needs
   * LOGPLANE_API_KEY). True when this node made the key.
   */
  async bootstrapApiKey(registry: Registry): Promise<boolean> {
    const saved = await readAdminKey(this.#dataDir);
    if (saved !== null && registry.useApiKey(saved)) return false;
    if (registry.apiKeyHash === null) {
      const key = saved ?? randomBytes(24).toString('base64url');
      await this.store.claimApiKey(key);
      await registry.reloadApiKey();
      if (registry.useApiKey(key)) {
        if (saved !== null) {
          this.#keyRestored();
          return false;
        }
        await saveAdminKey(this.#dataDir, key).catch((err: Error) => {
          this.#log.warn({ at: 'cluster.admin_key_not_saved', path: adminKeyPath(this.#dataDir), err: err.message }, 'could not save the new admin key in the data dir; it is shown once: keep it, and give it to the nodes as LOGPLANE_API_KEY');
        });
        return true;
      }
    }
    if (registry.apiKey !== null) return false;
    if (saved !== null) this.#notClustersKey();
    else {
      this.#log.warn(
        { at: 'cluster.admin_key_unknown', path: adminKeyPath(this.#dataDir) },
        'the admin key is set (Redis keeps only its hash) but this node was not given it: it accepts the key, but its local CLI cannot find it; set LOGPLANE_API_KEY on this node',
      );
    }
    return false;
  }

  /**
   * A Redis restarted without its data has no admin key: the store puts
   * back the hash of the key this node knows when it re-reads the config
   * after the reconnect (docs/operations.md, "Redis restarts without its
   * data"), so that the key keeps working and no new one is made.
   */
  #keepApiKey(registry: Registry): void {
    this.store.keepApiKey(
      () => registry.apiKey,
      (ours) => {
        if (ours) this.#keyRestored();
        else this.#notClustersKey();
      },
    );
  }

  #keyRestored(): void {
    this.#log.warn({ at: 'cluster.admin_key_restored' }, 'Redis had no admin key (restarted without its data?): stored the hash of the key this node knows again');
  }

  #notClustersKey(): void {
    this.#log.warn(
      { at: 'cluster.admin_key_not_clusters', path: adminKeyPath(this.#dataDir) },
      "this node's admin key is not the cluster's (Redis holds another key's hash: another node stored its own first when Redis had none, or the key was changed): this node accepts the cluster's key but does not know it; its local CLI needs LOGPLANE_API_KEY",
    );
  }

  /** The history layout this node writes ('1' while nodes of the previous release may run; layout.ts). */
  get layout(): '1' | '2' {
    return this.#layout.current;
  }

  /** This node's id (uuid) and index. */
  get nodeId(): string {
    return this.nodes.id;
  }

  /** The failed-authentication count every node shares (access/throttle.ts asks it per management request). */
  authFailures(): RedisAuthFailures {
    return new RedisAuthFailures(this.#cmd);
  }

  /** True for a seq origin that is this node (its index now or before). */
  ownOrigin(origin: number): boolean {
    return this.#origins.has(origin);
  }

  #formerSet(origin: number): void {
    this.#former.delete(origin);
    this.#former.set(origin, this.history.sentSeqs());
    if (this.#former.size > FORMER_KEPT) this.#former.delete(this.#former.keys().next().value!);
  }

  /**
   * For a tail's duplicate check (tail.ts): the highest seq under `origin`
   * that may be a line of this node's in the app's shared history. Infinity
   * unless origin is an index this node no longer surely holds: there, only
   * what it sent before (its later lines under it went to its tails directly
   * and reach Redis under its next index, if at all), so a line of another
   * node that took the index is not taken for one of ours.
   */
  ownCeiling(appId: string, origin: number): number {
    if (this.#origins.has(origin)) return Infinity;
    const f = this.#former.get(origin);
    return f === undefined ? Infinity : (f.get(appId) ?? 0);
  }

  /** Lines of this node cannot reach the others through Redis right now. */
  degraded(): boolean {
    return !this.history.up || !this.bus.up;
  }

  /** The readiness check (/readyz): null when Redis is reachable, else why not. */
  readiness(): string | null {
    if (this.history.up && this.bus.up) return null;
    return `redis: unreachable (${this.history.pendingLines} lines waiting to be written)`;
  }

  /**
   * Join with this node's registry: the Redis batch in every app's sinks,
   * drain leases and feeds, metrics. The drain manager then follows
   * drainFeeds; startLeases() once it does.
   */
  join(registry: Registry): DrainFeeds {
    if (this.#registry) throw new StateError('cluster already joined');
    this.#registry = registry;
    this.#keepApiKey(registry);
    for (const app of registry.apps()) app.addSink(this.history.sink(app.id, app.ring));
    registry.on('app', (app: App) => app.addSink(this.history.sink(app.id, app.ring)));
    registry.on('appDeleted', (app: App) => {
      this.history.drop(app.id);
      this.#feeds?.detachApp(app.id);
    });
    const leases = new DrainLeases(this.#cmd, registry, this.nodes, { ttlMs: this.options.leaseTtlMs, renewMs: this.options.leaseRenewMs, log: this.#log });
    this.#leases = leases;
    const feeds = new DrainFeeds({
      redis: this.#cmd,
      history: this.history,
      bus: this.bus,
      leases,
      nodeId: this.nodes.id,
      degraded: () => this.degraded(),
      ownOrigin: (o) => this.#origins.has(o),
      log: this.#log,
    });
    this.#feeds = feeds;
    this.#installMetrics(leases, feeds);
    const r = this.#metrics.registry;
    this.#stats = new NodeStats({
      redis: this.#cmd,
      registry,
      nodeId: this.nodes.id,
      live: () => this.nodes.live,
      periodMs: this.options.statsPeriodMs,
      ttlMs: this.options.statsTtlMs,
      log: this.#log,
      writeFailures: r.counter('logplane_cluster_rate_writes_failed_total', "Periods whose write of this node's stats to Redis failed (lines/s, the rate limit's report, the apps' line counts): other nodes miss them until a write succeeds.").labels(),
      partialReads: r.counter('logplane_cluster_rate_reads_partial_total', 'Stats and channel list answers (GET /v3/channels/:app/stats, GET /v3/channels) without some figures from Redis: it did not answer in time.').labels(),
    });
    this.#stats.start();
    registry.on('appDeleted', (app: App) => this.#stats?.forget(app.id));
    this.#checkpointTimer = setInterval(() => void feeds.checkpoint(), this.options.checkpointMs).unref();
    this.#announcing = this.#announceSaved().catch((err: Error) => {
      this.#log.error({ at: 'cluster.unwritten_read_failed', err: err.message }, 'could not read the lines stopped nodes left unwritten');
    });
    this.#log.info({ at: 'cluster.joined', node: this.nodes.id, index: this.nodes.index, nodes: this.nodes.live.length }, 'distributed mode: joined the cluster');
    return feeds;
  }

  /** The tail hooks of this node (other nodes' lines, shared sessions); made once. */
  tailBridge(sessionTtlMs: number): TailBridge {
    this.#tails ??= new TailBridge({
      redis: this.#cmd,
      history: this.history,
      bus: this.bus,
      origins: this.#origins,
      ownCeiling: (appId, origin) => this.ownCeiling(appId, origin),
      reorderMs: this.options.reorderMs,
      sessionTtlMs,
      sessionRefreshMs: this.options.sessionRefreshMs,
      log: this.#log,
    });
    return this.#tails;
  }

  /** The shared stats: the console's cluster-wide lines/s, the apps' counts (null until join()). */
  get stats(): NodeStats | null {
    return this.#stats;
  }

  /** Hold the per-app rate limit across the nodes (limit-share.ts), in each stats write until stop() (or the cluster's). */
  shareRateLimit(target: LimitShareTarget): { stop(): void } {
    const stats = this.#stats;
    if (!stats) throw new StateError('cluster not joined: shareRateLimit() needs join() first');
    const s = new LimitShares(this.nodes, target, { periodMs: this.options.statsPeriodMs, log: this.#log });
    stats.limit = s;
    return { stop: () => (stats.limit = null) };
  }

  /** Start taking drain leases (after the drain manager follows them). */
  startLeases(): void {
    this.#leases?.start();
  }

  #installMetrics(leases: DrainLeases, feeds: DrainFeeds): void {
    const r = this.#metrics.registry;
    const nodes = r.gauge('logplane_cluster_nodes', 'Live logplane nodes registered in Redis.');
    nodes.collect = () => nodes.set(this.nodes.live.length);
    const owned = r.gauge('logplane_cluster_drains_owned', 'Drains this node delivers (holds the lease of).');
    owned.collect = () => owned.set(leases.size);
    const subs = r.gauge('logplane_cluster_subscriptions', 'App channels this node is subscribed to (tails and owned drains).');
    subs.collect = () => subs.set(this.bus.size);
    const lost = r.counter('logplane_cluster_drain_lines_lost_total', 'Lines a drain never got: trimmed from the history before a new owner or a catch-up read them, or never written to Redis (each reported with an L10 line).');
    lost.collect = () => lost.set(feeds.lostLines);
  }

  /** Keep the hybrid clock ahead of every seq seen from other nodes. */
  #observe(appId: string, recs: readonly Buffer[]): void {
    if (recs.length === 0) return;
    const app = this.#registry?.get(appId);
    if (!app) return;
    app.restoreSeq(seqOf(recs[recs.length - 1]!));
  }

  // ---- what tests look at -------------------------------------------------

  /** The merged history of an app (see MergedHistory). */
  getHistory(app: App): Promise<HistoryView> {
    return this.merged.read(app);
  }

  /** The followers of an app's stream for its live tails on this node (tests: caught up yet?). */
  tailFollowers(appId: string): StreamFollower[] {
    return this.#tails?.followers(appId) ?? [];
  }

  /** Which drains this node delivers. */
  get drains(): DrainOwnership {
    if (!this.#leases) throw new StateError('cluster not joined: drains needs join() first');
    return this.#leases;
  }

  /** The feed of an owned drain (tests). */
  feed(drainId: string): DrainFeed | undefined {
    return this.#feeds?.feed(drainId);
  }

  /** Write the drain cursors that moved. */
  checkpoint(): Promise<void> {
    return this.#feeds?.checkpoint() ?? Promise.resolve();
  }

  /**
   * Lines nodes stopped without writing (saved in this data dir by their
   * stop): a loss notice for each app, appended like this node's own; the
   * files are removed once the notices are in Redis.
   */
  async #announceSaved(): Promise<void> {
    const { losses, claimed, bad } = await claimSaved(this.#dataDir, this.nodes.id, (id) => this.nodes.live.includes(id));
    if (claimed.length === 0) return;
    this.#claimed = claimed;
    if (bad > 0) this.#log.error({ at: 'cluster.unwritten_unreadable', files: bad }, 'saved counts of lines a stopped node could not write to Redis are unreadable; those losses cannot be announced');
    let waiting = 0;
    let lines = 0;
    let apps = 0;
    let gone = 0;
    const done = () => {
      if (--waiting > 0 || this.#closing) return;
      const files = this.#claimed;
      this.#claimed = [];
      void Promise.all(files.map(removeSaved));
      this.#log.info({ at: 'cluster.unwritten_announced', apps, lines }, 'announced the lines a stopped node could not write to Redis (a loss notice in each app\'s stream)');
    };
    for (const l of losses) {
      if (this.history.announceSaved(l.app, l.n, l.since, done)) {
        waiting++;
        apps++;
        lines += l.n;
      } else gone += l.n;
    }
    this.#log.warn({ at: 'cluster.unwritten_found', files: claimed.length, apps, lines, ...(gone > 0 ? { linesOfDeletedApps: gone } : {}) }, 'a node stopped without writing some lines to Redis: announcing their loss in the apps\' streams');
    if (waiting === 0) {
      this.#claimed = [];
      await Promise.all(claimed.map(removeSaved));
    }
  }

  /**
   * At the stop, with the connections closed: what could not be written is
   * counted (logplane_redis_lines_dropped_total{reason="stop"}), logged at
   * error level, and saved for the next start (unwritten.ts); the files this
   * node claimed at start go (what of them is still unwritten is in the new one).
   */
  async #saveUnwritten(): Promise<number> {
    const left = this.history.unwritten();
    let lines = 0;
    for (const l of left.values()) lines += l.n;
    const claimed = this.#claimed;
    this.#claimed = [];
    if (lines > 0) {
      this.history.countUnwrittenAtStop(lines);
      try {
        const saved = await saveUnwritten(this.#dataDir, this.nodes.id, left);
        this.#log.error(
          { at: 'cluster.unwritten', lines, apps: left.size, savedLines: saved.lines, savedApps: saved.apps, file: saved.path },
          'stopping with lines not written to Redis: saved their count; the next start of a node on this data dir announces their loss (L10) in the apps\' streams',
        );
      } catch (err) {
        this.#log.error({ at: 'cluster.unwritten', lines, apps: left.size, savedLines: 0, err: (err as Error).message }, 'stopping with lines not written to Redis, and their count could not be saved: their loss will not be announced in the streams');
      }
    }
    await Promise.all(claimed.map(removeSaved));
    return lines;
  }

  // ---- stop ----------------------------------------------------------------

  /**
   * Graceful stop (after the drains flushed): write what is queued (waiting
   * for Redis within timeoutMs if it is unreachable), save cursors, give the
   * leases back, deregister, disconnect; then save what is still unwritten.
   */
  close(timeoutMs = this.options.stopWaitMs): Promise<void> {
    this.#closing ??= (async () => {
      await this.#announcing;
      await this.history.flush(timeoutMs);
      if (this.#checkpointTimer) clearInterval(this.#checkpointTimer);
      await this.checkpoint();
      this.#feeds?.detachAll();
      await this.#feeds?.saved();
      await this.#leases?.releaseAll();
      await this.#stats?.stop();
      await this.nodes.stop();
      this.#tails?.close();
      this.bus.close();
      this.history.close();
      await this.store.close();
      await Promise.all([closeClient(this.#cmd), closeClient(this.#sub)]);
      const unwritten = await this.#saveUnwritten();
      this.#log.info({ at: 'cluster.left', node: this.nodes.id, unwritten }, 'left the cluster');
    })();
    return this.#closing;
  }

  /** Stop abruptly, as a crash would (tests): no flush, no checkpoint, no release. */
  kill(): void {
    if (this.#checkpointTimer) clearInterval(this.#checkpointTimer);
    this.#stats?.kill();
    this.#closing ??= Promise.resolve();
    dropClient(this.#cmd);
    dropClient(this.#sub);
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
