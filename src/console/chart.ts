// The lines/s chart of the last 5 minutes by source class (uPlot: a small,
// fast canvas chart; no DOM per point, styles set through the CSSOM, which
// the strict CSP allows) and the apps page's sparklines (a bare canvas).
import uPlot from 'uplot';
import { h } from './dom.js';

export interface Stats {
  app: string;
  lines_per_sec: number;
  series: { start: number; step: number; sources: string[]; counts: Record<string, number[]> };
  drains: { count: number; worst_state: string | null; dropped: number; delivered: number };
  /** Distributed mode: true when the server could not read the other nodes' counts (Redis away): its own lines only. */
  partial?: boolean;
}

/** `14:05` on whole minutes, `:30` between them (uPlot's default puts the date on the first tick, which overlaps). */
function timeLabel(t: number): string {
  const d = new Date(t * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return t % 60 === 0 ? `${two(d.getHours())}:${two(d.getMinutes())}` : `:${two(d.getSeconds())}`;
}

const COLORS: Record<string, string> = { app: '#4fc1ff', heroku: '#c586c0', other: '#dcdcaa' };

/** Drop the last, unfinished second: it would always dip. */
function points(s: Stats): { xs: number[]; ys: Record<string, number[]> } {
  const n = (s.series.counts[s.series.sources[0]!] ?? []).length - 1;
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(s.series.start + i * s.series.step);
  const ys: Record<string, number[]> = {};
  for (const src of s.series.sources) ys[src] = (s.series.counts[src] ?? []).slice(0, n);
  return { xs, ys };
}

export class RateChart {
  readonly el: HTMLElement;
  #plot: uPlot | null = null;
  #sources: string[] = [];
  readonly #resize = new ResizeObserver(() => this.#fit());

  constructor() {
    this.el = h('div', { class: 'chart', role: 'img', 'aria-label': 'Lines per second over the last 5 minutes, by source' });
    this.#resize.observe(this.el);
  }

  update(s: Stats): void {
    const { xs, ys } = points(s);
    const data = [xs, ...s.series.sources.map((k) => ys[k]!)] as uPlot.AlignedData;
    if (this.#plot === null || this.#sources.join() !== s.series.sources.join()) {
      this.#plot?.destroy();
      this.#sources = s.series.sources;
      this.#plot = new uPlot(
        {
          width: Math.max(200, this.el.clientWidth),
          height: 160,
          legend: { show: true, live: false },
          cursor: { show: true, drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] } },
          axes: [
            { stroke: '#aaa', grid: { stroke: '#333' }, ticks: { stroke: '#333' }, values: (_u, ticks) => ticks.map(timeLabel) },
            { stroke: '#aaa', grid: { stroke: '#333' }, ticks: { stroke: '#333' }, size: 50 },
          ],
          series: [{ label: 'time' }, ...s.series.sources.map((k) => ({ label: k, stroke: COLORS[k] ?? '#ccc', width: 1.5, points: { show: false } }))],
        },
        data,
        this.el,
      );
    } else this.#plot.setData(data);
    this.el.setAttribute('aria-label', `Lines per second over the last 5 minutes by source; now ${s.lines_per_sec} lines/s`);
  }

  #fit(): void {
    if (this.#plot && this.el.clientWidth > 0) this.#plot.setSize({ width: this.el.clientWidth, height: 160 });
  }

  destroy(): void {
    this.#resize.disconnect();
    this.#plot?.destroy();
    this.#plot = null;
  }
}

/** A sparkline of all sources summed, drawn on a canvas. */
export function sparkline(s: Stats | null, label: string): HTMLCanvasElement {
  const w = 120;
  const hgt = 24;
  const c = h('canvas', { class: 'spark', width: w * devicePixelRatio, height: hgt * devicePixelRatio, role: 'img', 'aria-label': label });
  const g = c.getContext('2d');
  if (!g || !s) return c;
  const { ys } = points(s);
  const sum: number[] = [];
  for (const src of s.series.sources) (ys[src] ?? []).forEach((v, i) => (sum[i] = (sum[i] ?? 0) + v));
  // 10-second buckets: 29 points read better than 299 at this size
  const b: number[] = [];
  for (let i = 0; i < sum.length; i += 10) b.push(sum.slice(i, i + 10).reduce((a, v) => a + v, 0) / 10);
  const max = Math.max(1, ...b);
  g.scale(devicePixelRatio, devicePixelRatio);
  g.strokeStyle = '#4fc1ff';
  g.lineWidth = 1.25;
  g.beginPath();
  b.forEach((v, i) => {
    const x = (i / Math.max(1, b.length - 1)) * (w - 2) + 1;
    const y = hgt - 2 - (v / max) * (hgt - 4);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
  return c;
}
