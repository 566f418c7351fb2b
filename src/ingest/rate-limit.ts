// The per-app ingest rate limit (SPEC 17): a token bucket per app of
// LOGPLANE_APP_RATE_LINES lines/s with a burst of twice that, in integer
// arithmetic (one line = 1000 credits, refilled `rate` credits per ms), on the
// line's own receive time: no clock read and no allocation per line. Every
// ingest path asks it before routing (route-writer.ts on this thread,
// pool.ts for lines cooked in the workers, admitLine() for an in-process
// publish); lines over it are dropped, and once a second each app that
// dropped gets the line
//   Rate limit exceeded: <N> messages dropped since <T>.
// (source heroku, dyno logplane) in its own stream. The bucket adds the
// app's drops to app.rateLimited (the channel stats' rate_limited); the
// caller counts them by transport in logplane_ingest_dropped_total{reason="rate_limited"}
// and leaves them out of logplane_ingest_lines_total (SPEC 10). In
// distributed mode the limit is the app's across the nodes: once a second
// each node shares the lines each app was sent to it (cluster/limit-share.ts)
// and sets each bucket to its share of the limit, so no Redis round trip is
// made per line or per tick (docs/reliability.md).
import type { App, LineAdmission } from '../apps.js';
import type { Context } from '../context.js';
import { lineFrom, rfc3339 } from '../line.js';
import { route } from '../router.js';
import type { LimitShareTarget } from '../cluster/limit-share.js';

/** Credits of one line. */
const LINE = 1000;
/** How often dropping apps are told, ms. */
export const ANNOUNCE_MS = 1000;

export class AppRateBucket implements LineAdmission {
  /** Credits added per ms (= lines/s, a whole number). */
  #rate: number;
  #cap: number;
  #credit: number;
  #last = 0;
  readonly #onFirstDrop: (b: AppRateBucket) => void;
  readonly #counts: { rateLimited: number };
  /** Lines dropped since the last announcement, and the receive time of the first of them. */
  dropped = 0;
  since = 0;
  /** Lines asked about (admitted or not) since the last takeDemand (distributed mode's shares). */
  seen = 0;

  /** counts: where every line dropped is added (the App: its rateLimited outlives the bucket). */
  constructor(linesPerSec: number, onFirstDrop: (b: AppRateBucket) => void, counts: { rateLimited: number }) {
    this.#rate = linesPerSec;
    this.#cap = 2 * linesPerSec * LINE;
    this.#credit = this.#cap;
    this.#onFirstDrop = onFirstDrop;
    this.#counts = counts;
  }

  /** Lines/s now (the limit, or this node's share of it). */
  get rate(): number {
    return this.#rate;
  }

  /** Refill at linesPerSec (whole, at least 1) from now on, with a burst of twice that; credit over the new burst is cut. */
  setRate(linesPerSec: number): void {
    const r = Math.max(1, Math.round(linesPerSec));
    if (r === this.#rate) return;
    this.#rate = r;
    this.#cap = 2 * r * LINE;
    if (this.#credit > this.#cap) this.#credit = this.#cap;
  }

  admit(nowMs: number): boolean {
    this.seen++;
    if (nowMs > this.#last) {
      // a whole-ms clock keeps the sums whole; the first line starts with a full bucket
      const refill = this.#last === 0 ? this.#cap : (nowMs - this.#last) * this.#rate;
      this.#credit = Math.min(this.#cap, this.#credit + refill);
      this.#last = nowMs;
    }
    if (this.#credit >= LINE) {
      this.#credit -= LINE;
      return true;
    }
    this.#counts.rateLimited++;
    if (this.dropped++ === 0) {
      this.since = nowMs;
      this.#onFirstDrop(this);
    }
    return false;
  }
}

/** Whether a line of this app received at nowMs may be routed (for in-process callers; the caller counts what it drops). */
export function admitLine(app: App, nowMs: number): boolean {
  const a = app.admission;
  return a === null || a.admit(Math.floor(nowMs));
}

/** The announcement line of `dropped` lines dropped since `sinceMs`. */
export function rateLimitLine(dropped: number, sinceMs: number, nowMs: number): Buffer {
  return lineFrom({ pri: 172, ts: rfc3339(nowMs), source: 'heroku', dyno: 'logplane', msg: `Rate limit exceeded: ${dropped} messages dropped since ${rfc3339(sinceMs)}.`, receivedMs: nowMs });
}

export interface RateLimiterOptions {
  now?: () => number;
  /** Timers (tests): the announcement tick. */
  setInterval?: (fn: () => void, ms: number) => { unref?: () => void };
  clearInterval?: (t: unknown) => void;
}

/**
 * Gives every app a bucket and announces drops once a second. One per node,
 * made by server.ts when the limit is on. In distributed mode the cluster's
 * LimitShares (cluster/limit-share.ts) drives it through the LimitShareTarget
 * methods.
 */
export class AppRateLimiter implements LimitShareTarget {
  readonly #ctx: Context;
  readonly #rate: number;
  /** The rate a new app's bucket starts at (the limit; its last known share while shares cannot be exchanged). */
  #defaultShare: number;
  readonly #now: () => number;
  /** Buckets that dropped since the last tick, with their app. */
  readonly #dropping = new Map<AppRateBucket, App>();
  readonly #appOf = new WeakMap<AppRateBucket, App>();
  readonly #timer: unknown;
  readonly #clear: (t: unknown) => void;
  readonly #onApp = (app: App): void => this.#attach(app);

  constructor(ctx: Context, linesPerSec: number, opts: RateLimiterOptions = {}) {
    this.#ctx = ctx;
    this.#rate = linesPerSec;
    this.#defaultShare = linesPerSec;
    this.#now = opts.now ?? Date.now;
    for (const app of ctx.registry.apps()) this.#attach(app);
    ctx.registry.on('app', this.#onApp);
    const t = (opts.setInterval ?? setInterval)(() => this.announce(), ANNOUNCE_MS);
    t.unref?.();
    this.#timer = t;
    this.#clear = opts.clearInterval ?? ((x) => clearInterval(x as NodeJS.Timeout));
  }

  /** Route one announcement line into each app that dropped lines since the last call. */
  announce(): void {
    if (this.#dropping.size === 0) return;
    const now = this.#now();
    for (const [b, app] of this.#dropping) {
      const n = b.dropped;
      b.dropped = 0;
      if (n > 0 && this.#ctx.registry.get(app.id) === app) route(app, rateLimitLine(n, b.since, now));
    }
    this.#dropping.clear();
  }

  get linesPerSec(): number {
    return this.#rate;
  }

  takeDemand(): Map<string, number> {
    const out = new Map<string, number>();
    for (const app of this.#ctx.registry.apps()) {
      const b = app.admission;
      if (!(b instanceof AppRateBucket) || b.seen === 0) continue;
      out.set(app.id, b.seen);
      b.seen = 0;
    }
    return out;
  }

  setShare(appId: string, linesPerSec: number): void {
    const b = this.#ctx.registry.get(appId)?.admission;
    if (b instanceof AppRateBucket) b.setRate(linesPerSec);
  }

  setAllShares(linesPerSec: number): void {
    this.#defaultShare = linesPerSec;
    for (const app of this.#ctx.registry.apps()) if (app.admission instanceof AppRateBucket) app.admission.setRate(linesPerSec);
  }

  close(): void {
    this.#clear(this.#timer);
    this.#ctx.registry.off('app', this.#onApp);
    this.announce();
    for (const app of this.#ctx.registry.apps()) app.admission = null;
  }

  #attach(app: App): void {
    if (app.admission !== null) return;
    const b = new AppRateBucket(this.#defaultShare, (x) => this.#dropping.set(x, this.#appOf.get(x)!), app);
    this.#appOf.set(b, app);
    app.admission = b;
  }
}
