// Sessions (SPEC 5.1): a capability (uuid4 in a URL) to read one app's
// history and optionally its live tail, with filters. A session lives 360 s
// after creation, and while a client reads it, until 360 s after its last
// reader left; within that time it may be opened again. Time comes from an
// injectable clock so tests need no sleeps.
import { randomUUID } from 'node:crypto';
import { systemClock, type TimeSource } from '../basics/clock.js';


/** Default session life after creation or after the last reader left, ms. */
export const SESSION_TTL_MS = 360_000;
/** Lines of history when the request gives no `num` (as Logplex). */
export const DEFAULT_NUM = 100;

export interface SessionSpec {
  app: string;
  /** Newest lines of history to send (ignored when `after` is set). */
  num: number;
  tail: boolean;
  source: string | null;
  /** ps/dyno filter: equal, or prefix followed by `.`. */
  dyno: string | null;
  grep: string | null;
  /** Resume: every line with seq > after still in the ring. */
  after: number | null;
  /**
   * The API key that created the session (SPEC 12: a session URL carries its
   * creator's scope); absent or null for the admin key.
   */
  keyId?: string | null;
}

export class Session {
  readonly id: string;
  readonly spec: SessionSpec;
  readonly createdAt: number;
  readers = 0;
  /** When the last reader left (createdAt until one has). */
  leftAt: number;

  constructor(id: string, spec: SessionSpec, now: number) {
    this.id = id;
    this.spec = spec;
    this.createdAt = now;
    this.leftAt = now;
  }

  /** ms since epoch after which the session is gone (Infinity while read). */
  expiresAt(ttlMs: number): number {
    return this.readers > 0 ? Infinity : this.leftAt + ttlMs;
  }
}

export interface SessionStoreOptions {
  ttlMs?: number;
  clock?: TimeSource;
  /** Most sessions held at once; creation beyond it fails. */
  maxSessions?: number;
}

export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  ttlMs: number;
  clock: TimeSource;
  readonly maxSessions: number;

  constructor(opts: SessionStoreOptions = {}) {
    this.ttlMs = opts.ttlMs ?? SESSION_TTL_MS;
    this.clock = opts.clock ?? systemClock;
    this.maxSessions = opts.maxSessions ?? 100_000;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** A new session, or null when the store is full even after a sweep. */
  create(spec: SessionSpec): Session | null {
    if (this.#sessions.size >= this.maxSessions) {
      this.sweep();
      if (this.#sessions.size >= this.maxSessions) return null;
    }
    const s = new Session(randomUUID(), spec, this.clock.now());
    this.#sessions.set(s.id, s);
    return s;
  }

  /** Hold a session made on another node (distributed mode). */
  adopt(s: Session): void {
    if (!this.#sessions.has(s.id)) this.#sessions.set(s.id, s);
  }

  /** The live session with this id; an expired one is forgotten and not returned. */
  get(id: string): Session | undefined {
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (this.clock.now() >= s.expiresAt(this.ttlMs)) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s;
  }

  /** A reader starts reading (the session no longer expires meanwhile). */
  acquire(s: Session): void {
    s.readers++;
  }

  /** A reader left; the session lives ttl more from now. */
  release(s: Session): void {
    if (s.readers > 0) s.readers--;
    if (s.readers === 0) s.leftAt = this.clock.now();
  }

  /** Every session held (expired ones included until swept). */
  all(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** Hold a session saved by an earlier run of this node (restart), with its times; false when it has expired since. */
  restore(id: string, spec: SessionSpec, createdAt: number, leftAt: number): boolean {
    const s = new Session(id, spec, createdAt);
    s.leftAt = leftAt;
    if (this.clock.now() >= s.expiresAt(this.ttlMs) || this.#sessions.has(id)) return false;
    this.#sessions.set(id, s);
    return true;
  }

  /** Forget every expired session. Returns how many. */
  sweep(): number {
    const now = this.clock.now();
    let n = 0;
    for (const [id, s] of this.#sessions) {
      if (now >= s.expiresAt(this.ttlMs)) {
        this.#sessions.delete(id);
        n++;
      }
    }
    return n;
  }

  /** Forget every session of an app (app deleted). */
  dropApp(app: string): void {
    for (const [id, s] of this.#sessions) if (s.spec.app === app) this.#sessions.delete(id);
  }
}
