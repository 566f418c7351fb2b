// End-to-end against the reference: the built logplane server and
// Debian's rsyslogd (imptcp, octet-counted framing, omfile) take turns on the
// SAME pre-generated stream: ~150-byte RFC 5424 frames for 1,000 apps over 2
// connections, written by sender worker threads as fast as the sockets take
// it. Several rounds; the order alternates each round so neither always runs
// first. A fresh server process per run.
//
// logplane does more than rsyslog here, on purpose: one HTTP drain and
// one WebSocket tail on each of 10 of the apps (support/consumers.ts), on top
// of the rings. rsyslog writes every message to a file.
//
// Steady state: each run is 6,000,000 lines, and the figures are of the part
// after the first 1,500,000 (--warmup N), measured from the first poll that
// sees that many lines handled to completion. Short runs measure a transient
// for both systems: logplane's JIT warming up and its rings filling (1,000
// apps x 1,500 lines = 1,500,000 lines), and rsyslog before its output file
// grows large (its CPU per line rises by a third between a 2,000,000- and a
// 6,000,000-line run on this machine). The whole-run figures are printed too.
//
// Completion: logplane, /metrics logplane_ingest_lines_total{transport="tcp"}
// (+ dropped) reaching the count sent; rsyslog, the output file reaching
// lines x 151 bytes (every message is exactly 150 bytes, plus LF), checked
// after the run by counting its LFs. Both polled every 50 ms.
// Measured per run: wall time from 'go' to completion, the server process's
// CPU time (/proc utime+stime, all threads), its peak RSS (VmHWM).
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { BenchCase, CaseOptions, CaseResult, Value } from './case.js';
import { attachConsumers, type Consumers } from './support/consumers.js';
import { median, pollUntil } from './support/poll.js';
import { DEFAULT_WARMUP, figures, pollIngest, SteadyMark } from './support/steady.js';
import { cpuSeconds, memory } from './support/proc.js';
import { RSYSLOGD, rsyslogAvailable, rsyslogVersion, spawnRsyslog } from './support/rsyslog.js';
import { startSyslogSenders, type SenderDone, type SyslogSenders } from './support/senders.js';
import { spawnServer } from './support/server.js';
import { appRecords, benchApps, MESSAGE_BYTES, syslogFrames, type BenchApp } from './support/syslog.js';

const APPS = 1000;
const FRAMES_PER_BUFFER = 10_000;
const CONNECTIONS = 2;
const DEFAULT_LINES = 6_000_000;
const DEFAULT_ROUNDS = 3;
/** Apps with one drain and one tail each on the logplane side (default 10; --consumers N). */
const DEFAULT_CONSUMED_APPS = 10;
const POLL_MS = 50;
const DEADLINE_MS = 90_000;
/** After ingest completes, how long drains and tails may take to deliver their share (not timed). */
const CONSUMER_GRACE_MS = 5_000;
const TCP_LINES = 'logplane_ingest_lines_total{transport="tcp"}';
const MB = 1024 * 1024;

const System = { LOGPLANE: 'logplane', RSYSLOG: 'rsyslog' } as const;
type System = (typeof System)[keyof typeof System];

interface Run extends Record<string, Value> {
  system: System;
  round: number;
  /** Lines in the measured window (after the warm-up) and the figures of that window. */
  lines: number;
  seconds: number;
  linesPerSec: number;
  cpuSec: number;
  linesPerCpuSec: number;
  cpuPct: number;
  /** The same over the whole run, warm-up included. */
  wholeLinesPerSec: number;
  wholeLinesPerCpuSec: number;
  peakRssMb: number;
  senderBusyPct: number;
  /** logplane: lines received by the drain receiver / expected for the drained apps; rsyslog: null. */
  drainLines: number | null;
  tailLines: number | null;
  /** logplane: drain POSTs and tail WebSocket messages for those lines (how finely they were batched). */
  drainPosts: number | null;
  tailFrames: number | null;
  consumedExpected: number | null;
  dropped: number;
  complete: boolean;
  load1: number;
}

interface Stream {
  apps: BenchApp[];
  buf: Buffer;
  repeats: number;
  expected: number;
  /** Lines handled before the measured window opens. */
  warmup: number;
}

/** Where the measured window opened: the first poll that saw the warm-up done. */
function busyPct(done: SenderDone[]): number {
  return done.length ? 100 * Math.max(...done.map((s) => s.busy)) : -1;
}

async function runLogplane(stream: Stream, round: number, consumed: number, env: Record<string, string>, notes: Set<string>): Promise<Run> {
  const server = await spawnServer({ apps: appRecords(stream.apps), env: { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', ...env } });
  let senders: SyslogSenders | null = null;
  let consumers: Consumers | null = null;
  try {
    consumers = await attachConsumers(server, stream.apps.slice(0, consumed).map((a) => a.id));
    for (const n of consumers.notes) notes.add(n);
    senders = await startSyslogSenders(server.syslogPort, stream.buf, stream.repeats, CONNECTIONS);
    const s = senders;
    const run = await pollIngest(server, TCP_LINES, stream.expected, stream.warmup, () => s.go(), { intervalMs: POLL_MS, deadlineMs: DEADLINE_MS });
    const { polled, ingestedOf, droppedOf } = run;
    const cpuEnd = cpuSeconds(server.pid);
    const mem = memory(server.pid);
    const lines = ingestedOf(polled.value);
    const done = polled.complete ? await senders.done : [];
    // Untimed: let the drains and tails deliver their share, then count.
    const consumedExpected = (stream.expected / APPS) * consumed;
    const c = consumers;
    await pollUntil(() => null, () => (c.drains === 0 || c.drainLines() >= consumedExpected) && c.tailLines() + c.tailDropped() >= consumedExpected, { intervalMs: POLL_MS, deadlineMs: CONSUMER_GRACE_MS });
    return {
      system: System.LOGPLANE,
      round,
      ...figures(run.t0, run.cpu0, run.mark, { at: polled.at, cpu: cpuEnd, lines }),
      peakRssMb: mem.peakRss / MB,
      senderBusyPct: busyPct(done),
      drainLines: c.drains > 0 ? c.drainLines() : null,
      tailLines: c.tailLines(),
      drainPosts: c.drains > 0 ? c.drainPosts() : null,
      tailFrames: c.tailFrames(),
      consumedExpected,
      dropped: droppedOf(polled.value),
      complete: polled.complete,
      load1: loadavg()[0]!,
    };
  } finally {
    await senders?.terminate();
    await consumers?.close();
    await server.kill();
  }
}

async function runRsyslog(stream: Stream, round: number, notes: Set<string>): Promise<Run> {
  const rs = await spawnRsyslog();
  let senders: SyslogSenders | null = null;
  const lineBytes = MESSAGE_BYTES + 1;
  try {
    senders = await startSyslogSenders(rs.port, stream.buf, stream.repeats, CONNECTIONS);
    const cpu0 = cpuSeconds(rs.pid);
    const steady = new SteadyMark(rs.pid, stream.warmup);
    const read = (): number => {
      const b = rs.outBytes();
      steady.see(Math.floor(b / lineBytes), Math.floor(b / lineBytes));
      return b;
    };
    const t0 = performance.now();
    senders.go();
    const target = stream.expected * lineBytes;
    const polled = await pollUntil(read, (b) => b >= target, { intervalMs: POLL_MS, deadlineMs: DEADLINE_MS, t0 });
    const cpuEnd = cpuSeconds(rs.pid);
    const mem = memory(rs.pid);
    const done = polled.complete ? await senders.done : [];
    // Untimed check that the file holds whole lines of the expected length.
    const lfs = rs.countLines();
    const bytes = rs.outBytes();
    if (bytes !== lfs * lineBytes) notes.add(`rsyslog round ${round}: ${bytes} bytes for ${lfs} lines in its output, not ${lineBytes} per line: lines counted by LF`);
    const lines = polled.complete ? Math.min(lfs, stream.expected) : Math.floor(polled.value / lineBytes);
    return {
      system: System.RSYSLOG,
      round,
      ...figures(t0, cpu0, steady.mark, { at: polled.at, cpu: cpuEnd, lines }),
      peakRssMb: mem.peakRss / MB,
      senderBusyPct: busyPct(done),
      drainLines: null,
      tailLines: null,
      drainPosts: null,
      tailFrames: null,
      consumedExpected: null,
      dropped: polled.complete ? Math.max(0, stream.expected - lfs) : 0,
      complete: polled.complete,
      load1: loadavg()[0]!,
    };
  } finally {
    await senders?.terminate();
    await rs.stop();
  }
}

const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');

export const syslogTcpVsRsyslog: BenchCase = {
  name: 'syslog_tcp_vs_rsyslog',
  about: `logplane vs rsyslogd (imptcp -> omfile), same ~150-byte RFC 5424 octet-counted stream for ${APPS} apps, ${CONNECTIONS} connections, taking turns; logplane also feeds ${DEFAULT_CONSUMED_APPS} drains + ${DEFAULT_CONSUMED_APPS} tails (--consumers N)`,
  async run(opts: CaseOptions): Promise<CaseResult> {
    if (!rsyslogAvailable()) throw new Error(`${RSYSLOGD} not found (scripts/deps.sh installs rsyslog; RSYSLOGD=/path to use another)`);
    const totalLines = opts.lines ?? DEFAULT_LINES;
    const rounds = opts.rounds ?? DEFAULT_ROUNDS;
    const consumed = opts.consumers ?? DEFAULT_CONSUMED_APPS;
    const apps = benchApps(APPS);
    const { buf } = syslogFrames(apps, FRAMES_PER_BUFFER);
    const repeats = Math.max(1, Math.ceil(totalLines / CONNECTIONS / FRAMES_PER_BUFFER));
    const expected = repeats * FRAMES_PER_BUFFER * CONNECTIONS;
    const warmup = Math.min(opts.warmup ?? DEFAULT_WARMUP, Math.floor(expected / 2));
    const stream: Stream = { apps, buf, repeats, expected, warmup };
    const notes = new Set<string>();
    const runs: Run[] = [];
    for (let round = 1; round <= rounds; round++) {
      const order: System[] = round % 2 === 1 ? [System.LOGPLANE, System.RSYSLOG] : [System.RSYSLOG, System.LOGPLANE];
      for (const sys of order) {
        const r = sys === System.LOGPLANE ? await runLogplane(stream, round, consumed, opts.env, notes) : await runRsyslog(stream, round, notes);
        runs.push(r);
        process.stdout.write(`  round ${round} ${sys}: ${Math.round(r.linesPerSec).toLocaleString('en-US')} lines/s, ${Math.round(r.linesPerCpuSec).toLocaleString('en-US')} lines/CPU-s${r.complete ? '' : ' (INCOMPLETE)'}\n`);
        if (!r.complete) notes.add(`${sys} round ${round}: deadline of ${DEADLINE_MS / 1000} s hit with ${r.lines} of ${stream.expected} lines; figures are lower bounds`);
        if (r.dropped > 0) notes.add(`${sys} round ${round}: ${r.dropped} lines dropped or missing`);
        if (r.consumedExpected !== null && r.tailLines !== null && r.tailLines < r.consumedExpected) notes.add(`logplane round ${round}: tails received ${r.tailLines} of ${r.consumedExpected} lines within ${CONSUMER_GRACE_MS / 1000} s after ingest`);
        if (r.consumedExpected !== null && r.drainLines !== null && r.drainLines < r.consumedExpected) notes.add(`logplane round ${round}: drains delivered ${r.drainLines} of ${r.consumedExpected} lines within ${CONSUMER_GRACE_MS / 1000} s after ingest`);
      }
    }
    type Key = 'linesPerSec' | 'linesPerCpuSec' | 'peakRssMb' | 'seconds' | 'cpuSec' | 'cpuPct' | 'wholeLinesPerSec' | 'wholeLinesPerCpuSec';
    const med = (sys: System, k: Key): number => median(runs.filter((r) => r.system === sys).map((r) => r[k]));
    const rows: Record<string, Value>[] = runs.map((r) => ({ ...r, label: `${r.system} #${r.round}` }));
    const summary: Record<string, Record<System, number>> = {};
    for (const k of ['linesPerSec', 'linesPerCpuSec', 'peakRssMb', 'seconds', 'cpuSec', 'cpuPct', 'wholeLinesPerSec', 'wholeLinesPerCpuSec'] as const) summary[k] = { logplane: med(System.LOGPLANE, k), rsyslog: med(System.RSYSLOG, k) };
    for (const sys of [System.LOGPLANE, System.RSYSLOG]) {
      rows.push({ label: `${sys} median`, seconds: summary.seconds![sys], linesPerSec: summary.linesPerSec![sys], cpuSec: summary.cpuSec![sys], linesPerCpuSec: summary.linesPerCpuSec![sys], cpuPct: summary.cpuPct![sys], peakRssMb: summary.peakRssMb![sys], wholeLinesPerSec: summary.wholeLinesPerSec![sys], wholeLinesPerCpuSec: summary.wholeLinesPerCpuSec![sys] });
    }
    const ratios = {
      linesPerSec: summary.linesPerSec!.logplane / summary.linesPerSec!.rsyslog,
      linesPerCpuSec: summary.linesPerCpuSec!.logplane / summary.linesPerCpuSec!.rsyslog,
      peakRss: summary.peakRssMb!.logplane / summary.peakRssMb!.rsyslog,
      wholeLinesPerSec: summary.wholeLinesPerSec!.logplane / summary.wholeLinesPerSec!.rsyslog,
      wholeLinesPerCpuSec: summary.wholeLinesPerCpuSec!.logplane / summary.wholeLinesPerCpuSec!.rsyslog,
    };
    rows.push({
      label: 'logplane / rsyslog',
      linesPerSec: ratio(summary.linesPerSec!.logplane, summary.linesPerSec!.rsyslog),
      linesPerCpuSec: ratio(summary.linesPerCpuSec!.logplane, summary.linesPerCpuSec!.rsyslog),
      peakRssMb: ratio(summary.peakRssMb!.logplane, summary.peakRssMb!.rsyslog),
      wholeLinesPerSec: ratio(summary.wholeLinesPerSec!.logplane, summary.wholeLinesPerSec!.rsyslog),
      wholeLinesPerCpuSec: ratio(summary.wholeLinesPerCpuSec!.logplane, summary.wholeLinesPerCpuSec!.rsyslog),
    });
    const envs = Object.entries(opts.env);
    return {
      columns: [
        { key: 'label', label: 'run' },
        { key: 'lines', label: 'lines' },
        { key: 'seconds', label: 'wall', unit: 's', digits: 2 },
        { key: 'linesPerSec', label: 'lines/s' },
        { key: 'cpuSec', label: 'server CPU', unit: 's', digits: 2 },
        { key: 'linesPerCpuSec', label: 'lines/CPU-s' },
        { key: 'cpuPct', label: 'server CPU', unit: '%' },
        { key: 'peakRssMb', label: 'peak RSS', unit: 'MiB' },
        { key: 'wholeLinesPerSec', label: 'whole run lines/s' },
        { key: 'wholeLinesPerCpuSec', label: 'whole run lines/CPU-s' },
        { key: 'senderBusyPct', label: 'sender busy', unit: '%' },
        { key: 'drainLines', label: 'drain lines' },
        { key: 'tailLines', label: 'tail lines' },
        { key: 'drainPosts', label: 'drain POSTs' },
        { key: 'tailFrames', label: 'tail frames' },
        { key: 'load1', label: 'load1', digits: 2 },
      ],
      rows,
      notes: [
        ...notes,
        `${stream.expected.toLocaleString('en-US')} lines per run (${CONNECTIONS} connections x ${repeats} x ${FRAMES_PER_BUFFER.toLocaleString('en-US')} frames), ${rounds} rounds, order alternating; ratios are of the medians`,
        `lines, wall, lines/s, server CPU and lines/CPU-s are of the steady state: from the first poll that saw ${stream.warmup.toLocaleString('en-US')} lines handled (--warmup N; logplane's rings hold 1,500,000) to completion; "whole run" counts from the first byte`,
        `rsyslogd ${rsyslogVersion() ?? '?'}: imptcp (defaults: 2 helper threads) -> ruleset -> omfile (%rawmsg% + LF), nothing else; logplane: rings + ${consumed} HTTP drains + ${consumed} WebSocket tails (drain/tail lines: received of ${((stream.expected / APPS) * consumed).toLocaleString('en-US')} for those apps)`,
        `server CPU = utime+stime of the server process (all its threads) from /proc; sender busy = event-loop utilisation of the busiest sender thread`,
        ...(envs.length ? [`logplane env: ${envs.map(([k, v]) => `${k}=${v}`).join(' ')}`] : []),
      ],
      extra: { apps: APPS, connections: CONNECTIONS, rounds, expected: stream.expected, warmup: stream.warmup, medians: summary, ratios, rsyslog: rsyslogVersion(), env: opts.env },
    };
  },
};
