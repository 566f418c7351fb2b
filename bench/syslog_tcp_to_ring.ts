// End-to-end: syslog over TCP into the rings of the BUILT server (a child
// process). 1,000 apps with one token each, provisioned through config.json
// before the start; a pre-generated stream of ~150-byte RFC 5424 frames spread
// over all apps (every frame changes app, the worst case for the handler's
// one-token cache), written by sender worker threads as fast as the sockets
// take it, over one and over two connections.
//
// Measured: 6,000,000 lines; wall time and the server's CPU time
// (/proc/<pid>/stat utime+stime) of the steady state, from the first /metrics
// poll that shows 1,500,000 lines ingested (--warmup N; the rings are full by
// then, bench/support/steady.ts) until it shows every line, and of the whole
// run from the first byte; its peak RSS (VmHWM). The server does nothing
// else: no drains, no tails.
import { cpus, loadavg } from 'node:os';
import type { BenchCase, CaseOptions, CaseResult, Value } from './case.js';
import { cpuSeconds, memory } from './support/proc.js';
import { DEFAULT_WARMUP, figures, pollIngest } from './support/steady.js';
import { startSyslogSenders, type SyslogSenders } from './support/senders.js';
import { spawnServer } from './support/server.js';
import { appRecords, benchApps, syslogFrames } from './support/syslog.js';

const APPS = 1000;
/** Frames in the Buffer each sender repeats (a multiple of APPS: every app the same share). */
const FRAMES_PER_BUFFER = 10_000;
const DEFAULT_LINES = 6_000_000;
const CONNECTIONS = [1, 2];
const POLL_MS = 50;
/** Give up waiting for the server after this long (the figure is then a lower bound). */
const DEADLINE_MS = 90_000;
const TCP_LINES = 'logplane_ingest_lines_total{transport="tcp"}';

const MB = 1024 * 1024;

interface RunFigures extends Record<string, Value> {
  connections: number;
  lines: number;
  seconds: number;
  linesPerSec: number;
  mbPerSec: number;
  serverCpuSec: number;
  linesPerCpuSec: number;
  wholeLinesPerCpuSec: number;
  serverCpuPct: number;
  peakRssMb: number;
  rssMb: number;
  /** (RSS after - RSS before the run) / lines held in the rings. */
  rssPerRingLine: number;
  ringLines: number;
  ringMb: number;
  ringMemoryMb: number;
  senderBusyPct: number;
  dropped: number;
  complete: boolean;
  load1: number;
}

async function runOnce(connections: number, totalLines: number, warmupLines: number, env: Record<string, string>): Promise<RunFigures> {
  const apps = benchApps(APPS);
  const { buf, messageBytes } = syslogFrames(apps, FRAMES_PER_BUFFER);
  const repeats = Math.max(1, Math.ceil(totalLines / connections / FRAMES_PER_BUFFER));
  const expected = repeats * FRAMES_PER_BUFFER * connections;
  const warmup = Math.min(warmupLines, Math.floor(expected / 2));
  const server = await spawnServer({ apps: appRecords(apps), env });
  let senders: SyslogSenders | null = null;
  try {
    senders = await startSyslogSenders(server.syslogPort, buf, repeats, connections);

    const rss0 = memory(server.pid).rss;
    const s = senders;
    const run = await pollIngest(server, TCP_LINES, expected, warmup, () => s.go(), { intervalMs: POLL_MS, deadlineMs: DEADLINE_MS });
    const { polled, ingestedOf, droppedOf } = run;
    const last = polled.value;
    const ingested = ingestedOf(last);
    const dropped = droppedOf(last);
    const complete = polled.complete;
    const cpu = cpuSeconds(server.pid);
    const mem = memory(server.pid);
    const ringLines = last.get('logplane_ring_lines') ?? 0;
    const done = complete ? await senders.done : [];
    const f = figures(run.t0, run.cpu0, run.mark, { at: polled.at, cpu, lines: ingested });
    return {
      connections,
      lines: f.lines,
      seconds: f.seconds,
      linesPerSec: f.linesPerSec,
      mbPerSec: (f.lines * (messageBytes / FRAMES_PER_BUFFER)) / MB / f.seconds,
      serverCpuSec: f.cpuSec,
      linesPerCpuSec: f.linesPerCpuSec,
      serverCpuPct: f.cpuPct,
      wholeLinesPerCpuSec: f.wholeLinesPerCpuSec,
      peakRssMb: mem.peakRss / MB,
      rssMb: mem.rss / MB,
      rssPerRingLine: ringLines > 0 ? (mem.rss - rss0) / ringLines : -1,
      ringLines,
      ringMb: (last.get('logplane_ring_bytes') ?? 0) / MB,
      ringMemoryMb: (last.get('logplane_ring_memory_bytes') ?? 0) / MB,
      senderBusyPct: done.length ? 100 * Math.max(...done.map((s) => s.busy)) : -1,
      dropped,
      complete,
      load1: loadavg()[0]!,
    };
  } finally {
    await senders?.terminate();
    await server.kill();
  }
}

export const syslogTcpToRing: BenchCase = {
  name: 'syslog_tcp_to_ring',
  about: `built server (child process), ${APPS} apps, ~150-byte RFC 5424 octet-counted frames over syslog TCP into the rings`,
  async run(opts: CaseOptions): Promise<CaseResult> {
    const lines = opts.lines ?? DEFAULT_LINES;
    const rows: Record<string, Value>[] = [];
    const notes: string[] = [];
    for (const c of CONNECTIONS) {
      const r = await runOnce(c, lines, opts.warmup ?? DEFAULT_WARMUP, opts.env);
      rows.push({ variant: `${c} connection${c > 1 ? 's' : ''}`, ...r });
      if (!r.complete) notes.push(`${c} conn: deadline of ${DEADLINE_MS / 1000} s hit with ${r.lines} lines ingested; figures are lower bounds`);
      if (r.dropped > 0) notes.push(`${c} conn: the server dropped ${r.dropped} lines (logplane_ingest_dropped_total): the figures count accepted lines only`);
    }
    notes.push(`lines, wall, lines/s, server CPU and lines/CPU-s are of the steady state: from the first poll that saw ${Math.min(opts.warmup ?? DEFAULT_WARMUP, lines / 2).toLocaleString('en-US')} lines handled (--warmup N; the rings hold 1,500,000) to completion (bench/support/steady.ts); "whole run" counts from the first byte`);
    notes.push('Δrss/ring line = (server RSS after - RSS before the run) / lines held in the rings (not after a GC: garbage and allocator slack included)');
    notes.push(`sender busy = event-loop utilisation of the busiest sender thread; well under 100% means the sender was not the bottleneck (${cpus().length} cores shared by server, senders and runner)`);
    return {
      columns: [
        { key: 'variant', label: 'variant' },
        { key: 'lines', label: 'lines' },
        { key: 'seconds', label: 'wall', unit: 's', digits: 2 },
        { key: 'linesPerSec', label: 'lines/s' },
        { key: 'mbPerSec', label: 'MiB/s', digits: 1 },
        { key: 'serverCpuSec', label: 'server CPU', unit: 's', digits: 2 },
        { key: 'linesPerCpuSec', label: 'lines/CPU-s' },
        { key: 'wholeLinesPerCpuSec', label: 'whole run lines/CPU-s' },
        { key: 'serverCpuPct', label: 'server CPU', unit: '%' },
        { key: 'peakRssMb', label: 'peak RSS', unit: 'MiB' },
        { key: 'ringLines', label: 'ring lines' },
        { key: 'ringMemoryMb', label: 'ring mem', unit: 'MiB' },
        { key: 'rssPerRingLine', label: 'Δrss/ring line', unit: 'B' },
        { key: 'senderBusyPct', label: 'sender busy', unit: '%' },
        { key: 'dropped', label: 'dropped' },
        { key: 'load1', label: 'load1', digits: 2 },
      ],
      rows,
      notes,
      extra: { apps: APPS, framesPerBuffer: FRAMES_PER_BUFFER, messageBytes: 150, pollMs: POLL_MS },
    };
  },
};
