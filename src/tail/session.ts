// Sessions (SPEC 5.1): a capability (uuid4 in a URL) to read one app's
// history and optionally its live tail, with filters. A session lives 360 s
// after creation, and while a client reads it, until 360 s after its last
// reader left; within that time it may be opened again. Time comes from an
// injectable clock so tests need no sleeps.
import { randomUUID } from 'node:crypto';
import type { App } from '../apps.js';
import { systemClock, type TimeSource } from '../basics/clock.js';
import { SessionQuota, type Refusal, type SessionQuotaOptions } from './quota.js';

/** Default session life after creation or after the last reader left, ms. */
export const SESSION_TTL_MS = 360_000;
/** Lines of history when the request gives no `num` (as Logplex). */
export const DEFAULT_NUM = 100;

export interface SessionSpec {
  app: string;
  /**
   * The app's incarnation when the session was made: its record's uuid. A
   * session is of that app only, never of an app made later under the same
   * name (deleted and created again): the store's atomic create decides one
   * record, so two creates of a name, even in one ms on two nodes, give one
   * uuid. Absent in sessions stored by releases before it (Redis,
   * sessions.json): those read the app of their name as it is.
   */
  appUuid?: string;
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

/** What a client asks of a new session; the app and its incarnation come from the app it is made for (TailService.createSession). */
export type SessionRequest = Omit<SessionSpec, 'app' | 'appUuid'>;

/** Whether a session of `spec` may read `app`, the app of its name now: the same incarnation, or a session of a release that did not record it. */
export function sameIncarnation(spec: SessionSpec, app: App): boolean {
  return spec.appUuid === undefined || spec.appUuid === app.record.uuid;
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
  /** Per-key, per-app and per-node limits (quota.ts); absent fields are the defaults. */
  quota?: Partial<SessionQuotaOptions>;
}

/**
 * The sessions of this node. Every session comes in through #hold and goes
 * out through #forget, which keep the quota's counts (quota.ts) equal to
 * the table: creation, adoption and restore; expiry found on lookup, in a
 * sweep or in a refusal; an app's deletion; its key's access lost.
 */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly quota: SessionQuota;
  #ttlMs: number;
  #clock: TimeSource;

  constructor(opts: SessionStoreOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? SESSION_TTL_MS;
    this.#clock = opts.clock ?? systemClock;
    this.quota = new SessionQuota(opts.quota);
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }
  set ttlMs(v: number) {
    this.#ttlMs = v;
    this.quota.forgetHints();
  }
  get clock(): TimeSource {
    return this.#clock;
  }
  set clock(c: TimeSource) {
    this.#clock = c;
    this.quota.forgetHints();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Whether a new session of `spec` fits the quota: null, or the limit it
   * would pass. Expired sessions still held are forgotten first (those of
   * the full group only, and only once its hint says one may have expired).
   */
  admit(spec: SessionSpec): Refusal | null {
    const now = this.#clock.now();
    for (let swept = 0; ; swept++) {
      const over = this.quota.over(spec, this.#sessions.size);
      if (over === null) return null;
      const group = over.group;
      const next = group === null ? this.quota.nodeNext : group.next;
      // a sweep sets the hint past now, so each limit is swept at most once
      if (now < next || swept === 3) return { limit: over.limit, freesAt: next };
      if (group === null) this.sweep();
      else group.next = this.#sweepIn(group.sessions.values(), now)[1];
    }
  }

  /** A new session, or null when the quota refuses it (admit() says why). */
  create(spec: SessionSpec): Session | null {
    if (this.admit(spec) !== null) return null;
    const s = new Session(randomUUID(), spec, this.#clock.now());
    this.#hold(s);
    return s;
  }

  /** Hold a session made on another node (distributed mode), within the quota: null, or the limit that refuses it. */
  adopt(s: Session): Refusal | null {
    if (this.#sessions.has(s.id)) return null;
    const refused = this.admit(s.spec);
    if (refused === null) this.#hold(s);
    return refused;
  }

  /** The live session with this id; an expired one is forgotten and not returned. */
  get(id: string): Session | undefined {
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (this.#clock.now() >= s.expiresAt(this.#ttlMs)) {
      this.#forget(s);
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
    if (s.readers === 0) s.leftAt = this.#clock.now();
  }

  /** Every session held (expired ones included until swept). */
  all(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /**
   * Hold a session saved by an earlier run of this node (restart), with its
   * times; false when it has expired since. It counts against the quota but
   * is not refused by it: it was admitted before the restart.
   */
  restore(id: string, spec: SessionSpec, createdAt: number, leftAt: number): boolean {
    const s = new Session(id, spec, createdAt);
    s.leftAt = leftAt;
    if (this.#clock.now() >= s.expiresAt(this.#ttlMs) || this.#sessions.has(id)) return false;
    this.#hold(s);
    return true;
  }

  /** Forget every expired session. Returns how many. */
  sweep(): number {
    const [n, next] = this.#sweepIn(this.#sessions.values(), this.#clock.now());
    this.quota.nodeNext = next;
    return n;
  }

  /** Forget every session of an app (app deleted). */
  dropApp(app: string): void {
    this.dropIf((s) => s.spec.app === app);
  }

  /** Forget every session `dead` says may no longer be read (its slots free at once); returns them. */
  dropIf(dead: (s: Session) => boolean): Session[] {
    const gone: Session[] = [];
    for (const s of this.#sessions.values()) {
      if (!dead(s)) continue;
      this.#forget(s);
      gone.push(s);
    }
    return gone;
  }

  #hold(s: Session): void {
    this.#sessions.set(s.id, s);
    this.quota.add(s, s.expiresAt(this.#ttlMs));
  }

  #forget(s: Session): void {
    if (this.#sessions.get(s.id) !== s) return;
    this.#sessions.delete(s.id);
    this.quota.remove(s);
  }

  /**
   * Forget the expired sessions among `sessions`. Returns how many, and the
   * soonest one kept may expire: at most a life from now, since a session
   * made or released from now on expires after that (quota.ts, hints).
   */
  #sweepIn(sessions: Iterable<Session>, now: number): [number, number] {
    let n = 0;
    let next = now + this.#ttlMs;
    for (const s of sessions) {
      const at = s.expiresAt(this.#ttlMs);
      if (now >= at) {
        this.#forget(s);
        n++;
      } else if (at < next) next = at;
    }
    return [n, next];
  }
}
