// Node registry: every node registers in Redis with a TTL and finds the
// others there. A node is `lp:nodes` member <id> with score = when its
// registration expires; it refreshes every heartbeat and is dropped by the
// others once expired. Each node also claims an index 0..255 (a key per
// index, with a TTL, renewed with the heartbeat): the low bits of its seqs.
// A node that loses its index (Redis lost it, or it was away longer than the
// claim's TTL and another node may have taken it) claims a new one, never the
// same, and writes nothing to Redis in between. A claim takes the free index
// held longest ago (lp:nodeslots:held, renewed with every heartbeat; never
// held counts as oldest): an index that was someone's a moment ago (its
// holder cut off, its queued lines still to come) is taken only when every
// other one was held since. past the claim's TTL without
// a renewal the claim is doubtful (claimed() is false) until a heartbeat
// finds it still this node's (renewed) or claims another index ('index').
// docs/reliability.md, "Node index".
import { randomInt, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Log } from '../obs/log.js';
import { NODES, NODE_SLOTS_HELD, nodeInfo, nodeSlot } from '../redis/keys.js';
import { NODE_SLOTS } from '../basics/seq.js';
import { pipelineByOwner } from '../redis/pipeline.js';
import { LAYOUT_VERSION } from './layout.js';
import { STATS_VERSION } from './stats-batch.js';

/** Renew an index claim only if it is still ours: a claim that expired is lost even when the key is free again (another node may have held it meanwhile). */
const RENEW_IF_MINE_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end return 0";
/** Free an index claim if it is still ours. */
const DEL_IF_MINE_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

export interface NodeRegistryOptions {
  /** How long a registration (and an index claim) lives without a heartbeat. */
  ttlMs: number;
  heartbeatMs: number;
  /** How long an index claim lives without a renewal (default 6 x ttlMs). */
  indexTtlMs?: number;
  /** Where this node answers (for operators: ZRANGE lp:nodes + the info keys). */
  url: string;
  log: Log;
}

/**
 * Events: 'doubtful' (the claim outlived its TTL without a renewal: the index
 * may be another node's now), 'index' (new index, old index: after a lost
 * claim), 'claimed' (the claim is valid again after it was doubtful), 'nodes' (live node ids
 * changed), 'heartbeat' (after each successful heartbeat), 'error' is never
 * emitted (failures are logged and retried).
 */
export class NodeRegistry extends EventEmitter {
  readonly id = randomUUID();
  /** Where this node answers (set once the HTTP port is bound; written with each heartbeat). */
  url: string;
  #index = -1;
  readonly #redis: Redis;
  readonly #opts: NodeRegistryOptions;
  #timer: NodeJS.Timeout | null = null;
  #live: string[] = [];
  #beating = false;
  #failing = false;
  /** Until when the index claim is surely held (the last renewal's send time + its TTL). */
  #heldUntil = 0;
  /** 'doubtful' was emitted and no 'claimed' since. */
  #doubted = false;

  constructor(redis: Redis, opts: NodeRegistryOptions) {
    super();
    this.#redis = redis;
    this.#opts = opts;
    this.url = opts.url;
  }

  get index(): number {
    return this.#index;
  }
  /** How long an index claim lives without a renewal, ms. */
  get indexTtlMs(): number {
    return this.#opts.indexTtlMs ?? this.#opts.ttlMs * 6;
  }
  /**
   * True while the index claim is surely this node's: renewed less than its
   * TTL ago. False past it (Redis unreachable that long: another node may
   * hold the index now) until a heartbeat renews it or claims a new index.
   */
  claimed(): boolean {
    return Date.now() < this.#heldUntil;
  }
  /** Live node ids (this one included), sorted; as of the last heartbeat. */
  get live(): readonly string[] {
    return this.#live;
  }

  /** Claim an index and register; throws when every index is taken. */
  async start(): Promise<void> {
    await this.#claim();
    await this.#beat();
    this.#timer = setInterval(() => {
      // a heartbeat can hang while Redis is away (commands wait for the reconnect): the claim's doubt does not wait for it
      this.#doubt();
      void this.#beat();
    }, this.#opts.heartbeatMs).unref();
  }

  /**
   * Claim a free index other than the one lost (whose lines another node may
   * have stamped since): the one held longest ago (never held first, in random
   * order, so nodes starting together seldom race for the same one).
   */
  async #claim(): Promise<void> {
    const was = this.#index;
    const held = new Map<number, number>();
    const flat = await this.#redis.zrange(NODE_SLOTS_HELD, '0', '-1', 'WITHSCORES');
    for (let k = 0; k + 1 < flat.length; k += 2) held.set(Number(flat[k]), Number(flat[k + 1]));
    const order = Array.from({ length: NODE_SLOTS }, (_, i) => i).filter((i) => i !== was);
    for (let k = order.length - 1; k > 0; k--) {
      const j = randomInt(k + 1);
      [order[k], order[j]] = [order[j]!, order[k]!];
    }
    order.sort((x, y) => (held.get(x) ?? -1) - (held.get(y) ?? -1));
    for (const i of order) {
      const sent = Date.now();
      const ok = await this.#redis.set(nodeSlot(i), this.id, 'PX', this.indexTtlMs, 'NX');
      if (ok === 'OK') {
        this.#index = i;
        this.#heldUntil = sent + this.indexTtlMs;
        if (was !== -1) {
          this.#opts.log.warn({ at: 'cluster.index_reclaimed', was, now: i }, 'node index was lost (Redis unreachable longer than its claim lives, or Redis lost it); claimed a new one');
          this.emit('index', i, was);
        }
        return;
      }
    }
    throw new Error(`all ${NODE_SLOTS} node indexes are taken`);
  }

  async #beat(): Promise<void> {
    if (this.#beating) return;
    this.#beating = true;
    try {
      const now = Date.now();
      const r = this.#redis;
      this.#doubt();
      const sent = Date.now();
      const held = await r.eval(RENEW_IF_MINE_LUA, 1, nodeSlot(this.#index), this.id, this.indexTtlMs);
      if (held === 1) this.#heldUntil = sent + this.indexTtlMs;
      else await this.#claim();
      if (this.#doubted) {
        this.#doubted = false;
        this.emit('claimed');
      }
      const res = await pipelineByOwner(r)
        .zadd(NODES, now + this.#opts.ttlMs, this.id)
        .zadd(NODE_SLOTS_HELD, now, String(this.#index))
        .set(nodeInfo(this.id), JSON.stringify({ url: this.url, index: this.#index, pid: process.pid, layout: LAYOUT_VERSION, stats: STATS_VERSION }), 'PX', this.#opts.ttlMs)
        .zremrangebyscore(NODES, '-inf', now)
        .zrangebyscore(NODES, now, '+inf')
        .exec();
      const err = res?.find((x) => x[0] !== null)?.[0];
      if (err) throw err;
      const ids = ((res?.[4]?.[1] as string[] | undefined) ?? []).slice().sort();
      if (ids.join() !== this.#live.join()) {
        this.#live = ids;
        this.emit('nodes', ids);
      }
      if (this.#failing) {
        this.#failing = false;
        this.#opts.log.info({ at: 'cluster.heartbeat_ok', nodes: ids.length }, 'node registration refreshed');
      }
      this.emit('heartbeat');
    } catch (err) {
      this.#doubt();
      if (!this.#failing) {
        this.#failing = true;
        this.#opts.log.warn({ at: 'cluster.heartbeat_failed', err: (err as Error).message }, 'could not refresh the node registration');
      }
    } finally {
      this.#beating = false;
    }
  }

  /** Past the claim's TTL without a renewal: said once ('doubtful') until the claim is checked. */
  #doubt(): void {
    if (this.#doubted || this.claimed()) return;
    this.#doubted = true;
    this.#opts.log.warn({ at: 'cluster.index_doubtful', index: this.#index }, 'node index claim not renewed within its TTL: another node may hold it; nothing is written to Redis until it is checked');
    this.emit('doubtful');
  }

  /** Deregister (graceful stop): the others see this node gone at once. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.allSettled([
      this.#redis.zrem(NODES, this.id),
      this.#redis.del(nodeInfo(this.id)),
      this.#redis.eval(DEL_IF_MINE_LUA, 1, nodeSlot(this.#index), this.id),
    ]);
  }
}
