// The metrics of the per-tick Redis batch (history.ts), and the latency
// samples behind its pipeline round-trip percentiles.
import type { Child, Metric, Registry as MetricRegistry } from '../obs/metrics.js';

/** Last N samples, for percentiles at scrape time. */
export class Samples {
  readonly #v = new Float64Array(1024);
  #n = 0;
  add(x: number): void {
    this.#v[this.#n++ % this.#v.length] = x;
  }
  /** [p50, p99, max] of the samples since the last take, then reset. */
  take(): [number, number, number] {
    const n = Math.min(this.#n, this.#v.length);
    if (n === 0) return [0, 0, 0];
    const s = this.#v.slice(0, n).sort();
    this.#n = 0;
    return [s[Math.floor((n - 1) * 0.5)]!, s[Math.floor((n - 1) * 0.99)]!, s[n - 1]!];
  }
}

export interface HistoryMetrics {
  up: Metric;
  pipelinesOk: Child;
  pipelinesErr: Child;
  seconds: Child;
  written: Child;
  /** Chunks written, by who published their blob (node, redis, none). */
  published: Record<'node' | 'redis' | 'none', Child>;
  droppedOverflow: Child;
  droppedRejected: Child;
  /** Lines written, then lost by Redis with its last writes (the append began a new epoch of the app's stream: redis/scripts.ts, EPOCH_LUA). */
  droppedRewound: Child;
  /** Lines of an app deleted before they were written (the append found no config key and discarded them). */
  droppedAppDeleted: Child;
  /** Lines still unwritten when the node stopped (counted at the stop; their loss is saved for the next start: cluster/unwritten.ts). */
  droppedStop: Child;
  failures: Child;
  pending: Metric;
  latency: Metric;
}

/** Register the batch's metrics; the gauges read `up` and `pending` at scrape time. */
export function historyMetrics(r: MetricRegistry, latency: Samples, up: () => boolean, pending: () => number): HistoryMetrics {
  const pipelines = r.counter('logplane_redis_pipelines_total', 'Redis pipelines of the line batch, by outcome (ok, error).', ['outcome']);
  const dropped = r.counter('logplane_redis_lines_dropped_total', 'Lines that could not be written to Redis, by reason (overflow: queue full while Redis was down; rejected: refused by Redis; app_deleted: their app was deleted before they were written; rewound: written, then lost by Redis with its last writes, a failover to a replica that lagged or a restart; stop: still unwritten when the node stopped).', ['reason']);
  const chunks = r.counter('logplane_redis_chunks_total', 'Chunks of lines appended to the Redis history (one per app and round), by who published them to the nodes following the app: node (this node, with the append), redis (the append script, for a follower that had just come), none (nobody followed the app).', ['published']);
  const m: HistoryMetrics = {
    up: r.gauge('logplane_redis_up', 'Whether this node can write to Redis (1) or not (0).'),
    pipelinesOk: pipelines.labels('ok'),
    pipelinesErr: pipelines.labels('error'),
    seconds: r.counter('logplane_redis_pipeline_seconds_total', 'Time spent in line-batch pipelines (divide by logplane_redis_pipelines_total for the mean round trip).').labels(),
    written: r.counter('logplane_redis_lines_written_total', 'Lines written to the Redis history.').labels(),
    published: { node: chunks.labels('node'), redis: chunks.labels('redis'), none: chunks.labels('none') },
    droppedOverflow: dropped.labels('overflow'),
    droppedRejected: dropped.labels('rejected'),
    droppedRewound: dropped.labels('rewound'),
    droppedAppDeleted: dropped.labels('app_deleted'),
    droppedStop: dropped.labels('stop'),
    failures: r.counter('logplane_redis_write_failures_total', 'Times writing to Redis failed: connection lost (pipeline failed or connection closed; lines are queued) or an append refused.').labels(),
    pending: r.gauge('logplane_redis_pending_lines', 'Lines waiting to be written to Redis.'),
    latency: r.gauge('logplane_redis_pipeline_seconds', 'Round trip of line-batch pipelines since the last scrape: p50, p99, max.', ['stat']),
  };
  m.up.collect = () => m.up.set(up() ? 1 : 0);
  m.pending.collect = () => m.pending.set(pending());
  m.latency.collect = () => {
    const [p50, p99, max] = latency.take();
    m.latency.set(p50, 'p50');
    m.latency.set(p99, 'p99');
    m.latency.set(max, 'max');
  };
  return m;
}
