// Summary of V8 CPU profiles (`node --cpu-prof`, one .cpuprofile per thread):
// self time per function and per part of the code, over the samples inside a
// time window. Sample times are V8 TimeTicks (CLOCK_MONOTONIC, microseconds),
// the clock of process.hrtime() in any process on the same machine, so the
// runner can cut out start-up and the graceful stop.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Microseconds of CLOCK_MONOTONIC, comparable with profile sample times. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function readProfiles(dir: string): { file: string; profile: CpuProfile }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => ({ file: f, profile: JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile }));
}

/** Parts of the code, first match wins (paths as in dist/). */
const GROUPS: readonly [string, (f: CallFrame) => boolean][] = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['(program): VM, native, unattributed', (f) => f.functionName === '(program)'],
  ['ingest/framing', (f) => f.url.includes('/src/ingest/framing.')],
  ['ingest/syslog (scan, handler, listeners)', (f) => /\/src\/ingest\/(syslog|syslog-conn|tcp|tls|udp)\./.test(f.url)],
  ['ingest/http', (f) => f.url.includes('/src/ingest/http.') || f.url.includes('/src/ingest/frame-ids.')],
  ['ingest/other', (f) => f.url.includes('/src/ingest/')],
  ['router', (f) => f.url.includes('/src/router.')],
  ['line (cook; line.ts, bytes.ts)', (f) => f.url.includes('/src/line.') || f.url.includes('/src/bytes.')],
  ['buffer/ring', (f) => f.url.includes('/src/buffer/')],
  ['apps (token lookup)', (f) => f.url.includes('/src/apps.')],
  ['tail', (f) => f.url.includes('/src/tail/')],
  ['drains', (f) => f.url.includes('/src/drains/')],
  ['obs (metrics, log)', (f) => f.url.includes('/src/obs/')],
  ['logplane, other', (f) => f.url.includes('/src/')],
  ['node core (net, stream, events...)', (f) => f.url.startsWith('node:')],
  ['dependencies (node_modules)', (f) => f.url.includes('/node_modules/')],
  ['native builtins (no script)', (f) => f.url === ''],
  ['other', () => true],
];

export interface FunctionSelf {
  fn: string;
  /** `src/ingest/framing.js:120` (1-based line), or a node: url, or empty for natives. */
  where: string;
  group: string;
  samples: number;
  pct: number;
}

export interface ProfileSummary {
  profiles: number;
  /** Samples in the window, idle excluded. */
  samples: number;
  idleSamples: number;
  /** Sampling interval, microseconds (median of deltas). */
  intervalUs: number;
  /** Window actually covered by samples, seconds. */
  seconds: number;
  top: FunctionSelf[];
  groups: { group: string; samples: number; pct: number }[];
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf('/dist/');
  if (i !== -1) return url.slice(i + 6);
  const n = url.lastIndexOf('/node_modules/');
  if (n !== -1) return url.slice(n + 14);
  return url;
}

/** Self time per function and per group over samples with fromUs <= t <= toUs (all samples without a window). */
export function summarize(profiles: readonly CpuProfile[], window: { fromUs: number; toUs: number } | null, topN = 15): ProfileSummary {
  const perFn = new Map<string, FunctionSelf>();
  const perGroup = new Map<string, number>();
  let samples = 0;
  let idle = 0;
  let first = Infinity;
  let last = -Infinity;
  const deltas: number[] = [];
  for (const p of profiles) {
    const byId = new Map<number, CallFrame>();
    for (const n of p.nodes) byId.set(n.id, n.callFrame);
    const groupOf = new Map<number, string>();
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      const d = p.timeDeltas[i] ?? 0;
      t += d;
      if (window && (t < window.fromUs || t > window.toUs)) continue;
      if (d > 0 && deltas.length < 100_000) deltas.push(d);
      first = Math.min(first, t);
      last = Math.max(last, t);
      const id = p.samples[i]!;
      const f = byId.get(id);
      if (!f) continue;
      if (f.functionName === '(idle)') {
        idle++;
        continue;
      }
      samples++;
      let g = groupOf.get(id);
      if (g === undefined) {
        g = GROUPS.find(([, test]) => test(f))![0];
        groupOf.set(id, g);
      }
      perGroup.set(g, (perGroup.get(g) ?? 0) + 1);
      const where = f.url === '' ? '' : `${shortUrl(f.url)}:${f.lineNumber + 1}`;
      const key = `${f.functionName}\0${where}`;
      let e = perFn.get(key);
      if (!e) {
        e = { fn: f.functionName || '(anonymous)', where, group: g, samples: 0, pct: 0 };
        perFn.set(key, e);
      }
      e.samples++;
    }
  }
  const pct = (n: number): number => (samples > 0 ? (100 * n) / samples : 0);
  const top = [...perFn.values()].sort((a, b) => b.samples - a.samples).slice(0, topN);
  for (const e of top) e.pct = pct(e.samples);
  const groups = [...perGroup.entries()].map(([group, n]) => ({ group, samples: n, pct: pct(n) })).sort((a, b) => b.samples - a.samples);
  deltas.sort((a, b) => a - b);
  return {
    profiles: profiles.length,
    samples,
    idleSamples: idle,
    intervalUs: deltas.length ? deltas[deltas.length >> 1]! : 0,
    seconds: Number.isFinite(first) ? (last - first) / 1e6 : 0,
    top,
    groups,
  };
}
