// The drains' metrics (docs/drains.md): pre-resolved children per drain kind
// for the hot paths, the budget gauges, and the latency histogram.
import type { Context } from '../context.js';
import { LATENCY_METRIC_BOUNDS } from './health.js';
import type { DrainCounters } from './options.js';
import { DrainKind, kindLabel } from './url.js';

export const KINDS = Object.values(DrainKind);

export function createDrainMetrics(ctx: Context) {
  const r = ctx.metrics.registry;
  const delivered = r.counter('logplane_drain_lines_delivered_total', 'Lines delivered to drains, by drain kind.', ['kind']);
  const dropped = r.counter('logplane_drain_lines_dropped_total', 'Lines dropped by drains, by kind and reason (overflow, rejected, retries, stop).', ['kind', 'reason']);
  const attempts = r.counter('logplane_drain_attempts_total', 'Delivery attempts (batches) by kind and outcome (ok, retry, drop).', ['kind', 'outcome']);
  const seconds = r.counter('logplane_drain_attempt_seconds_total', 'Time spent in delivery attempts, by kind (divided by logplane_drain_attempts_total: mean latency).', ['kind']);
  const drains = r.gauge('logplane_drains', 'Drains by kind and state (idle, connecting, delivering, backing_off, failing).', ['kind', 'state']);
  const queued = r.gauge('logplane_drain_queue_lines', 'Lines held by drains (queue plus batch in flight), by kind.', ['kind']);
  const queuedBytes = r.gauge('logplane_drain_queue_bytes', 'Bytes of lines queued by all drains (what counts against the drain budget; batches in flight not included).');
  const budget = r.gauge('logplane_drain_budget_bytes', 'Node-wide drain memory budget: bytes all drain queues may hold together.');
  const share = r.gauge('logplane_drain_share_bytes', 'Bytes each drain is guaranteed within the budget: min(per-drain cap, budget / drains).');
  const latency = r.countedHistogram('logplane_drain_latency_seconds', 'Seconds from a line\'s ingest to its delivery (2xx, or written to the syslog socket), per line, by drain kind; replayed lines not counted.', ['kind'], LATENCY_METRIC_BOUNDS);
  const borrowed = r.gauge('logplane_drain_borrowed_bytes', 'Bytes healthy drains hold beyond their per-drain cap, borrowed from the budget\'s free room for a burst.');
  const reclaims = r.counter('logplane_drain_budget_reclaims_total', 'Times drains over their share gave memory back because the budget was full.');
  const counters = new Map<DrainKind, DrainCounters>();
  for (const k of KINDS) {
    const l = kindLabel(k);
    counters.set(k, {
      delivered: delivered.labels(l),
      droppedOverflow: dropped.labels(l, 'overflow'),
      droppedRejected: dropped.labels(l, 'rejected'),
      droppedRetries: dropped.labels(l, 'retries'),
      droppedStop: dropped.labels(l, 'stop'),
      attemptsOk: attempts.labels(l, 'ok'),
      attemptsRetry: attempts.labels(l, 'retry'),
      attemptsDrop: attempts.labels(l, 'drop'),
      latencySum: seconds.labels(l),
      delivery: ctx.metrics.drainDelivery.labels(l),
      latency: latency.labels(l),
    });
  }
  return { counters, drains, queued, queuedBytes, budget, share, borrowed, reclaims };
}

export type DrainMetrics = ReturnType<typeof createDrainMetrics>;
