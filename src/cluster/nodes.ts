// Node registry: every node registers in Redis with a TTL and finds the
// others there. A node is `lp:nodes` member <id> with score = when its
// registration expires; it refreshes every heartbeat and is dropped by the
// others once expired. Each node also claims an index 0..255 (a key per
// index, with a TTL, renewed with the heartbeat): the low bits of its seqs.
// A node that loses its index (Redis lost it, or it was away longer than the
// TTL and another node took it) claims a new one before stamping more lines.
import { randomInt, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Log } from '../obs/log.js';
import { NODES, nodeInfo, nodeSlot } from '../redis/keys.js';
import type { Scripts } from '../redis/scripts.js';
import { NODE_SLOTS } from '../basics/seq.js';
import { pipelineByOwner } from '../redis/pipeline.js';
import { LAYOUT_VERSION } from './layout.js';
import { STATS_VERSION } from './stats-batch.js';

/** Free an index claim if it is still ours. */
const DEL_IF_MINE_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

export interface NodeRegistryOptions {
  /** How long a registration (and an index claim) lives without a heartbeat. */
  ttlMs: number;
  heartbeatMs: number;
  /** Where this node answers (for operators: ZRANGE lp:nodes + the info keys). */
  url: string;
  log: Log;
}

/**
 * Events: 'index' (new index, after a lost claim), 'nodes' (live node ids
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

  constructor(redis: Redis, opts: NodeRegistryOptions) {
    super();
    this.#redis = redis;
    this.#opts = opts;
    this.url = opts.url;
  }

  get index(): number {
    return this.#index;
  }
  /** Live node ids (this one included), sorted; as of the last heartbeat. */
  get live(): readonly string[] {
    return this.#live;
  }

  /** Claim an index and register; throws when every index is taken. */
  async start(): Promise<void> {
    await this.#claim();
    await this.#beat();
    this.#timer = setInterval(() => void this.#beat(), this.#opts.heartbeatMs).unref();
  }

  async #claim(): Promise<void> {
    const start = randomInt(NODE_SLOTS);
    for (let k = 0; k < NODE_SLOTS; k++) {
      const i = (start + k) % NODE_SLOTS;
      const ok = await this.#redis.set(nodeSlot(i), this.id, 'PX', this.#opts.ttlMs * 6, 'NX');
      if (ok === 'OK') {
        const was = this.#index;
        this.#index = i;
        if (was !== -1) {
          this.#opts.log.warn({ at: 'cluster.index_reclaimed', was, now: i }, 'node index was lost; claimed a new one');
          this.emit('index', i);
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
      const s = r as unknown as Scripts;
      const held = await s.lpLease(nodeSlot(this.#index), this.id, this.#opts.ttlMs * 6);
      if (held !== 1) await this.#claim();
      const res = await pipelineByOwner(r)
        .zadd(NODES, now + this.#opts.ttlMs, this.id)
        .set(nodeInfo(this.id), JSON.stringify({ url: this.url, index: this.#index, pid: process.pid, layout: LAYOUT_VERSION, stats: STATS_VERSION }), 'PX', this.#opts.ttlMs)
        .zremrangebyscore(NODES, '-inf', now)
        .zrangebyscore(NODES, now, '+inf')
        .exec();
      const err = res?.find((x) => x[0] !== null)?.[0];
      if (err) throw err;
      const ids = ((res?.[3]?.[1] as string[] | undefined) ?? []).slice().sort();
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
      if (!this.#failing) {
        this.#failing = true;
        this.#opts.log.warn({ at: 'cluster.heartbeat_failed', err: (err as Error).message }, 'could not refresh the node registration');
      }
    } finally {
      this.#beating = false;
    }
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
