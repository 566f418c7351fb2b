// Prometheus text metrics with small fixed label sets (never app ids).
// Hot paths hold a pre-resolved child and do `child.value += n`.
import { monitorEventLoopDelay } from 'node:perf_hooks';

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
  readonly #children = new Map<string, { labels: readonly string[]; child: Child }>();
  /** For gauges computed at scrape time. */
  collect: (() => void) | null = null;

  constructor(name: string, help: string, kind: Kind, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.labelNames = labelNames;
  }
  /** The child for these label values (same order as labelNames). */
  labels(...values: string[]): Child {
    const key = values.join('\u0000');
    let c = this.#children.get(key);
    if (!c) {
      c = { labels: values, child: new Child() };
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
  render(out: string[]): void {
    this.collect?.();
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.kind}`);
    for (const { labels, child } of this.#children.values()) {
      const l = labels.length ? `{${labels.map((v, i) => `${this.labelNames[i]}="${escapeLabel(v)}"`).join(',')}}` : '';
      out.push(`${this.name}${l} ${Number.isFinite(child.value) ? child.value : 0}`);
    }
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export class Registry {
  readonly #metrics = new Map<string, Metric>();
  counter(name: string, help: string, labelNames: readonly string[] = []): Metric {
    return this.#add(new Metric(name, help, 'counter', labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Metric {
    return this.#add(new Metric(name, help, 'gauge', labelNames));
  }
  get(name: string): Metric | undefined {
    return this.#metrics.get(name);
  }
  #add(m: Metric): Metric {
    const old = this.#metrics.get(m.name);
    if (old) return old;
    this.#metrics.set(m.name, m);
    return m;
  }
  render(): string {
    const out: string[] = [];
    for (const m of this.#metrics.values()) m.render(out);
    return `${out.join('\n')}\n`;
  }
}

/** The metrics every node exposes; components register more on the same registry. */
export function createMetrics() {
  const registry = new Registry();
  const m = {
    registry,
    ingestLines: registry.counter('logplane_ingest_lines_total', 'Lines accepted after cooking, by transport.', ['transport']),
    ingestBytes: registry.counter('logplane_ingest_bytes_total', 'Bytes of accepted frames, by transport.', ['transport']),
    ingestDropped: registry.counter('logplane_ingest_dropped_total', 'Input rejected or dropped, by transport and reason.', ['transport', 'reason']),
    ingestRequests: registry.counter('logplane_ingest_requests_total', 'HTTP ingest requests by status code.', ['code']),
    connections: registry.gauge('logplane_ingest_connections', 'Open syslog connections, by transport.', ['transport']),
    connectionsClosed: registry.counter('logplane_ingest_connections_closed_total', 'Syslog connections closed by us, by reason.', ['transport', 'reason']),
    apps: registry.gauge('logplane_apps', 'Apps (channels) known to this node.'),
    ringLines: registry.gauge('logplane_ring_lines', 'Lines held in all rings.'),
    ringBytes: registry.gauge('logplane_ring_bytes', 'Bytes of lines held in all rings.'),
    ringMemoryBytes: registry.gauge('logplane_ring_memory_bytes', 'Memory held by all rings (slabs and offsets).'),
    eventLoopLag: registry.gauge('logplane_event_loop_lag_seconds', 'Event-loop delay, p99 over the last scrape interval.'),
    apiRequests: registry.counter('logplane_api_requests_total', 'API requests by status code class.', ['code']),
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
