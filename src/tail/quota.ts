// Session quotas (SPEC 17: a client over a limit is refused and counted; the
// service keeps serving everyone else). A node's session table is shared by
// every key and every app: without a quota one viewer key could fill it
// (100,000 sessions in half a minute) and lock everyone out for a session's
// life. So, per node:
//   - an API key holds at most `perKey` sessions (the admin key has no quota
//     of its own, nor have the library's in-process tails);
//   - an app has at most `perApp` sessions, whoever made them;
//   - API keys together stop `adminReservePercent` short of the app's quota
//     and of the node's table (`perNode`): the rest is the admin key's, so
//     the operator can always open a tail, even of the app under attack.
// Every session the table holds counts: made here, restored at start, or
// (distributed mode) made on another node and read here, as each takes a
// slot of this node's table. The store (session.ts) tells the quota of every
// session it takes in and lets go, in one place each, so the counts cannot
// drift from the table. docs/tail.md, "Quotas", has the choices and why.
import { defaults, type Config } from '../config.js';
import { ErrorCode, LimitError } from '../errors.js';
import type { Session, SessionSpec } from './session.js';

export interface SessionQuotaOptions {
  /** Sessions one API key may hold; 0 = no per-key limit. */
  perKey: number;
  /** Sessions of one app; 0 = no per-app limit. */
  perApp: number;
  /** Sessions the node holds at most. */
  perNode: number;
  /** Percent of perApp and perNode that API keys may not use. */
  adminReservePercent: number;
}

/** The quota of the config (LOGPLANE_MAX_SESSIONS*, LOGPLANE_SESSION_ADMIN_RESERVE_PERCENT); a setting absent from a partial config is the default. */
export function quotaOf(c: Partial<Config>): SessionQuotaOptions {
  return {
    perKey: c.maxSessionsPerKey ?? defaults.maxSessionsPerKey,
    perApp: c.maxSessionsPerApp ?? defaults.maxSessionsPerApp,
    perNode: c.maxSessions ?? defaults.maxSessions,
    adminReservePercent: c.sessionAdminReservePercent ?? defaults.sessionAdminReservePercent,
  };
}

/** Which limit refused a session: the `reason` label of logplane_tail_sessions_refused_total. */
export const SessionLimit = { KEY: 'key_limit', APP: 'app_limit', NODE: 'node_limit' } as const;
export type SessionLimit = (typeof SessionLimit)[keyof typeof SessionLimit];
export const SESSION_LIMITS: readonly SessionLimit[] = Object.values(SessionLimit);

/** A refusal: the limit, and when a slot under it may free (the soonest a session it counts can expire). */
export interface Refusal {
  limit: SessionLimit;
  /** ms since epoch; an estimate from below. */
  freesAt: number;
}

/**
 * Sessions counted together (one key's, one app's), with a hint: none of
 * them expires before `next` (the whole table has one too, nodeNext). A full group is refused in
 * O(1) until then; only after it are its expired sessions looked for (and
 * the hint set again), so a client hammering at its quota costs a lookup.
 * The hint stays a lower bound as sessions change: a new or released
 * session expires a whole life from now, later than any hint set before
 * (a sweep caps the hint at a life from then); a session read from now on
 * expires later still; one that may expire sooner (adopted, restored) lowers
 * the hint as it comes in; a new life or clock clears every hint.
 */
export class SessionGroup {
  readonly sessions = new Set<Session>();
  next = -Infinity;
}

export class SessionQuota {
  readonly options: SessionQuotaOptions;
  /** The whole table's hint (its sessions are the store's). */
  nodeNext = -Infinity;
  readonly #byKey = new Map<string, SessionGroup>();
  readonly #byApp = new Map<string, SessionGroup>();

  constructor(opts: Partial<SessionQuotaOptions> = {}) {
    this.options = { ...quotaOf({}), ...definedOnly(opts) };
  }

  /** The session came into the table; `expiresAt` its expiry now. */
  add(s: Session, expiresAt: number): void {
    const { keyId, app } = s.spec;
    if (expiresAt < this.nodeNext) this.nodeNext = expiresAt;
    const groups = [groupIn(this.#byApp, app)];
    if (keyId != null) groups.push(groupIn(this.#byKey, keyId));
    for (const g of groups) {
      g.sessions.add(s);
      if (expiresAt < g.next) g.next = expiresAt;
    }
  }

  /** The session left the table. */
  remove(s: Session): void {
    const { keyId, app } = s.spec;
    if (keyId != null) drop(this.#byKey, keyId, s);
    drop(this.#byApp, app, s);
  }

  /** The first limit a new session of `spec` would pass, with its group (null: the whole table, of `size`); null when none. */
  over(spec: SessionSpec, size: number): { limit: SessionLimit; group: SessionGroup | null } | null {
    const o = this.options;
    const apiKey = spec.keyId != null;
    if (apiKey && o.perKey > 0) {
      const g = this.#byKey.get(spec.keyId!);
      if (g && g.sessions.size >= o.perKey) return { limit: SessionLimit.KEY, group: g };
    }
    if (o.perApp > 0) {
      const g = this.#byApp.get(spec.app);
      if (g && g.sessions.size >= (apiKey ? share(o.perApp, o) : o.perApp)) return { limit: SessionLimit.APP, group: g };
    }
    if (size >= (apiKey ? share(o.perNode, o) : o.perNode)) return { limit: SessionLimit.NODE, group: null };
    return null;
  }

  /** Session life or clock changed: no hint holds. */
  forgetHints(): void {
    this.nodeNext = -Infinity;
    for (const g of [...this.#byKey.values(), ...this.#byApp.values()]) g.next = -Infinity;
  }
}

/** What API keys may fill of a limit of `n`: all but the admin reserve, rounded down. */
export function share(n: number, o: SessionQuotaOptions): number {
  return Math.floor((n * (100 - o.adminReservePercent)) / 100);
}

function groupIn(m: Map<string, SessionGroup>, k: string): SessionGroup {
  let g = m.get(k);
  if (!g) {
    g = new SessionGroup();
    m.set(k, g);
  }
  return g;
}

/** Remove s from its group; an empty group is forgotten (memory follows the live sessions, not every key ever seen). */
function drop(m: Map<string, SessionGroup>, k: string, s: Session): void {
  const g = m.get(k);
  if (!g) return;
  g.sessions.delete(s);
  if (g.sessions.size === 0) m.delete(k);
}

function definedOnly<T extends object>(o: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const ANSWERS: Record<SessionLimit, { status: 429 | 503; id: string; why: (o: SessionQuotaOptions, spec: SessionSpec) => string }> = {
  key_limit: { status: 429, id: 'too_many_key_sessions', why: (o) => `this API key holds ${o.perKey} sessions on this node, the most one key may` },
  app_limit: { status: 429, id: 'too_many_app_sessions', why: (o, spec) => `app ${JSON.stringify(spec.app)} holds as many sessions on this node as its quota of ${o.perApp} allows` },
  node_limit: { status: 503, id: 'too_many_sessions', why: () => 'too many open sessions' },
};

/**
 * The API's answer to a refusal: 429 for the key's and the app's quotas
 * (the client's own doing), 503 `too_many_sessions` for the node's table;
 * Retry-After: until a session counted may expire. Names no key.
 */
export function sessionLimitError(r: Refusal, spec: SessionSpec, o: SessionQuotaOptions, now: number): LimitError {
  const a = ANSWERS[r.limit];
  const retryAfter = Math.max(1, Math.ceil((r.freesAt - now) / 1000));
  return new LimitError(ErrorCode.UNPROCESSABLE, a.status, a.id, `${a.why(o, spec)}; try again later`, retryAfter);
}
