// What a drain is made with and what it sends: its options, the metric
// children it updates, and one batch as it goes over the wire. drain.ts runs
// the queue and sender loop over these; https.ts and syslog.ts deliver batches.
import type { Clock } from '../basics/clock.js';
import type { LineFilter } from '../line-filter.js';
import type { Log } from '../obs/log.js';
import { Child, type CountedChild, type HistogramChild } from '../obs/metrics.js';
import type { DrainBudget } from './budget.js';
import type { Lookup } from './guard.js';
import type { LatencyWindow } from './health.js';
import type { LossLedger } from './loss.js';
import type { DrainError } from './status.js';
import type { DrainTarget } from './url.js';

/** Batches close at about this many bytes (SPEC 6.3). */
export const BATCH_BYTES = 100 * 1024;

/** Pre-resolved metric children for one drain kind (see manager.ts). */
export interface DrainCounters {
  delivered: Child;
  droppedOverflow: Child;
  droppedRejected: Child;
  droppedRetries: Child;
  /** Lines a drain held, or owed an L10 line, when the server stopped; counted when the next start announces them. */
  droppedStop: Child;
  attemptsOk: Child;
  attemptsRetry: Child;
  attemptsDrop: Child;
  latencySum: Child;
  /** Seconds from sending a batch to its acknowledgement (delivered batches only). */
  delivery?: HistogramChild;
  /** Seconds from a line's ingest to its delivery, per line (`logplane_drain_latency_seconds`). */
  latency?: CountedChild;
}
export function noCounters(): DrainCounters {
  return {
    delivered: new Child(), droppedOverflow: new Child(), droppedRejected: new Child(), droppedRetries: new Child(), droppedStop: new Child(),
    attemptsOk: new Child(), attemptsRetry: new Child(), attemptsDrop: new Child(), latencySum: new Child(),
  };
}

export interface DrainOptions {
  /** uuid4 of the drain record. */
  id: string;
  /** `d.<uuid4>`. */
  token: string;
  target: DrainTarget;
  /**
   * Bytes of lines (cooked, as route() offers them) the queue may hold
   * before the oldest are dropped; a single larger line is kept alone.
   */
  queueBytes: number;
  /**
   * Bytes the queue may hold while the drain is healthy, borrowing beyond
   * queueBytes from the budget's free room (a burst); queueBytes when absent.
   */
  burstBytes?: number;
  /** The node-wide budget shared by every drain; one of its own when absent. */
  budget?: DrainBudget;
  /** Retries of a batch after its first attempt. */
  retries: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  allowPrivate: boolean;
  /** Batch size limit in bytes (default BATCH_BYTES). */
  batchBytes?: number;
  clock?: Clock;
  random?: () => number;
  /** DNS lookup used before the guard (tests inject names). */
  lookup?: Lookup;
  /** Extra trusted CA certificates (tests); the system store otherwise. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Only lines it matches are queued (SPEC 16); null or absent: every line. */
  filter?: LineFilter | null;
  /** Route a platform line (L14) into the drain's app. */
  emit?: (rec: Buffer) => void;
  counters?: DrainCounters;
  log?: Log;
  /** What the drain this one replaces (a URL change) handed over: Drain#handOver(). */
  handOver?: DrainHandOver;
}

/**
 * What a drain hands to the drain replacing it (a URL change): the lines it
 * held, its loss ledger (so the first batch to the new URL reports exactly
 * what was lost before), its latency window and its health. Nothing else is
 * kept: the new URL gets a fresh retry count and burst allowance.
 */
export interface DrainHandOver {
  /** Lines held, oldest first: the batch in hand (without its L10 line), then the queue. */
  readonly lines: readonly Buffer[];
  /** lines[from, to) were replayed (not latency samples). */
  readonly replayed: readonly [from: number, to: number];
  /** A replay's notice still among `lines`: its index, and what it announces. */
  readonly notice: { readonly at: number; readonly missing: number; readonly sinceMs: number } | null;
  readonly loss: LossLedger;
  readonly latency: LatencyWindow;
  readonly failing: boolean;
  readonly lastSuccessMs: number;
  readonly lastError: DrainError | null;
}

/** One batch: encoded once, sent (and retried) as is. */
export interface Batch {
  /** Queue lines in the body (the L10 line is not one of them). */
  readonly lines: number;
  /** N of the L10 line at the head of the body; 0 when none. */
  readonly reported: number;
  /** Frames in the body (lines + the L10 line). */
  readonly msgCount: number;
  /** The encoded frames. */
  readonly body: Buffer;
  /**
   * What every attempt writes: head() then the body, in one Buffer (body is
   * a view into it). The same as body when the drain sends no head.
   */
  readonly wire: Buffer;
  /** 32 uppercase hex: the same on every attempt of this batch. */
  readonly frameId: string;
  attempts: number;
}
