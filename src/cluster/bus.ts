// Cross-node line fan-out: one pub/sub channel per app (`lp:{app}:tail`),
// published by each append (once per tick per app) with the batch's first
// ordinal and origin node, while the channel has subscribers
// (redis/scripts.ts: an append with no subscriber publishes nothing). A node
// subscribes to an app's channel only while it has a reason to: live tails
// of the app, or a drain of the app it owns. Messages are decoded once;
// records stay views into the message.
// From the connection's 'ready' until its subscriptions are known restored,
// received batches are held and handed over only after every watcher was
// told (onResubscribed) and so has started its catch-up: a watcher never takes
// a batch that came back early as the start of a stream it missed the head of.
// On a Redis Cluster ioredis keeps one sharded subscriber connection per
// master and replaces it, inside its Cluster client and with no 'ready'
// there, when that master fails over to its replica (or hands the slot to
// another master): what other nodes appended on the new master before the
// new connection subscribed was published to nobody here, and a quiet app
// sends no next line whose ordinal would show the gap. So the bus looks at
// which connection serves each watched app's slot (every checkMs, and as
// soon as ioredis says its subscribers were reset), as the config store
// does for its classic subscriber (store/redis.ts): another connection than
// before is subscribed again, and once it answered a PING sent after that,
// the app's watchers are told (onResubscribed) and read what they missed
// from the history.
import type { Redis } from 'ioredis';
import { decodeBatch, decodeChunk, decodeEpoch, decodeOrdinal } from './batch.js';
import type { Log } from '../obs/log.js';
import type { Child } from '../obs/metrics.js';
import { appChannel, appOfChannel } from '../redis/keys.js';
import { afterResubscribe, isCluster, shardedSubscriberOf, type SubscriberConnection } from '../redis/connection.js';

/** Someone on this node who wants an app's lines from every node. */
export interface LineWatcher {
  /**
   * One published batch: records (views), ordinal of recs[0], origin node
   * index; epoch when the batch began a new incarnation of the app's stream
   * (its ordinals count from first - 1 again: redis/scripts.ts, EPOCH_LUA),
   * else 0.
   */
  onBatch(recs: readonly Buffer[], first: number, origin: number, epoch?: number): void;
  /** The subscription came back after a disconnect: batches may have been missed. Called before the batches received since the reconnect. */
  onResubscribed?(): void;
}

/** How often the bus looks at which sharded subscriber connection serves each watched app, ms. */
const SHARD_CHECK_MS = 500;

/** Lines held between a reconnect and its resubscription; beyond, they are forgotten (every watcher catches up from the history anyway). */
const MAX_HELD_LINES = 100_000;

export class LineBus {
  readonly #sub: Redis;
  readonly #log: Log;
  readonly #watchers = new Map<string, Set<LineWatcher>>();
  readonly #subscribing = new Map<string, Promise<void>>();
  readonly #received: Child;
  readonly #malformed: Child;
  #closed = false;
  readonly #offResubscribed: () => void;
  /** Batches received since 'ready', before the resubscription was confirmed; null when not reconnecting. */
  #held: Array<{ appId: string; first: number; origin: number; recs: Buffer[]; epoch: number }> | null = null;
  #heldLines = 0;
  /** Per app: the first ordinal of the chunk whose bytes come next. */
  readonly #nextFirst = new Map<string, number>();
  /** Per app: the epoch the chunk whose bytes come next begins (an epoch message came before its ordinal message). */
  readonly #nextEpoch = new Map<string, number>();
  /** Called for every decoded batch before the watchers (HLC observe). */
  onAnyBatch: ((appId: string, recs: readonly Buffer[]) => void) | null = null;
  /** Sharded pub/sub (a Redis Cluster). */
  readonly #sharded: boolean;
  /** Sharded: per watched app, the subscriber connection that served its slot when last looked at (null: none). */
  readonly #shards = new Map<string, SubscriberConnection | null>();
  #shardTimer: NodeJS.Timeout | null = null;

  constructor(sub: Redis, log: Log, received: Child, malformed: Child, shardCheckMs = SHARD_CHECK_MS) {
    this.#sub = sub;
    this.#sharded = isCluster(sub);
    this.#log = log;
    this.#received = received;
    this.#malformed = malformed;
    sub.on(this.#sharded ? 'smessageBuffer' : 'messageBuffer', this.#onMessage);
    sub.on('ready', this.#onReady);
    this.#offResubscribed = afterResubscribe(sub, () => [...this.#watchers.keys()].map(appChannel), this.#onResubscribed);
    if (this.#sharded) {
      sub.on('subscribersReady', this.#checkShards);
      this.#shardTimer = setInterval(this.#checkShards, shardCheckMs);
      this.#shardTimer.unref();
    }
  }

  get up(): boolean {
    return this.#sub.status === 'ready';
  }

  /** Apps this node is subscribed to. */
  get size(): number {
    return this.#watchers.size;
  }

  /**
   * Start receiving an app's lines. Resolves once Redis confirmed the
   * subscription (lines published after that reach w), or at once when
   * Redis is unreachable (the subscription is made when it is back).
   */
  watch(appId: string, w: LineWatcher): Promise<void> {
    let set = this.#watchers.get(appId);
    if (!set) {
      set = new Set();
      this.#watchers.set(appId, set);
    }
    set.add(w);
    const pending = this.#subscribing.get(appId);
    if (pending) return pending;
    if (set.size > 1) return Promise.resolve();
    const channel = appChannel(appId);
    const p = (this.#sharded ? this.#sub.ssubscribe(channel) : this.#sub.subscribe(channel)).then(
      () => undefined,
      (err: Error) => {
        this.#log.warn({ at: 'cluster.subscribe_failed', app: appId, err: err.message }, 'could not subscribe to an app channel');
      },
    );
    const tracked = p.finally(() => {
      if (this.#subscribing.get(appId) === tracked) this.#subscribing.delete(appId);
    });
    this.#subscribing.set(appId, tracked);
    // the connection the subscription went to (null: none yet, the first one seen counts as a move)
    if (this.#sharded) this.#shards.set(appId, shardedSubscriberOf(this.#sub, channel) ?? null);
    if (!this.up) return Promise.resolve();
    return tracked;
  }

  unwatch(appId: string, w: LineWatcher): void {
    const set = this.#watchers.get(appId);
    if (!set || !set.delete(w)) return;
    if (set.size > 0) return;
    this.#watchers.delete(appId);
    this.#nextFirst.delete(appId);
    this.#nextEpoch.delete(appId);
    this.#shards.delete(appId);
    if (this.#closed) return;
    const channel = appChannel(appId);
    void (this.#sharded ? this.#sub.sunsubscribe(channel) : this.#sub.unsubscribe(channel)).catch(() => {
      /* down: gone with the connection anyway */
    });
  }

  readonly #onMessage = (channel: Buffer, msg: Buffer): void => {
    const appId = appOfChannel(channel.toString('latin1'));
    if (appId === null) return;
    const set = this.#watchers.get(appId);
    if (!set) return;
    // each chunk comes as two adjacent messages: its first ordinal, then its bytes (three: an epoch message first, when it begins an incarnation)
    const epoch = decodeEpoch(msg);
    if (epoch !== null) {
      this.#nextEpoch.set(appId, epoch);
      return;
    }
    const first = decodeOrdinal(msg);
    if (first !== null) {
      this.#nextFirst.set(appId, first);
      return;
    }
    const f = this.#nextFirst.get(appId);
    this.#nextFirst.delete(appId);
    const began = this.#nextEpoch.get(appId) ?? 0;
    if (began !== 0) this.#nextEpoch.delete(appId);
    // first ordinal -1: a chunk sent again whose first append's ordinals Redis no longer knew (redis/scripts.ts); its lines are already in the stream
    if (f !== undefined && f < 1) return;
    // no ordinal message before it: the previous release's layout, one message `f64 first ordinal | chunk`
    const b = f === undefined ? decodeBatch(msg) : decodeChunk(msg, f);
    if (b === null) {
      this.#malformed.value++;
      return;
    }
    this.#received.value += b.recs.length;
    this.onAnyBatch?.(appId, b.recs);
    if (this.#held !== null) {
      if (this.#heldLines + b.recs.length <= MAX_HELD_LINES) {
        this.#held.push({ appId, first: b.first, origin: b.origin, recs: b.recs, epoch: began });
        this.#heldLines += b.recs.length;
      }
      return;
    }
    this.#deliver(appId, b.first, b.origin, b.recs, began);
  };

  #deliver(appId: string, first: number, origin: number, recs: Buffer[], epoch: number): void {
    const set = this.#watchers.get(appId);
    if (!set) return;
    for (const w of set) {
      try {
        w.onBatch(recs, first, origin, epoch);
      } catch (err) {
        this.#log.error({ at: 'cluster.watcher_failed', app: appId, err: (err as Error).message }, 'a line watcher failed');
      }
    }
  }

  /** (Re)connected: hold batches until the subscriptions are confirmed and the watchers told. */
  readonly #onReady = (): void => {
    if (this.#held === null) {
      this.#held = [];
      this.#heldLines = 0;
    }
  };

  readonly #onResubscribed = (): void => {
    const held = this.#held ?? [];
    this.#held = null;
    this.#heldLines = 0;
    if (this.#closed) return;
    this.#log.info({ at: 'cluster.resubscribed', apps: this.#watchers.size }, 'line subscriptions restored');
    for (const set of this.#watchers.values()) for (const w of set) w.onResubscribed?.();
    for (const h of held) this.#deliver(h.appId, h.first, h.origin, h.recs, h.epoch);
  };

  /**
   * Sharded: the apps whose slot another connection serves now than when last
   * looked at. ioredis subscribed it to their channels (it keeps the list);
   * they are subscribed again on it (a channel missing from ioredis' list,
   * its subscribe refused during the failover, is then there too), and a
   * PING after that says when every message published from then on reaches
   * us: the apps' watchers catch up then.
   */
  readonly #checkShards = (): void => {
    if (this.#closed) return;
    let moved: Map<SubscriberConnection, string[]> | null = null;
    for (const appId of this.#watchers.keys()) {
      const conn = shardedSubscriberOf(this.#sub, appChannel(appId));
      if (!conn || conn.status !== 'ready' || conn === this.#shards.get(appId)) continue;
      this.#shards.set(appId, conn);
      moved ??= new Map();
      const ids = moved.get(conn);
      if (ids) ids.push(appId);
      else moved.set(conn, [appId]);
    }
    if (moved === null) return;
    for (const [conn, ids] of moved) {
      for (const id of ids) {
        conn.ssubscribe(appChannel(id)).catch(() => {
          /* dropped again: ioredis moves it once more, and the next look finds that */
        });
      }
      conn.ping().then(
        () => this.#shardMoved(conn, ids),
        () => {
          // not answering: looked at again next time
          for (const id of ids) if (this.#shards.get(id) === conn) this.#shards.set(id, null);
        },
      );
    }
  };

  #shardMoved(conn: SubscriberConnection, ids: readonly string[]): void {
    if (this.#closed) return;
    let n = 0;
    for (const id of ids) {
      const set = this.#watchers.get(id);
      if (!set || this.#shards.get(id) !== conn) continue;
      n++;
      for (const w of set) w.onResubscribed?.();
    }
    if (n > 0) this.#log.info({ at: 'cluster.resubscribed_shard', apps: n }, 'line subscriptions moved to another Redis node: catching up from the history');
  }

  close(): void {
    this.#closed = true;
    if (this.#shardTimer) clearInterval(this.#shardTimer);
    this.#shardTimer = null;
    this.#sub.off('subscribersReady', this.#checkShards);
    this.#sub.off(this.#sharded ? 'smessageBuffer' : 'messageBuffer', this.#onMessage);
    this.#sub.off('ready', this.#onReady);
    this.#held = null;
    this.#offResubscribed();
  }
}
