// Remembers accepted Logplex-Frame-Ids for a while so a shipper's retry of a
// batch we already stored is answered 204 and not stored twice (SPEC 3.1).
// Bounded: entries expire after ttlMs and the table never holds more than
// maxEntries (the oldest go first). Takes a clock so tests need no sleeps.
import { systemClock, type TimeSource } from '../basics/clock.js';

export interface FrameIdCacheOptions {
  /** How long an accepted id is remembered, ms; 0 turns deduplication off. */
  ttlMs: number;
  /** Most ids held at once; the oldest are forgotten first. */
  maxEntries?: number;
  clock?: TimeSource;
}

/** Default cap: ~100 bytes per entry, so about 10 MB at most. */
export const FRAME_ID_MAX_ENTRIES = 100_000;
/** Longer ids are not remembered (they cannot be a shipper's batch id). */
export const FRAME_ID_MAX_LENGTH = 200;

export class FrameIdCache {
  readonly #ttl: number;
  readonly #max: number;
  readonly #clock: TimeSource;
  /** key -> expiry; insertion order is expiry order because the TTL is constant. */
  readonly #seen = new Map<string, number>();

  constructor(opts: FrameIdCacheOptions) {
    this.#ttl = opts.ttlMs;
    this.#max = Math.max(1, opts.maxEntries ?? FRAME_ID_MAX_ENTRIES);
    this.#clock = opts.clock ?? systemClock;
  }

  get enabled(): boolean {
    return this.#ttl > 0;
  }
  get size(): number {
    return this.#seen.size;
  }

  /** The key for one token's frame id. */
  static key(token: string, frameId: string): string {
    return `${token} ${frameId}`;
  }

  /** True when key was accepted less than ttlMs ago. */
  has(key: string): boolean {
    const exp = this.#seen.get(key);
    return exp !== undefined && exp > this.#clock.now();
  }

  /** Remember key as accepted now. */
  add(key: string): void {
    if (this.#ttl <= 0) return;
    const now = this.#clock.now();
    this.#expire(now);
    this.#seen.delete(key);
    while (this.#seen.size >= this.#max) {
      const oldest = this.#seen.keys().next();
      if (oldest.done) break;
      this.#seen.delete(oldest.value);
    }
    this.#seen.set(key, now + this.#ttl);
  }

  #expire(now: number): void {
    for (const [k, exp] of this.#seen) {
      if (exp > now) return;
      this.#seen.delete(k);
    }
  }
}
