// Failed-authentication throttle (SPEC 12): per client address, after
// `limit` failures within a window of `windowMs` (a fixed window that starts
// at the first failure), every further request from that address is answered
// 429 with Retry-After until the window ends. Other addresses are not
// affected: the check is one Map lookup. Memory is bounded: past maxAddresses
// the expired windows are swept, and if none has expired the oldest is
// forgotten (an attacker cycling addresses gains only their own resets).
import { systemClock, type TimeSource } from '../basics/clock.js';

export interface AuthThrottleOptions {
  /** Failures per window before an address is refused; 0 = no throttle. */
  limit?: number;
  windowMs?: number;
  /** Addresses never throttled (e.g. loopback, see isLoopbackAddress). */
  exempt?: (address: string) => boolean;
  clock?: TimeSource;
  maxAddresses?: number;
}

interface Window {
  start: number;
  failures: number;
}

export function isLoopbackAddress(a: string): boolean {
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

export class AuthThrottle {
  readonly limit: number;
  readonly windowMs: number;
  readonly #exempt: (address: string) => boolean;
  readonly #clock: TimeSource;
  readonly #max: number;
  readonly #windows = new Map<string, Window>();

  constructor(opts: AuthThrottleOptions = {}) {
    this.limit = opts.limit ?? 20;
    this.windowMs = opts.windowMs ?? 60_000;
    this.#exempt = opts.exempt ?? (() => false);
    this.#clock = opts.clock ?? systemClock;
    this.#max = opts.maxAddresses ?? 100_000;
  }

  /** Seconds this address must wait (for Retry-After), or 0 when it may try. */
  retryAfter(address: string): number {
    const w = this.#windows.get(address);
    if (!w || w.failures < this.limit) return 0;
    const left = w.start + this.windowMs - this.#clock.now();
    if (left <= 0) {
      this.#windows.delete(address);
      return 0;
    }
    return Math.ceil(left / 1000);
  }

  /** Count one failed authentication from this address. */
  fail(address: string): void {
    if (this.limit === 0 || this.#exempt(address)) return;
    const now = this.#clock.now();
    let w = this.#windows.get(address);
    if (w && now - w.start >= this.windowMs) {
      this.#windows.delete(address);
      w = undefined;
    }
    if (!w) {
      if (this.#windows.size >= this.#max) this.#sweep(now);
      w = { start: now, failures: 0 };
      this.#windows.set(address, w);
    }
    w.failures++;
  }

  /** Addresses with a window open (tests, metrics). */
  get size(): number {
    return this.#windows.size;
  }

  #sweep(now: number): void {
    for (const [a, w] of this.#windows) if (now - w.start >= this.windowMs) this.#windows.delete(a);
    // none expired: forget the oldest (Map order is insertion order)
    if (this.#windows.size >= this.#max) {
      const first = this.#windows.keys().next();
      if (!first.done) this.#windows.delete(first.value);
    }
  }
}
