// Prometheus metrics with small fixed label sets (never app ids), rendered by
// prom-client. Hot paths hold a pre-resolved child and do `child.value += n`
// (a plain number: no hashing, no call); each counter and gauge is backed by a
// prom-client metric whose collect() copies the children's values at scrape
// time. Histograms are prom-client's own (observed per batch, not per line).
// docs/operations.md has the measured costs behind this split.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram as PromHistogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';

export class Child {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

type Kind = 'counter' | 'gauge';

export class Metric {
  readonly name: string;
  readonly help: string;
  readonly kind: Kind;
  readonly labelNames: readonly string[];
  readonly #children = new Map<string, { labels: Record<string, string>; child: Child }>();
  /** For values computed at scrape time: runs before the children are read. */
  collect: (() => void) | null = null;

  constructor(name: string, help: string, kind: Kind, labelNames: readonly string[], prom: PromRegistry) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.labelNames = labelNames;
    const self = this;
    const config = { name, help, labelNames: [...labelNames], registers: [prom] };
    if (kind === 'counter') {
      new Counter({
        ...config,
        collect() {
          self.collect?.();
          this.reset();
          // a counter never goes down; a non-number reads as 0
          for (const { labels, child } of self.#children.values()) this.inc(labels, Number.isFinite(child.value) && child.value > 0 ? child.value : 0);
        },
      });
    } else {
      new Gauge({
        ...config,
        collect() {
          self.collect?.();
          this.reset();
          for (const { labels, child } of self.#children.values()) this.set(labels, Number.isFinite(child.value) ? child.value : 0);
        },
      });
    }
  }
  /** The child for these label values (same order as labelNames). */
  labels(...values: string[]): Child {
    const key = values.join('\u0000');
    let c = this.#children.get(key);
    if (!c) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ''));
      c = { labels, child: new Child() };
      this.#children.set(key, c);
    }
    return c.child;
  }
  inc(n = 1): void {
    this.labels().inc(n);
  }
  set(v: number, ...values: string[]): void {
    this.labels(...values).value = v;
  }
  get(...values: string[]): number {
    return this.#children.get(values.join('\u0000'))?.child.value ?? 0;
  }
}

/** One label set of a histogram. */
export interface HistogramChild {
  observe(value: number): void;
}

export class Histogram {
  readonly name: string;
  readonly labelNames: readonly string[];
  readonly #prom: PromHistogram<string>;
  readonly #children = new Map<string, HistogramChild>();

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[], prom: PromRegistry) {
    this.name = name;
    this.labelNames = labelNames;
    this.#prom = new PromHistogram({ name, help, labelNames: [...labelNames], buckets: [...buckets], registers: [prom] });
  }
  /** The child for these label values (same order as labelNames); its series show from the first scrape on. */
  labels(...values: string[]): HistogramChild {
    const key = values.join('\u0000');
    let c = this.#children.get(key);
    if (!c) {
      c = this.#prom.labels(...values);
      this.#prom.zero(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i] ?? ''])));
      this.#children.set(key, c);
    }
    return c;
  }
}

/** One label set of a CountedHistogram: observations counted straight into an array. */
export interface CountedChild {
  /** Observations per bucket (not cumulative): counts[i] for bounds[i-1] < v <= bounds[i]; the last is +Inf. */
  readonly counts: Float64Array;
  /** Sum of the observed values. */
  sum: number;
}

/**
 * A histogram for per-line observations on a hot path: the caller finds the
 * bucket itself and does `counts[i]++; sum += v` (no call, no search per
 * observation); rendered as a Prometheus histogram at scrape time.
 */
export class CountedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly bounds: readonly number[];
  readonly #labelNames: readonly string[];
  readonly #children = new Map<string, { labels: Record<string, string>; child: CountedChild }>();

  constructor(name: string, help: string, labelNames: readonly string[], bounds: readonly number[], prom: PromRegistry) {
    this.name = name;
    this.help = help;
    this.#labelNames = labelNames;
    this.bounds = bounds;
    prom.registerMetric(this as unknown as Parameters<PromRegistry['registerMetric']>[0]);
  }
  labels(...values: string[]): CountedChild {
    const key = values.join('\u0000');
    let c = this.#children.get(key);
    if (!c) {
      const labels: Record<string, string> = {};
      this.#labelNames.forEach((n, i) => (labels[n] = values[i] ?? ''));
      c = { labels, child: { counts: new Float64Array(this.bounds.length + 1), sum: 0 } };
      this.#children.set(key, c);
    }
    return c.child;
  }
  /** prom-client's metric interface: the series at scrape time. */
  get() {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const { labels, child } of this.#children.values()) {
      let n = 0;
      this.bounds.forEach((b, i) => {
        n += child.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: b }, value: n });
      });
      n += child.counts[this.bounds.length]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: n });
      values.push({ metricName: `${this.name}_sum`, labels, value: child.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: n });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }
  reset(): void {}
}

/**
 * prom-client's default metrics that are gauges named `_total` (a counter's
 * suffix: `promtool check metrics` rejects them); each is the sum of the
 * labelled gauge of the same name without `_total`, which stays.
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The process and Node.js metrics (process_*, nodejs_*, unprefixed), one set per process. */
let processRegistry: PromRegistry | null = null;
function defaultMetrics(): PromRegistry {
  if (!processRegistry) {
    processRegistry = new PromRegistry();
    collectDefaultMetrics({ register: processRegistry });
    for (const name of MISNAMED_DEFAULTS) processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}

export class Registry {
  readonly #prom = new PromRegistry();
  readonly #metrics = new Map<string, Metric | Histogram>();
  readonly #counted = new Map<string, CountedHistogram>();
  readonly #process: PromRegistry | null;

  /** `processMetrics`: also render prom-client's default process and Node.js metrics. */
  constructor(opts: { processMetrics?: boolean } = {}) {
    this.#process = opts.processMetrics ? defaultMetrics() : null;
  }
  counter(name: string, help: string, labelNames: readonly string[] = []): Metric {
    return this.#add(name, () => new Metric(name, help, 'counter', labelNames, this.#prom)) as Metric;
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Metric {
    return this.#add(name, () => new Metric(name, help, 'gauge', labelNames, this.#prom)) as Metric;
  }
  /** `buckets`: upper bounds, ascending (prom-client adds +Inf). */
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.#add(name, () => new Histogram(name, help, labelNames, buckets, this.#prom)) as Histogram;
  }
  /** A histogram counted into arrays by its users (see CountedHistogram); `bounds` ascending, +Inf added. */
  countedHistogram(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]): CountedHistogram {
    const old = this.#counted.get(name);
    if (old) return old;
    const h = new CountedHistogram(name, help, labelNames, bounds, this.#prom);
    this.#counted.set(name, h);
    return h;
  }
  get(name: string): Metric | undefined {
    const m = this.#metrics.get(name);
    return m instanceof Metric ? m : undefined;
  }
  #add(name: string, make: () => Metric | Histogram): Metric | Histogram {
    const old = this.#metrics.get(name);
    if (old) return old;
    const m = make();
    this.#metrics.set(name, m);
    return m;
  }
  /** The Prometheus text exposition (version 0.0.4). */
  async render(): Promise<string> {
    const own = await this.#prom.metrics();
    return this.#process ? `${own}\n${await this.#process.metrics()}` : own;
  }
}

/** Upper bounds of the drain delivery histogram, in seconds. */
export const DELIVERY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** The metrics every node exposes; components register more on the same registry. */
export function createMetrics() {
  const registry = new Registry({ processMetrics: true });
  const m = {
    registry,
    ingestLines: registry.counter('logplane_ingest_lines_total', 'Lines accepted after cooking, by transport.', ['transport']),
    ingestBytes: registry.counter('logplane_ingest_bytes_total', 'Bytes of accepted frames, by transport.', ['transport']),
    ingestDropped: registry.counter('logplane_ingest_dropped_total', 'Input rejected or dropped, by transport and reason.', ['transport', 'reason']),
    ingestRequests: registry.counter('logplane_ingest_requests_total', 'HTTP ingest requests by status code.', ['code']),
    connections: registry.gauge('logplane_ingest_connections', 'Open syslog connections, by transport.', ['transport']),
    connectionsClosed: registry.counter('logplane_ingest_connections_closed_total', 'Syslog connections closed by us, by reason.', ['transport', 'reason']),
    connectionsOpen: registry.gauge('logplane_connections_open', 'Open client connections, by listener (tcp, tls, http).', ['listener']),
    connectionsRefused: registry.counter('logplane_connections_refused_total', 'Connections refused at accept, by listener and the limit they were over.', ['listener', 'reason']),
    connectionsTimedOut: registry.counter('logplane_connections_timed_out_total', 'Connections closed by an idle or request timeout, by listener and timeout.', ['listener', 'timeout']),
    connectionBudget: registry.gauge('logplane_connection_budget', 'Connections all listeners together may hold (from the open-file limit).'),
    fdLimit: registry.gauge('logplane_fd_limit', 'The process open-file limit read at start, soft and hard.', ['kind']),
    udpKernelDrops: registry.counter('logplane_ingest_udp_kernel_dropped_total', 'Syslog UDP datagrams the kernel dropped before logplane read them (receive buffer full), from /proc/net/udp.'),
    apps: registry.gauge('logplane_apps', 'Apps (channels) known to this node.'),
    ringLines: registry.gauge('logplane_ring_lines', 'Lines held in all rings.'),
    ringBytes: registry.gauge('logplane_ring_bytes', 'Bytes of lines held in all rings.'),
    ringMemoryBytes: registry.gauge('logplane_ring_memory_bytes', 'Memory held by all rings (slabs and offsets).'),
    eventLoopLag: registry.gauge('logplane_event_loop_lag_seconds', 'Event-loop delay, p99 over the last scrape interval.'),
    apiRequests: registry.counter('logplane_api_requests_total', 'API requests by status code class.', ['code']),
    drainDelivery: registry.histogram('logplane_drain_delivery_seconds', 'Time from sending a drain batch to its acknowledgement (2xx, or written to the syslog socket), by drain kind.', ['kind'], DELIVERY_BUCKETS),
  };
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  m.eventLoopLag.collect = () => {
    m.eventLoopLag.set(h.percentile(99) / 1e9);
    h.reset();
  };
  return m;
}
export type Metrics = ReturnType<typeof createMetrics>;
