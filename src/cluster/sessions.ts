// Sessions shared through Redis (distributed mode): a session created on one
// node can be read on any node (behind a load balancer the GET seldom lands
// where the POST did). `lp:session:{<id>}` holds the spec (with the app's
// incarnation, checked before a node adopts it: TailService) and creation time
// and expires with the session: 360 s after creation, refreshed while any
// node has a reader (every refreshMs) and set to 360 s again when a node's
// last reader leaves. The node that reads a session adopts a local copy.
// The record is msgpack (msgpackr): compact, and binary-safe for filters.
// A session whose write Redis refused (an outage, a Cluster master failing
// over) works on this node at once and is written again every second until
// Redis takes it, so its URL then works on every node too.
import type { Redis } from 'ioredis';
import { pack, unpack } from 'msgpackr';
import type { Log } from '../obs/log.js';
import { Session, type SessionSpec } from '../tail/session.js';
import { session as sessionKey } from '../redis/keys.js';
import { pipelineByOwner } from '../redis/pipeline.js';

/** How often a session Redis refused is offered again, ms. */
const RESHARE_MS = 1000;

interface Stored {
  spec: SessionSpec;
  createdAt: number;
}

export class SessionMirror {
  readonly #redis: Redis;
  readonly #log: Log;
  ttlMs: number;
  /** Sessions read on this node (kept alive in Redis). */
  readonly #reading = new Set<Session>();
  /** Sessions made here that are not in Redis yet (its write failed). */
  readonly #unshared = new Set<Session>();
  #timer: NodeJS.Timeout | null = null;
  #reshareTimer: NodeJS.Timeout | null = null;
  #resharing = false;

  constructor(redis: Redis, log: Log, ttlMs: number, refreshMs: number) {
    this.#redis = redis;
    this.#log = log;
    this.ttlMs = ttlMs;
    this.#timer = setInterval(() => this.#refresh(), refreshMs).unref();
  }

  /**
   * Store a new session; resolves once it is in Redis (so the URL works on
   * every node when the client gets it), or once Redis failed: the session
   * then works on this node, and on the others once a later write succeeds
   * (a Redis command fails within the client's command timeout, never hangs).
   */
  async created(s: Session): Promise<void> {
    try {
      await this.#store(s, this.ttlMs);
    } catch (err) {
      this.#log.warn({ at: 'session.share_failed', err: (err as Error).message }, 'session not shared with other nodes yet (Redis refused it); it works on this node and is offered again every second');
      this.#unshared.add(s);
      this.#reshareTimer ??= setInterval(() => void this.#reshare(), RESHARE_MS).unref();
    }
  }

  async #store(s: Session, ttlMs: number): Promise<void> {
    const v: Stored = { spec: s.spec, createdAt: s.createdAt };
    await this.#redis.set(sessionKey(s.id), pack(v), 'PX', ttlMs);
  }

  /** Offer the sessions Redis refused again, each with the life it has left here (twice the TTL while read, as touched() does). */
  async #reshare(): Promise<void> {
    if (this.#resharing) return; // a round still waiting on Redis (a Cluster failover): one at a time
    this.#resharing = true;
    const now = Date.now();
    for (const s of this.#unshared) {
      const left = s.readers > 0 ? this.ttlMs * 2 : s.expiresAt(this.ttlMs) - now;
      try {
        if (left > 0) await this.#store(s, left);
        this.#unshared.delete(s);
        if (left > 0) this.#log.info({ at: 'session.shared' }, 'session shared with other nodes after Redis refused it');
      } catch {
        // still refused (on a Cluster, maybe by this session's master only): the next round tries again
      }
    }
    this.#resharing = false;
    if (this.#unshared.size === 0 && this.#reshareTimer) {
      clearInterval(this.#reshareTimer);
      this.#reshareTimer = null;
    }
  }

  touched(s: Session): void {
    if (s.readers > 0) this.#reading.add(s);
    else this.#reading.delete(s);
    // read now: do not expire meanwhile; last reader gone: ttl from now
    this.#redis.pexpire(sessionKey(s.id), s.readers > 0 ? this.ttlMs * 2 : this.ttlMs).catch(() => {});
  }

  async find(id: string): Promise<Session | null> {
    let res: Array<[Error | null, unknown]> | null;
    try {
      res = await this.#redis.pipeline().getBuffer(sessionKey(id)).pttl(sessionKey(id)).exec();
    } catch {
      return null;
    }
    const raw = res?.[0]?.[1];
    const pttl = Number(res?.[1]?.[1] ?? -2);
    if (!Buffer.isBuffer(raw) || pttl <= 0) return null;
    let v: Stored;
    try {
      v = unpack(raw) as Stored;
    } catch {
      return null;
    }
    if (typeof v?.createdAt !== 'number' || typeof v.spec !== 'object') return null;
    const now = Date.now();
    const s = new Session(id, v.spec, v.createdAt);
    // expire here when it would in Redis
    s.leftAt = now + Math.min(pttl, this.ttlMs) - this.ttlMs;
    return s;
  }

  /**
   * Sessions that may no longer be read (their key lost the app): removed
   * from Redis, so that no node adopts one again should the key get the app
   * back. Every node that held one removes it; one that fails leaves it to
   * expire (it is 404 meanwhile: the key does not reach the app).
   */
  ended(sessions: readonly Session[]): void {
    const p = pipelineByOwner(this.#redis);
    for (const s of sessions) {
      this.#reading.delete(s);
      this.#unshared.delete(s);
      p.del(sessionKey(s.id));
    }
    p.exec().catch(() => {});
  }

  #refresh(): void {
    if (this.#reading.size === 0) return;
    const p = pipelineByOwner(this.#redis);
    for (const s of this.#reading) {
      if (s.readers === 0) this.#reading.delete(s);
      else p.pexpire(sessionKey(s.id), this.ttlMs * 2);
    }
    p.exec().catch(() => {});
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#reshareTimer) clearInterval(this.#reshareTimer);
    this.#timer = null;
    this.#reshareTimer = null;
  }
}
