// The per-app ingest rate limit (SPEC 17): a token bucket per app of
// LOGPLANE_APP_RATE_LINES lines/s with a burst of twice that, in integer
// arithmetic (one line = 1000 credits, refilled `rate` credits per ms), on the
// line's own receive time: no clock read and no allocation per line. Every
// ingest path asks it before routing (route-writer.ts on this thread,
// pool.ts for lines cooked in the workers, admitLine() for an in-process
// publish); lines over it are dropped, and once a second each app that
// dropped gets the line
//   Rate limit exceeded: <N> messages dropped since <T>.
// (source heroku, dyno logplane) in its own stream. The bucket counts the
// app's drops (`limited`, the channel stats' rate_limited); the caller counts
// them by transport in logplane_ingest_dropped_total{reason="rate_limited"}
// and leaves them out of logplane_ingest_lines_total (SPEC 10). The limit is
// per node: in distributed mode N nodes admit up to N times it
// (docs/reliability.md).
import type { App, LineAdmission } from '../apps.js';
import type { Context } from '../context.js';
import { lineFrom, rfc3339 } from '../line.js';
import { route } from '../router.js';

/** Credits of one line. */
const LINE = 1000;
/** How often dropping apps are told, ms. */
export const ANNOUNCE_MS = 1000;

export class AppRateBucket implements LineAdmission {
  /** Credits added per ms (= lines/s). */
  readonly #rate: number;
  readonly #cap: number;
  #credit: number;
  #last = 0;
  readonly #onFirstDrop: (b: AppRateBucket) => void;
  /** Lines dropped since the last announcement, and the receive time of the first of them. */
  dropped = 0;
  since = 0;
  /** Lines dropped since the bucket was made (this node's start, or the app's creation): never goes down. */
  limited = 0;

  constructor(linesPerSec: number, onFirstDrop: (b: AppRateBucket) => void) {
    this.#rate = linesPerSec;
    this.#cap = 2 * linesPerSec * LINE;
    this.#credit = this.#cap;
    this.#onFirstDrop = onFirstDrop;
  }

  admit(nowMs: number): boolean {
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
    this.limited++;
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

/** Gives every app a bucket and announces drops once a second. One per node, made by server.ts when the limit is on. */
export class AppRateLimiter {
  readonly #ctx: Context;
  readonly #rate: number;
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

  close(): void {
    this.#clear(this.#timer);
    this.#ctx.registry.off('app', this.#onApp);
    this.announce();
    for (const app of this.#ctx.registry.apps()) app.admission = null;
  }

  #attach(app: App): void {
    if (app.admission !== null) return;
    const b = new AppRateBucket(this.#rate, (x) => this.#dropping.set(x, this.#appOf.get(x)!));
    this.#appOf.set(b, app);
    app.admission = b;
  }
}
