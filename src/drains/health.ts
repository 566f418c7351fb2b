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

const MINUTE = 60_000;
/** The latency window: 5 one-minute slots (the current minute and the 4 before it). */
const LATENCY_SLOTS = 5;
/** The drop window: 60 one-minute slots. */
const DROP_SLOTS = 60;

/** Latency p50/p99 over the last 5 minutes, in ms (upper bounds of their buckets); null without deliveries. */
export interface Latency {
  p50: number | null;
  p99: number | null;
}

/**
 * Per-drain latency histogram over a sliding 5-minute window, plus the
 * node-wide metric child it also counts into.
 */
export class LatencyWindow {
  readonly #counts = new Uint32Array(LATENCY_SLOTS * LATENCY_BUCKETS);
  /** The minute each slot holds. */
  readonly #minute = new Float64Array(LATENCY_SLOTS).fill(-1);
  #slot = 0;
  readonly #metric: CountedChild | null;

  constructor(metric: CountedChild | null) {
    this.#metric = metric;
  }

  /** Point at the slot of `now` (clearing it if it held an older minute); once per batch. */
  at(now: number): void {
    const minute = Math.floor(now / MINUTE);
    const s = minute % LATENCY_SLOTS;
    if (this.#minute[s] !== minute) {
      this.#minute[s] = minute;
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

  /** p50 and p99 of the lines delivered in the last 5 minutes. */
  latency(now: number): Latency {
    const minute = Math.floor(now / MINUTE);
    const sum = new Float64Array(LATENCY_BUCKETS);
    let total = 0;
    for (let s = 0; s < LATENCY_SLOTS; s++) {
      const m = this.#minute[s]!;
      if (m < 0 || minute - m >= LATENCY_SLOTS || m > minute) continue;
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

/** Lines dropped per minute over the last hour. */
export class DropWindow {
  readonly #counts = new Float64Array(DROP_SLOTS);
  readonly #minute = new Float64Array(DROP_SLOTS).fill(-1);

  add(n: number, now: number): void {
    const minute = Math.floor(now / MINUTE);
    const s = minute % DROP_SLOTS;
    if (this.#minute[s] !== minute) {
      this.#minute[s] = minute;
      this.#counts[s] = 0;
    }
    this.#counts[s] = this.#counts[s]! + n;
  }

  /** Lines dropped in the last 60 minutes (this one included). */
  lastHour(now: number): number {
    const minute = Math.floor(now / MINUTE);
    let n = 0;
    for (let s = 0; s < DROP_SLOTS; s++) {
      const m = this.#minute[s]!;
      if (m >= 0 && m <= minute && minute - m < DROP_SLOTS) n += this.#counts[s]!;
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

  constructor(metric: CountedChild | null) {
    this.window = new LatencyWindow(metric);
  }

  /**
   * Lines at queue positions [from, to) are replayed. `left`: the position
   * of the next line to leave the queue (a replay still queued keeps its start).
   */
  replayed(from: number, to: number, left: number): void {
    if (left >= this.#replayTo) this.#replayFrom = from;
    this.#replayTo = to;
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
