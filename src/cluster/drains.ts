// Distributed mode for the drains of this node (the DrainCluster of
// drains/manager.ts): one DrainFeed per drain whose lease this node holds,
// cursors checkpointed to Redis, the owners' status for the other nodes, and
// the L10 for lines that never reached Redis.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LineSink } from '../apps.js';
import type { DrainStatus } from '../drains/status.js';
import type { DrainCluster, DrainHandle, DrainOwnership, ReplayAnswer } from '../drains/ownership.js';
import type { ReplayRequest } from '../drains/replay.js';
import { receivedOf } from '../line.js';
import type { Log } from '../obs/log.js';
import { appConfig, appMeta, drainLease, drainState, nodeReplays, replayAnswer } from '../redis/keys.js';
import type { LineBus } from './bus.js';
import { DrainFeed } from './feed.js';
import type { RedisHistory } from './history.js';
import { pipelineByOwner } from '../redis/pipeline.js';
import { CHECKPOINT_TTL_MS, OTHER_EPOCH, type ScriptPipeline } from '../redis/scripts.js';
import { within } from '../basics/within.js';

/** Owned drains' status goes to Redis this often. */
const STATUS_EVERY_MS = 1000;
/** How long a status read of drains another node delivers waits for Redis before answering with what it last read. */
const STATUS_READ_TIMEOUT_MS = 500;
/** Statuses last read from Redis kept at most (the fallback when Redis does not answer). */
const STATUS_CACHE_MAX = 10_000;
/** How long a forwarded replay waits for the owner's answer, and how often it looks. */
const REPLAY_WAIT_MS = 10_000;
const REPLAY_POLL_MS = 50;
/** Forwarded replay requests and answers expire after this long. */
const REPLAY_TTL_MS = 30_000;

/** A replay forwarded through Redis to the drain's owner. */
interface ForwardedReplay {
  id: string;
  app: string;
  drain: string;
  req: ReplayRequest;
}

export interface DrainFeedsOptions {
  redis: Redis;
  history: RedisHistory;
  bus: LineBus;
  /** The leases: which drains this node delivers. */
  leases: DrainOwnership;
  nodeId: string;
  /** Lines of this node cannot reach the others through Redis right now. */
  degraded: () => boolean;
  ownOrigin: (origin: number) => boolean;
  log: Log;
}

export class DrainFeeds implements DrainCluster {
  readonly drains: DrainOwnership;
  readonly #o: DrainFeedsOptions;
  readonly #feeds = new Map<string, DrainFeed>();
  /** Drain id -> its owner's status as this node last read it from Redis. */
  readonly #remoteStatus = new Map<string, DrainStatus>();
  /** The last status read failed (logged once until one works again). */
  #statusReadFailing = false;
  #checkpointing = false;
  /** Cursor writes of drains detached, in flight. */
  readonly #detachSaves = new Set<Promise<boolean>>();
  /** Lines lost to the drains this node no longer feeds (detached: removed, released, node stopping), so the counter never goes down. */
  #lostToFeeds = 0;
  #statusAt = 0;
  #replayHandler: ((appId: string, drainId: string, req: ReplayRequest) => Promise<ReplayAnswer>) | null = null;
  #servingReplays = false;

  constructor(o: DrainFeedsOptions) {
    this.#o = o;
    this.drains = o.leases;
  }

  /**
   * An owned drain: returns the sink to put in app.sinks instead of the drain
   * itself. It feeds the drain every line of the app, from every node, once,
   * starting after the previous owner's checkpoint.
   */
  attachDrain(appId: string, drainId: string, handle: DrainHandle): LineSink {
    this.detachDrain(drainId);
    const o = this.#o;
    const feed = new DrainFeed(appId, drainId, handle, {
      redis: o.redis,
      history: o.history,
      bus: o.bus,
      degraded: o.degraded,
      ownOrigin: o.ownOrigin,
      log: o.log,
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
    this.#lostToFeeds += feed.lostLines;
    if (feed.advance()) {
      // the next owner starts after this cursor: tried twice, and awaited before the leases go back (saved())
      const saving = this.#save([feed])
        .then((ok) => (ok ? true : this.#save([feed])))
        .catch(() => false); // (never rejects: the finally() below must not leave a rejection unhandled)
      this.#detachSaves.add(saving);
      void saving.finally(() => this.#detachSaves.delete(saving));
    }
    feed.close();
  }

  /** Wait for the cursors of detached drains to be written (graceful stop, before the leases are given back). */
  async saved(): Promise<void> {
    await Promise.all([...this.#detachSaves]);
  }

  /** Stop feeding every drain of an app (app deleted). */
  detachApp(appId: string): void {
    for (const f of [...this.#feeds.values()]) if (f.appId === appId) this.detachDrain(f.drainId);
  }

  /** Feed no more lines to any owned drain (node stopping, before the drains flush); cursors still follow deliveries. */
  /** This node's index was lost and it holds another now: its queued lines move to it (RedisHistory.reindex), so do the feeds' records of the lines they got directly. */
  reindexed(was: number, now: number): void {
    for (const f of this.#feeds.values()) f.reindexed(was, now);
  }

  quiesce(): void {
    for (const f of this.#feeds.values()) f.quiesce();
  }

  /** Stop feeding every drain (node stopping). */
  detachAll(): void {
    for (const id of [...this.#feeds.keys()]) this.detachDrain(id);
  }

  /** The feed of an owned drain (tests). */
  feed(drainId: string): DrainFeed | undefined {
    return this.#feeds.get(drainId);
  }

  /**
   * Lines the drains this node owns, or owned, never got (trimmed before they
   * were read, or never written to Redis): each feed's count, kept when it
   * is detached. Never goes down (logplane_cluster_drain_lines_lost_total).
   */
  get lostLines(): number {
    let n = this.#lostToFeeds;
    for (const f of this.#feeds.values()) n += f.lostLines;
    return n;
  }

  /** Write the cursors that moved (and, about once a second, every owned drain's status); run replays forwarded here. */
  async checkpoint(): Promise<void> {
    if (this.#replayHandler !== null) void this.#serveForwarded();
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

  /** Write the feeds' cursors (forward only within an epoch: lpSaveCursor) and statuses; true when every cursor was written (or its drain is deleted: nothing to write). */
  async #save(feeds: DrainFeed[], withStatus = true): Promise<boolean> {
    const p = pipelineByOwner(this.#o.redis) as unknown as ScriptPipeline;
    const at = Date.now();
    const cursors = feeds.map((f) => f.cursor);
    const epochs = feeds.map((f) => f.cursorEpoch);
    for (const f of feeds) {
      const st = withStatus ? f.status() : null;
      // written only while the drain is configured (after a delete, nothing comes back), its TTL renewed
      p.lpSaveCursor(drainState(f.appId, f.drainId), appMeta(f.appId), appConfig(f.appId), f.cursor, at, this.#o.nodeId, f.cursorEpoch === 0 ? '' : String(f.cursorEpoch), st ? JSON.stringify(st) : '', f.drainId, CHECKPOINT_TTL_MS);
    }
    try {
      const res = await p.exec();
      let all = true;
      feeds.forEach((f, k) => {
        const r = res?.[k];
        const v = r !== undefined && r[0] === null ? Number(r[1]) : null;
        // OTHER_EPOCH: not of the app's epoch (the stream was rewound and this feed has not re-based yet): saved again after;
        // NOT_CONFIGURED: the drain (or its app) is deleted, nothing to write (this node hears of it and lets the drain go)
        if (v !== null && v !== OTHER_EPOCH) f.saved(cursors[k]!, epochs[k]!);
        else all = false;
      });
      return all;
    } catch {
      return false; // Redis down: the next checkpoint writes the newer cursor
    }
  }

  /**
   * The statuses the owners of these drains (of one app) last wrote to Redis,
   * read now: one round trip, at most STATUS_READ_TIMEOUT_MS. When Redis does
   * not answer in time, each is what this node last read (logged), or null
   * when it never read one.
   */
  async remoteStatuses(appId: string, drainIds: readonly string[]): Promise<(DrainStatus | null)[]> {
    if (drainIds.length === 0) return [];
    const redis = this.#o.redis;
    // (a read that answers after the timeout still refreshes what is kept)
    const read = Promise.all(drainIds.map((id) => redis.hget(drainState(appId, id), 'status'))).then(
      (values) => drainIds.map((id, i) => this.#keep(id, values[i] ?? null)),
      (err: Error) => err,
    );
    const got = await within(read, STATUS_READ_TIMEOUT_MS, null);
    if (got === null || got instanceof Error) {
      if (!this.#statusReadFailing) {
        this.#statusReadFailing = true;
        const reason = got === null ? `no answer within ${STATUS_READ_TIMEOUT_MS} ms` : got.message;
        this.#o.log.warn({ at: 'drains.status_read_failed', app: appId, err: reason }, 'cannot read from Redis the status of drains other nodes deliver; answering with the last one read');
      }
      return drainIds.map((id) => this.#remoteStatus.get(id) ?? null);
    }
    if (this.#statusReadFailing) {
      this.#statusReadFailing = false;
      this.#o.log.info({ at: 'drains.status_read_ok' }, 'drain status read from Redis again');
    }
    return got;
  }

  /** A status as read from Redis (null: none written), kept for when Redis does not answer. */
  #keep(drainId: string, v: string | null): DrainStatus | null {
    let st: DrainStatus | null = null;
    try {
      st = v === null ? null : (JSON.parse(v) as DrainStatus);
    } catch {
      /* not JSON: as if unwritten */
    }
    if (st === null) {
      this.#remoteStatus.delete(drainId);
      return null;
    }
    if (this.#remoteStatus.size >= STATUS_CACHE_MAX && !this.#remoteStatus.has(drainId)) this.#remoteStatus.clear();
    this.#remoteStatus.set(drainId, st);
    return st;
  }

  injected(drainId: string, n: number): void {
    this.#feeds.get(drainId)?.injected(n);
  }

  serveReplays(handler: (appId: string, drainId: string, req: ReplayRequest) => Promise<ReplayAnswer>): void {
    this.#replayHandler = handler;
  }

  /**
   * Replay a drain another node delivers: the request goes into that node's
   * list in Redis (it looks every checkpoint, 250 ms), its answer comes back
   * under a key of its own. Redis, not HTTP, because a node's advertised URL
   * may be a load balancer's.
   */
  async forwardReplay(appId: string, drainId: string, req: ReplayRequest): Promise<ReplayAnswer> {
    const redis = this.#o.redis;
    const owner = await redis.get(drainLease(appId, drainId));
    if (owner === null) return { status: 503, body: { id: 'no_owner', error: 'no node delivers this drain right now (it is being handed over); try again in a few seconds' } };
    const msg: ForwardedReplay = { id: randomUUID(), app: appId, drain: drainId, req };
    const key = nodeReplays(owner);
    await redis.multi().rpush(key, JSON.stringify(msg)).pexpire(key, REPLAY_TTL_MS).exec();
    const deadline = Date.now() + REPLAY_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, REPLAY_POLL_MS));
      const v = await redis.get(replayAnswer(msg.id));
      if (v !== null) return JSON.parse(v) as ReplayAnswer;
    }
    return { status: 504, body: { id: 'owner_timeout', error: 'the node delivering this drain did not answer in time; the replay may still run' } };
  }

  /** Run the replays other nodes forwarded to this node, and write their answers. */
  async #serveForwarded(): Promise<void> {
    const handler = this.#replayHandler;
    if (handler === null || this.#servingReplays) return;
    this.#servingReplays = true;
    const redis = this.#o.redis;
    try {
      const raw = await redis.lpop(nodeReplays(this.#o.nodeId), 100);
      for (const text of raw ?? []) {
        let msg: ForwardedReplay;
        try {
          msg = JSON.parse(text) as ForwardedReplay;
        } catch {
          continue;
        }
        const answer = await handler(msg.app, msg.drain, msg.req).catch((err: Error): ReplayAnswer => ({ status: 500, body: { id: 'internal', error: err.message } }));
        await redis.set(replayAnswer(msg.id), JSON.stringify(answer), 'PX', REPLAY_TTL_MS);
      }
    } catch {
      /* Redis down: the requests wait in the list (or expire); the asking node times out */
    } finally {
      this.#servingReplays = false;
    }
  }

  /** Lines that never reached Redis: the drains this node owns get an L10 for those they did not get directly. */
  linesLost(appId: string, recs: readonly Buffer[]): void {
    for (const f of this.#feeds.values()) {
      if (f.appId !== appId) continue;
      const n = f.lostLocal(recs);
      // counted by the feed (its lostLines), with the L10 it offers
      if (n > 0) f.offerLoss(n, receivedOf(recs[0]!));
    }
  }
}
