// The steady-state window of a run: figures from the first poll that saw
// `warmup` lines handled to the end, apart from the whole run's. A short run
// from a fresh server measures a transient: the JIT warming up, the rings
// filling (1,000 apps x 1,500 lines = 1,500,000 lines: pages allocated, the
// heap and its limits growing). A node runs for days, so its lines per
// CPU-second are the window's; the whole run's are printed beside them.
import { performance } from 'node:perf_hooks';
import { cpuSeconds } from './proc.js';

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
