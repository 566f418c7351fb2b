// What a drain shows its owner (SPEC 6.5): its state, counts and last error,
// and the exact L10 line it sends after a loss. The API, the CLI's JSON,
// metrics and distributed mode read these; drain.ts keeps them up to date.
import { lineFrom, rfc3339 } from '../line.js';
import type { Latency } from './health.js';

/** What a drain is doing (SPEC 6.5 plus `idle`; see docs/drains.md). */
export const DrainState = {
  IDLE: 'idle',
  CONNECTING: 'connecting',
  DELIVERING: 'delivering',
  BACKING_OFF: 'backing off',
  FAILING: 'failing',
} as const;
export type DrainState = (typeof DrainState)[keyof typeof DrainState];
export const DRAIN_STATES: readonly DrainState[] = Object.values(DrainState);

/** A state as a metric label value: no spaces (`backing_off`). */
export function stateLabel(s: DrainState): string {
  return s.replace(' ', '_');
}

export interface DrainError {
  at: number;
  /** HTTP status, when the peer answered. */
  status?: number;
  /** errno-style code (ECONNREFUSED, ETIMEDOUT, CERT_HAS_EXPIRED, EPRIVATE...). */
  errno?: string;
  text: string;
}

export interface DrainStatus {
  state: DrainState;
  /** Lines delivered (2xx, or written to the syslog socket). */
  delivered: number;
  /** Lines dropped: queue overflow, rejected batches, exhausted retries. */
  dropped: number;
  /** Lines held: the queue plus the batch in flight. */
  queueDepth: number;
  lastSuccessAt: number | null;
  lastError: DrainError | null;
  /** When the next attempt is due while backing off; null otherwise. */
  nextRetryAt: number | null;
  /** Ingest to delivery over the last 5 minutes (up to 30 s more: health.ts), ms (SPEC 16); absent in a status written by an older node. */
  latencyMs?: Latency;
  /** Lines dropped in the last hour (SPEC 16); absent in a status written by an older node. */
  dropped1h?: number;
}

/** `Error L10 (output buffer overflow)` as a platform line (source heroku, dyno logplex). */
export function lossLine(n: number, sinceMs: number, nowMs: number): Buffer {
  return lineFrom({
    pri: 172,
    ts: rfc3339(nowMs),
    source: 'heroku',
    dyno: 'logplex',
    msg: `Error L10 (output buffer overflow): ${n} messages dropped since ${rfc3339(sinceMs)}.`,
    receivedMs: nowMs,
  });
}
