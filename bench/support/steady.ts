// The steady-state window of a run: figures from the first poll that saw
// `warmup` lines handled to the end, apart from the whole run's. A short run
// from a fresh server measures a transient: the JIT warming up, the rings
// filling (1,000 apps x 1,500 lines = 1,500,000 lines: pages allocated, the
// heap and its limits growing). A node runs for days, so its lines per
// CPU-second are the window's; the whole run's are printed beside them.
import { performance } from 'node:perf_hooks';
import { pollUntil, type Polled } from './poll.js';
import { cpuSeconds } from './proc.js';
import { scrape, sumOf } from './server.js';

/** Lines ingested before the window opens, by default (the rings full). */
export const DEFAULT_WARMUP = 1_500_000;

export interface Mark {
  at: number;
  cpu: number;
  lines: number;
}

/** Opens the window on the first reading at or past warmup lines handled (ingested + dropped). */
export class SteadyMark {
  mark: Mark | null = null;
  readonly #pid: number;
  readonly #warmup: number;
  constructor(pid: number, warmup: number) {
    this.#pid = pid;
    this.#warmup = warmup;
  }
  /** One reading: lines ingested and handled so far in this run. */
  see(ingested: number, handled: number): void {
    if (this.mark === null && handled >= this.#warmup) this.mark = { at: performance.now(), cpu: cpuSeconds(this.#pid), lines: ingested };
  }
}

/** Figures of the window [mark, end] and of the whole run [t0, end]. */
export function figures(t0: number, cpu0: number, mark: Mark | null, end: Mark) {
  const whole = { seconds: (end.at - t0) / 1000, cpu: end.cpu - cpu0, lines: end.lines };
  const w = mark ?? { at: t0, cpu: cpu0, lines: 0 };
  const win = { seconds: (end.at - w.at) / 1000, cpu: end.cpu - w.cpu, lines: end.lines - w.lines };
  return {
    lines: win.lines,
    seconds: win.seconds,
    linesPerSec: win.lines / win.seconds,
    cpuSec: win.cpu,
    linesPerCpuSec: win.cpu > 0 ? win.lines / win.cpu : 0,
    cpuPct: (100 * win.cpu) / win.seconds,
    wholeLinesPerSec: whole.lines / whole.seconds,
    wholeLinesPerCpuSec: whole.cpu > 0 ? whole.lines / whole.cpu : 0,
  };
}

export interface IngestRun {
  t0: number;
  cpu0: number;
  mark: Mark | null;
  /** The last /metrics read (the one that saw every line handled, unless the deadline came first). */
  polled: Polled<Map<string, number>>;
  /** Lines of `metric` ingested in this run, by a /metrics read. */
  ingestedOf(m: Map<string, number>): number;
  /** Lines dropped in this run (logplane_ingest_dropped_total), by a /metrics read. */
  droppedOf(m: Map<string, number>): number;
}

/**
 * Start the senders (go) and poll a server's /metrics every intervalMs
 * until `expected` lines of `metric` are handled (ingested or dropped), the
 * steady window opening at `warmup` of them.
 */
export async function pollIngest(server: { url: string; pid: number }, metric: string, expected: number, warmup: number, go: () => void, opts: { intervalMs: number; deadlineMs: number }): Promise<IngestRun> {
  const before = await scrape(server.url);
  const base = before.get(metric) ?? 0;
  const droppedBase = sumOf(before, 'logplane_ingest_dropped_total');
  const ingestedOf = (m: Map<string, number>): number => (m.get(metric) ?? 0) - base;
  const droppedOf = (m: Map<string, number>): number => sumOf(m, 'logplane_ingest_dropped_total') - droppedBase;
  const cpu0 = cpuSeconds(server.pid);
  const steady = new SteadyMark(server.pid, warmup);
  const read = async (): Promise<Map<string, number>> => {
    const m = await scrape(server.url);
    steady.see(ingestedOf(m), ingestedOf(m) + droppedOf(m));
    return m;
  };
  const t0 = performance.now();
  go();
  const polled = await pollUntil(read, (m) => ingestedOf(m) + droppedOf(m) >= expected, { ...opts, t0 });
  return { t0, cpu0, mark: steady.mark, polled, ingestedOf, droppedOf };
}
