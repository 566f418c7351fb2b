// A drain's health in numbers (SPEC 16): latency from ingest to the
// consumer's 2xx (or the syslog write) as p50/p99 over the last 5 minutes,
// and the lines dropped in the last hour. Fixed arrays per drain, allocated
// once: delivering a line costs a subtraction, a bucket index from integer
// arithmetic and two array increments; no allocation, no search.
import type { CountedChild } from '../obs/metrics.js';

// Latency buckets, in whole milliseconds: 0, 1, 2, 3 exactly, then four
// buckets per power of two (each at most 25% wide) up to 2^22 ms (70 min);
// longer latencies share the last bucket.
const TOP_EXP = 21;
/** Number of latency buckets. */
export const LATENCY_BUCKETS = 4 + (TOP_EXP - 1) * 4;

/** The bucket of a latency of `ms` milliseconds. */
export function latencyBucket(ms: number): number {
  const v = ms > 0 ? Math.floor(ms) : 0;
  if (v < 4) return v;
  const e = 31 - Math.clz32(v);
  if (e > TOP_EXP) return LATENCY_BUCKETS - 1;
  return 4 + (e - 2) * 4 + ((v >>> (e - 2)) & 3);
}

/** Upper bound (exclusive) of a bucket, in ms. */
export function bucketUpperMs(i: number): number {
  if (i < 4) return i + 1;
  const e = 2 + ((i - 4) >> 2);
  return (5 + ((i - 4) & 3)) * 2 ** (e - 2);
}

/** `logplane_drain_latency_seconds` bounds: every power of two from 1 ms to 262 s (bucket edges above, so the map is exact). */
export const LATENCY_METRIC_BOUNDS: readonly number[] = Array.from({ length: 19 }, (_, k) => 2 ** k / 1000);

/** For each latency bucket, its bucket in the metric. */
const TO_METRIC = (() => {
  const m = new Uint8Array(LATENCY_BUCKETS);
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const up = bucketUpperMs(i) / 1000;
    let k = 0;
    while (k < LATENCY_METRIC_BOUNDS.length && LATENCY_METRIC_BOUNDS[k]! < up) k++;
    m[i] = i === LATENCY_BUCKETS - 1 ? LATENCY_METRIC_BOUNDS.length : k;
  }
  return m;
})();

// The windows are rings of fixed slots. A slot is counted whole while any of
// it lies in the window, so the ring holds the window's slots plus the one
// its start falls in: a sample counts for at least the whole window and less
// than the window plus one slot (docs/drains.md says so).
/** Latency window (SPEC 16): 5 minutes. */
export const LATENCY_WINDOW_MS = 5 * 60_000;
/** Latency slot: 30 s (11 slots of LATENCY_BUCKETS 32-bit counts, about 3.7 KB per drain). */
export const LATENCY_SLOT_MS = 30_000;
const LATENCY_SLOTS = LATENCY_WINDOW_MS / LATENCY_SLOT_MS + 1;
/** Drop window (SPEC 16): 1 hour. */
export const DROP_WINDOW_MS = 60 * 60_000;
/** Drop slot: 1 minute (61 counters). */
export const DROP_SLOT_MS = 60_000;
const DROP_SLOTS = DROP_WINDOW_MS / DROP_SLOT_MS + 1;

/** Latency p50/p99 over the last 5 minutes, in ms (upper bounds of their buckets); null without deliveries. */
export interface Latency {
  p50: number | null;
  p99: number | null;
}

/**
 * Per-drain latency histogram over a sliding 5-minute window (at least 5
 * minutes, less than 5 min 30 s: see above), plus the node-wide metric child
 * it also counts into.
 */
export class LatencyWindow {
  readonly #counts = new Uint32Array(LATENCY_SLOTS * LATENCY_BUCKETS);
  /** The slot number (time / LATENCY_SLOT_MS) each slot holds. */
  readonly #held = new Float64Array(LATENCY_SLOTS).fill(-1);
  #slot = 0;
  readonly #metric: CountedChild | null;

  constructor(metric: CountedChild | null) {
    this.#metric = metric;
  }

  /** Point at the slot of `now` (clearing it if it held an older one); once per batch. */
  at(now: number): void {
    const k = Math.floor(now / LATENCY_SLOT_MS);
    const s = k % LATENCY_SLOTS;
    if (this.#held[s] !== k) {
      this.#held[s] = k;
      this.#counts.fill(0, s * LATENCY_BUCKETS, (s + 1) * LATENCY_BUCKETS);
    }
    this.#slot = s * LATENCY_BUCKETS;
  }

  /** One line delivered `ms` after it was received (after at()). */
  observe(ms: number): void {
    const i = latencyBucket(ms);
    this.#counts[this.#slot + i]!++;
    const m = this.#metric;
    if (m !== null) {
      m.counts[TO_METRIC[i]!]!++;
      m.sum += ms / 1000;
    }
  }

  /** p50 and p99 of the lines delivered in the last 5 minutes (and up to 30 s more). */
  latency(now: number): Latency {
    const cur = Math.floor(now / LATENCY_SLOT_MS);
    const sum = new Float64Array(LATENCY_BUCKETS);
    let total = 0;
    for (let s = 0; s < LATENCY_SLOTS; s++) {
      const k = this.#held[s]!;
      if (k < 0 || cur - k >= LATENCY_SLOTS || k > cur) continue;
      for (let i = 0; i < LATENCY_BUCKETS; i++) {
        const c = this.#counts[s * LATENCY_BUCKETS + i]!;
        sum[i] = sum[i]! + c;
        total += c;
      }
    }
    if (total === 0) return { p50: null, p99: null };
    return { p50: quantile(sum, total, 0.5), p99: quantile(sum, total, 0.99) };
  }
}

function quantile(counts: Float64Array, total: number, q: number): number {
  const rank = Math.ceil(q * total);
  let n = 0;
  for (let i = 0; i < counts.length; i++) {
    n += counts[i]!;
    if (n >= rank) return bucketUpperMs(i);
  }
  return bucketUpperMs(counts.length - 1);
}

/** Lines dropped per minute over the last hour (at least 60 minutes, less than 61: see above). */
export class DropWindow {
  readonly #counts = new Float64Array(DROP_SLOTS);
  /** The slot number (time / DROP_SLOT_MS) each slot holds. */
  readonly #held = new Float64Array(DROP_SLOTS).fill(-1);

  add(n: number, now: number): void {
    const k = Math.floor(now / DROP_SLOT_MS);
    const s = k % DROP_SLOTS;
    if (this.#held[s] !== k) {
      this.#held[s] = k;
      this.#counts[s] = 0;
    }
    this.#counts[s] = this.#counts[s]! + n;
  }

  /** Lines dropped in the last 60 minutes (and up to one minute more). */
  lastHour(now: number): number {
    const cur = Math.floor(now / DROP_SLOT_MS);
    let n = 0;
    for (let s = 0; s < DROP_SLOTS; s++) {
      const k = this.#held[s]!;
      if (k >= 0 && k <= cur && cur - k < DROP_SLOTS) n += this.#counts[s]!;
    }
    return n;
  }
}

/**
 * The received times of the lines of the batch being sent (NaN for a line
 * not measured: a replayed one), turned into latency samples when the batch
 * is delivered. One per drain, reused for every batch.
 */
export class BatchLatency {
  #recv = new Float64Array(256);
  readonly window: LatencyWindow;
  /** Queue positions [from, to) hold replayed lines: not measured. */
  #replayFrom = 0;
  #replayTo = 0;

  /** `window`: the one a replaced drain handed over (a URL change), else a new one. */
  constructor(metric: CountedChild | null, window?: LatencyWindow) {
    this.window = window ?? new LatencyWindow(metric);
  }

  /**
   * Lines at queue positions [from, to) are replayed. `left`: the position
   * of the next line to leave the queue (a replay still queued keeps its start).
   */
  replayed(from: number, to: number, left: number): void {
    if (left >= this.#replayTo) this.#replayFrom = from;
    this.#replayTo = to;
  }

  /** Lines of the last replay are at or after queue position `held` (the oldest line still held). */
  replayQueued(held: number): boolean {
    // a replay that queued nothing leaves an empty range
    return this.#replayFrom < this.#replayTo && held < this.#replayTo;
  }

  /** The replayed positions among [start, end), as offsets from start ([0, 0] when none). */
  replayedIn(start: number, end: number): [number, number] {
    const from = Math.max(this.#replayFrom, start);
    const to = Math.min(this.#replayTo, end);
    return to > from ? [from - start, to - start] : [0, 0];
  }

  /** Line i of the batch being built, at queue position `pos`, was received at `receivedMs`. */
  note(i: number, pos: number, receivedMs: number): void {
    if (pos >= this.#replayFrom && pos < this.#replayTo) receivedMs = NaN;
    if (i >= this.#recv.length) {
      const bigger = new Float64Array(this.#recv.length * 2);
      bigger.set(this.#recv);
      this.#recv = bigger;
    }
    this.#recv[i] = receivedMs;
  }

  /** The batch's first `lines` lines were delivered at `now`. */
  delivered(lines: number, now: number): void {
    const w = this.window;
    const r = this.#recv;
    w.at(now);
    for (let i = 0; i < lines; i++) {
      const t = r[i]!;
      if (t === t) w.observe(now - t);
    }
  }
}
