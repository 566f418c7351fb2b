// Drain ownership: each drain is delivered by exactly one node, the holder of
// its lease (`lp:{app}:drain:<id>:lease` = node id, with a TTL). Every round
// (renewMs) a node renews the leases it holds and tries to take the free
// ones it is the preferred owner of (rendezvous hash of node id and drain id
// over the live nodes, so drains spread evenly and the choice is stable); a
// lease that stays free for two rounds is taken by whoever asks first. A
// lease this node has seen held by another node is taken only after two
// free rounds in a row, even by the preferred node, and not within ttlMs of
// this node's own rounds failing: when Redis comes back after an outage
// every lease has expired, and the node that held one (and delivered the
// drain meanwhile) must get the time to reconnect and renew it first. A
// node that dies stops renewing: its leases expire after ttlMs and the others
// take its drains over. A node that cannot reach Redis keeps its drains
// (nobody can take them meanwhile) and renews, or re-takes, when Redis is
// back. Held leases are not moved to newcomers (a move would need a
// hand-over); new and orphaned drains go to the preferred node.
//
// The drain manager asks owns(id) and follows 'acquire' / 'release'.
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { App, LineSink, Registry } from '../apps.js';
import type { DrainStatus } from '../drains/status.js';
import type { DrainOwnership } from '../drains/ownership.js';
import type { Log } from '../obs/log.js';
import { appConfig, appMeta, drainLease, drainState } from '../redis/keys.js';
import type { NodeRegistry } from './nodes.js';
import { CHECKPOINT_TTL_MS, RELEASED, type ScriptPipeline, type Scripts } from '../redis/scripts.js';
import { pipelineByOwner } from '../redis/pipeline.js';

export interface LeaseOptions {
  ttlMs: number;
  renewMs: number;
  log: Log;
}

/** FNV-1a of a string: the rendezvous weight of (node, drain). */
function weight(node: string, drain: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < node.length; i++) h = Math.imul(h ^ node.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0x7c, 0x01000193);
  for (let i = 0; i < drain.length; i++) h = Math.imul(h ^ drain.charCodeAt(i), 0x01000193);
  h ^= h >>> 13;
  h = Math.imul(h, 0x5bd1e995);
  h ^= h >>> 15;
  return h >>> 0;
}

/** The live node that should own a drain. */
export function preferredNode(nodes: readonly string[], drain: string): string | undefined {
  let best: string | undefined;
  let bw = -1;
  for (const n of nodes) {
    const w = weight(n, drain);
    if (w > bw || (w === bw && best !== undefined && n < best)) {
      best = n;
      bw = w;
    }
  }
  return best;
}

export class DrainLeases extends EventEmitter implements DrainOwnership {
  readonly #redis: Redis;
  readonly #registry: Registry;
  readonly #nodes: NodeRegistry;
  readonly #opts: LeaseOptions;
  /** Held: drain id -> app id. */
  readonly #owned = new Map<string, string>();
  /** Consecutive rounds a lease was seen free. */
  readonly #free = new Map<string, number>();
  /** Drains this node has seen held by another node. */
  readonly #seenHeld = new Set<string>();
  /** Drains whose checkpoint exists (made when first seen). */
  readonly #initialized = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #failing = false;
  /** No lease seen held by another node is taken before this (ms): just after our own outage. */
  #quietUntil = 0;
  #closed = false;
  /** Every drain of the config: drain id -> app id (kept up to date from the registry's events, so a round does not scan every app). */
  readonly #want = new Map<string, string>();
  /** Per app with drains: its drain ids. */
  readonly #drainsOf = new Map<string, string[]>();
  /** An app created or changed: a round only when its drains changed (most changes of most apps touch none). */
  readonly #onApp = (app: App): void => {
    if (this.#track(app.id, app.record.drains.map((d) => d.id))) this.kick();
  };
  readonly #onAppDeleted = (app: App): void => {
    if (this.#track(app.id, [])) this.kick();
  };

  constructor(redis: Redis, registry: Registry, nodes: NodeRegistry, opts: LeaseOptions) {
    super();
    this.#redis = redis;
    this.#registry = registry;
    this.#nodes = nodes;
    this.#opts = opts;
  }

  owns(drainId: string): boolean {
    return this.#owned.has(drainId);
  }
  /** Held leases (metrics, tests). */
  get size(): number {
    return this.#owned.size;
  }
  owned(): IterableIterator<[string, string]> {
    return this.#owned.entries();
  }

  /** Record `ids` as the drains of app `appId`; true when they changed. */
  #track(appId: string, ids: string[]): boolean {
    const had = this.#drainsOf.get(appId) ?? [];
    if (had.length === ids.length && had.every((id, i) => id === ids[i])) return false;
    for (const id of had) if (this.#want.get(id) === appId) this.#want.delete(id);
    for (const id of ids) this.#want.set(id, appId);
    if (ids.length > 0) this.#drainsOf.set(appId, ids);
    else this.#drainsOf.delete(appId);
    return true;
  }

  start(): void {
    for (const app of this.#registry.apps()) this.#track(app.id, app.record.drains.map((d) => d.id));
    this.#registry.on('app', this.#onApp);
    this.#registry.on('appDeleted', this.#onAppDeleted);
    this.#timer = setInterval(() => this.kick(), this.#opts.renewMs).unref();
    this.kick();
  }

  /** Run a round now (or right after the one running). */
  kick(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#round().finally(() => {
      this.#running = null;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  /** Wait for the round in progress (tests). */
  async settle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #round(): Promise<void> {
    const me = this.#nodes.id;
    const live = this.#nodes.live.includes(me) ? this.#nodes.live : [...this.#nodes.live, me];
    const want = new Map(this.#want);
    // drains gone from the config
    for (const [id, appId] of [...this.#owned]) {
      if (want.get(id) === appId) continue;
      this.#owned.delete(id);
      this.emit('release', appId, id);
      void (this.#redis as unknown as Scripts).lpRelease(drainLease(appId, id), me, this.#opts.ttlMs).catch(() => {});
    }
    for (const id of [...this.#free.keys()]) if (!want.has(id)) this.#free.delete(id);
    for (const id of [...this.#seenHeld]) if (!want.has(id)) this.#seenHeld.delete(id);
    for (const id of [...this.#initialized]) if (!want.has(id)) this.#initialized.delete(id);
    if (want.size === 0) return;

    type Op = { kind: 'init' | 'renew' | 'take' | 'peek'; id: string; app: string };
    const ops: Op[] = [];
    const p = pipelineByOwner(this.#redis) as unknown as ScriptPipeline & { get(key: string): ScriptPipeline };
    const ttl = this.#opts.ttlMs;
    for (const [id, appId] of want) {
      if (!this.#initialized.has(id)) {
        ops.push({ kind: 'init', id, app: appId });
        p.lpInitCursor(drainState(appId, id), appMeta(appId), appConfig(appId), id, CHECKPOINT_TTL_MS);
      }
      if (this.#owned.has(id)) {
        ops.push({ kind: 'renew', id, app: appId });
        p.lpLease(drainLease(appId, id), me, ttl);
      } else if ((preferredNode(live, id) === me && !this.#seenHeld.has(id)) || ((this.#free.get(id) ?? 0) >= 2 && Date.now() >= this.#quietUntil)) {
        ops.push({ kind: 'take', id, app: appId });
        p.lpLease(drainLease(appId, id), me, ttl);
      } else {
        ops.push({ kind: 'peek', id, app: appId });
        p.get(drainLease(appId, id));
      }
    }
    let res: Array<[Error | null, unknown]> | null;
    try {
      res = await p.exec();
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    if (this.#closed || !res) return;
    let failed: Error | null = null;
    ops.forEach((op, i) => {
      const [err, v] = res[i] ?? [new Error('no reply'), null];
      if (err) {
        failed ??= err;
        return;
      }
      switch (op.kind) {
        case 'init':
          this.#initialized.add(op.id);
          break;
        case 'renew':
          if (v !== 1 && this.#owned.get(op.id) === op.app) {
            this.#owned.delete(op.id);
            this.#seenHeld.add(op.id);
            this.#opts.log.warn({ at: 'drain.lease_lost', app: op.app, drain: op.id }, 'another node holds this drain now');
            this.emit('release', op.app, op.id);
          }
          break;
        case 'take':
          if (v === 1 && !this.#owned.has(op.id)) {
            this.#owned.set(op.id, op.app);
            this.#free.delete(op.id);
            this.#opts.log.info({ at: 'drain.lease_acquired', app: op.app, drain: op.id }, 'this node delivers the drain');
            this.emit('acquire', op.app, op.id);
          } else if (v !== 1) {
            this.#free.delete(op.id);
            this.#seenHeld.add(op.id);
          }
          break;
        case 'peek':
          if (v === null || (typeof v === 'string' && v.startsWith(RELEASED))) {
            this.#free.set(op.id, (this.#free.get(op.id) ?? 0) + 1);
            // given back on purpose (a hand-over): the preferred node takes it at once
            if (v !== null) this.#seenHeld.delete(op.id);
          } else {
            this.#free.delete(op.id);
            this.#seenHeld.add(op.id);
          }
          break;
      }
    });
    if (failed) this.#fail(failed);
    else if (this.#failing) {
      this.#failing = false;
      this.#quietUntil = Date.now() + this.#opts.ttlMs;
      this.#opts.log.info({ at: 'drain.leases_ok', held: this.#owned.size }, 'drain leases renewed again');
    }
  }

  #fail(err: Error): void {
    this.#free.clear(); // free rounds count only in a row, with Redis answering
    if (this.#failing) return;
    this.#failing = true;
    this.#opts.log.warn({ at: 'drain.leases_failed', err: err.message, held: this.#owned.size }, 'cannot renew drain leases; keeping the drains held until Redis answers');
  }

  /** Give every lease back (graceful stop, after the drains flushed): the others take over at once. */
  async releaseAll(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#registry.off('app', this.#onApp);
    this.#registry.off('appDeleted', this.#onAppDeleted);
    await this.settle();
    const me = this.#nodes.id;
    const s = this.#redis as unknown as Scripts;
    const held = [...this.#owned];
    this.#owned.clear();
    for (const [id, appId] of held) this.emit('release', appId, id);
    await Promise.allSettled(held.map(([id, appId]) => s.lpRelease(drainLease(appId, id), me, this.#opts.ttlMs)));
  }
}
