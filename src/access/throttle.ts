// Failed-authentication throttle (SPEC 12): per client address, at most
// `limit` failures in any `windowMs` (a sliding window, not a fixed one that
// starts at the first failure and lets 2 x limit through across its edge).
// Once `limit` failures are counted, every request from that address is
// answered 429 with Retry-After, whatever key it brings (so a right guess is
// not told apart), until enough of them have left the window; refused
// requests are not counted. Other addresses are not affected.
//
// Counting: failures are counted per slot of windowMs / SLOTS (1 s for the
// minute), and the window is the current slot and the SLOTS before it, so a
// failure counts for between one window and one window plus a slot (60 to
// 61 s): never fewer failures than the last windowMs held, hence never more
// than `limit` let through in any windowMs. An address holds at most SLOTS + 1
// slot counts, whatever the limit.
//
// Distributed mode: the count is shared by every node (SharedFailureCount,
// Redis: cluster/auth-failures.ts, the same slots), so an address gets
// `limit` failures in a window over all nodes, not per node. Each request
// asks it (one round trip, management routes only); the node also keeps its
// own count of the failures it admitted, and when the shared count does not
// answer within sharedTimeoutMs (Redis away) it decides by its own count
// alone, as in embedded mode.
//
// An IPv6 client is counted by its /64 (one host is usually given a whole
// /64, so counting each address would give it 2^64 fresh windows), an
// IPv4-mapped IPv6 address as its IPv4 address (clientKey).
//
// Memory is bounded: past maxAddresses the addresses with nothing in the
// window are swept, and if none is, the oldest is forgotten (an attacker
// cycling addresses gains only their own resets).
import { isIPv6 } from 'node:net';
import { systemClock, type TimeSource } from '../basics/clock.js';
import { within } from '../basics/within.js';

/**
 * What the throttle counts a client address as: an IPv4 address as it is,
 * an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as its IPv4 address, any
 * other IPv6 address as its /64 (`2001:db8:0:1::/64`; a zone id is left
 * out). Anything else (not an IP address) as it is.
 */
export function clientKey(address: string): string {
  const bare = address.includes('%') ? address.slice(0, address.indexOf('%')) : address;
  if (!isIPv6(bare)) return address;
  const lower = bare.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return mapped[1]!;
  // the first four groups of the written-out address
  const [head, tail] = lower.includes('::') ? lower.split('::') as [string, string] : [lower, null];
  const left = head === '' ? [] : head.split(':');
  const right = tail === null || tail === '' ? [] : tail.split(':');
  // an IPv4 tail is two groups
  const groups = left.length + right.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const all = tail === null ? left : [...left, ...Array<string>(8 - groups).fill('0'), ...right];
  return `${all.slice(0, 4).map((g) => (g.includes('.') ? g : String(parseInt(g, 16).toString(16)))).join(':')}::/64`;
}

/** Slots per window (the window is SLOTS slots plus the current one). */
export const SLOTS = 60;

/** How one shared count is asked: the window as slots. */
export interface FailureWindow {
  /** ms, the caller's clock. */
  now: number;
  limit: number;
  slotMs: number;
  slots: number;
}

/** The failure count of every node (distributed mode). */
export interface SharedFailureCount {
  /**
   * One request from `address`: with `fail`, count one failure unless the
   * address is throttled. Answers the ms until the address may try again
   * (0: it may now, and the failure was counted), or null when the count
   * could not be asked (the node then decides by its own count).
   */
  hit(address: string, fail: boolean, w: FailureWindow): Promise<number | null>;
}

export interface AuthThrottleOptions {
  /** Failures per window before an address is refused; 0 = no throttle. */
  limit?: number;
  windowMs?: number;
  /** Addresses never throttled (e.g. loopback, see isLoopbackAddress). */
  exempt?: (address: string) => boolean;
  clock?: TimeSource;
  maxAddresses?: number;
  /** The count shared by every node; null: this node's alone. */
  shared?: SharedFailureCount | null;
  /** How long a request waits for the shared count before deciding by the node's own (ms). */
  sharedTimeoutMs?: number;
}

/** One address's failures: slot numbers (ascending) and the failures in each. */
interface Failures {
  slots: number[];
  counts: number[];
  total: number;
}

export function isLoopbackAddress(a: string): boolean {
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

export class AuthThrottle {
  readonly limit: number;
  readonly windowMs: number;
  /** Width of one slot: windowMs / SLOTS, rounded up (SLOTS slots cover at least the window). */
  readonly slotMs: number;
  readonly #exempt: (address: string) => boolean;
  readonly #clock: TimeSource;
  readonly #max: number;
  readonly #shared: SharedFailureCount | null;
  readonly #sharedTimeoutMs: number;
  readonly #failures = new Map<string, Failures>();

  constructor(opts: AuthThrottleOptions = {}) {
    this.limit = opts.limit ?? 20;
    this.windowMs = opts.windowMs ?? 60_000;
    this.slotMs = Math.max(1, Math.ceil(this.windowMs / SLOTS));
    this.#exempt = opts.exempt ?? (() => false);
    this.#clock = opts.clock ?? systemClock;
    this.#max = opts.maxAddresses ?? 100_000;
    this.#shared = opts.shared ?? null;
    this.#sharedTimeoutMs = opts.sharedTimeoutMs ?? 250;
  }

  /**
   * One request from `address` whose key was right (`ok`) or not: the
   * seconds it must wait (for 429 and Retry-After), or 0 to go on, a failure
   * then counted. Asks the shared count when there is one.
   */
  async admit(address: string, ok: boolean): Promise<number> {
    if (this.limit === 0 || this.#exempt(address)) return 0;
    address = clientKey(address);
    const local = this.retryAfter(address);
    if (local > 0) return local;
    const shared = this.#shared ? await this.#askShared(address, !ok) : null;
    if (shared !== null && shared > 0) return Math.ceil(shared / 1000);
    // decided here alone: the node's count again (requests answered meanwhile may have added to it)
    if (shared === null) {
      const again = this.retryAfter(address);
      if (again > 0) return again;
    }
    if (!ok) this.fail(address);
    return 0;
  }

  /** Seconds this address must wait by this node's own count, or 0 when it may try. */
  retryAfter(address: string): number {
    if (this.limit === 0 || this.#exempt(address)) return 0;
    address = clientKey(address);
    const f = this.#failures.get(address);
    if (!f) return 0;
    const now = this.#clock.now();
    this.#prune(f, now);
    if (f.total === 0) {
      this.#failures.delete(address);
      return 0;
    }
    return Math.ceil(this.#waitMs(f, now) / 1000);
  }

  /** Count one failed authentication from this address (this node's count). */
  fail(address: string): void {
    if (this.limit === 0 || this.#exempt(address)) return;
    address = clientKey(address);
    const now = this.#clock.now();
    const slot = Math.floor(now / this.slotMs);
    let f = this.#failures.get(address);
    if (!f) {
      if (this.#failures.size >= this.#max) this.#sweep(now);
      f = { slots: [], counts: [], total: 0 };
      this.#failures.set(address, f);
    }
    const last = f.slots.length - 1;
    // a clock that stepped back counts in the newest slot
    if (last >= 0 && f.slots[last]! >= slot) f.counts[last]!++;
    else {
      f.slots.push(slot);
      f.counts.push(1);
    }
    f.total++;
  }

  /** Addresses with failures counted (tests, metrics). */
  get size(): number {
    return this.#failures.size;
  }

  /** The oldest slot still in the window at `now`. */
  #first(now: number): number {
    return Math.floor(now / this.slotMs) - SLOTS;
  }

  /** Drop the slots that left the window. */
  #prune(f: Failures, now: number): void {
    const first = this.#first(now);
    let n = 0;
    while (n < f.slots.length && f.slots[n]! < first) f.total -= f.counts[n++]!;
    if (n > 0) {
      f.slots.splice(0, n);
      f.counts.splice(0, n);
    }
  }

  /** ms until fewer than `limit` failures are in the window (0: now); slots pruned. The Lua twin is AUTH_FAILURES_LUA. */
  #waitMs(f: Failures, now: number): number {
    let left = f.total;
    for (let i = 0; i < f.slots.length && left >= this.limit; i++) {
      left -= f.counts[i]!;
      // slot s counts until the slot s + SLOTS ends
      if (left < this.limit) return (f.slots[i]! + SLOTS + 1) * this.slotMs - now;
    }
    return 0;
  }

  async #askShared(address: string, fail: boolean): Promise<number | null> {
    const w: FailureWindow = { now: this.#clock.now(), limit: this.limit, slotMs: this.slotMs, slots: SLOTS };
    return within(this.#shared!.hit(address, fail, w).catch(() => null), this.#sharedTimeoutMs, null);
  }

  #sweep(now: number): void {
    const first = this.#first(now);
    for (const [a, f] of this.#failures) if (f.slots.length === 0 || f.slots[f.slots.length - 1]! < first) this.#failures.delete(a);
    // none expired: forget the oldest (Map order is insertion order)
    if (this.#failures.size >= this.#max) {
      const oldest = this.#failures.keys().next();
      if (!oldest.done) this.#failures.delete(oldest.value);
    }
  }
}
