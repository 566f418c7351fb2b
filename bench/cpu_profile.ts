// Where the ingest path spends its CPU: the built server
// runs under `node --cpu-prof` (one profile per thread, written to a temp dir
// when it exits after SIGTERM) while the syslog TCP load of
// syslog_tcp_to_ring runs (1,000 apps, ~150-byte octet-counted frames, 2
// connections). Only samples between 'go' and the moment /metrics shows every
// line ingested count, so start-up and the graceful stop (which saves the
// rings) are left out. Printed: the top functions by self time and the
// share of each part of the code, idle excluded, all threads together.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchCase, CaseOptions, CaseResult, Value } from './case.js';
import { attachConsumers, type Consumers } from './support/consumers.js';
import { monotonicUs, readProfiles, summarize } from './support/cpuprofile.js';
import { pollUntil } from './support/poll.js';
import { cpuSeconds } from './support/proc.js';
import { startSyslogSenders, type SyslogSenders } from './support/senders.js';
import { scrape, spawnServer, sumOf } from './support/server.js';
import { appRecords, benchApps, syslogFrames } from './support/syslog.js';

const APPS = 1000;
const FRAMES_PER_BUFFER = 10_000;
const CONNECTIONS = 2;
const DEFAULT_LINES = 2_000_000;
const TOP = 15;
/** Sampling interval, µs (node's default is 1000). */
const INTERVAL_US = 500;
const POLL_MS = 50;
const DEADLINE_MS = 90_000;
const TCP_LINES = 'logplane_ingest_lines_total{transport="tcp"}';

export const cpuProfile: BenchCase = {
  name: 'cpu_profile',
  about: `built server under --cpu-prof with the syslog TCP load (${APPS} apps, ~150-byte frames, ${CONNECTIONS} connections): top ${TOP} functions by self time and the share per part of the code`,
  async run(opts: CaseOptions): Promise<CaseResult> {
    const totalLines = opts.lines ?? DEFAULT_LINES;
    const apps = benchApps(APPS);
    const { buf } = syslogFrames(apps, FRAMES_PER_BUFFER);
    const repeats = Math.max(1, Math.ceil(totalLines / CONNECTIONS / FRAMES_PER_BUFFER));
    const expected = repeats * FRAMES_PER_BUFFER * CONNECTIONS;
    const profDir = mkdtempSync(join(tmpdir(), 'logplane-bench-prof-'));
    const notes: string[] = [];
    try {
      const consumed = opts.consumers ?? 0;
      const server = await spawnServer({
        apps: appRecords(apps),
        env: consumed > 0 ? { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', ...opts.env } : opts.env,
        nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', String(INTERVAL_US)],
      });
      let senders: SyslogSenders | null = null;
      let window: { fromUs: number; toUs: number };
      let linesPerSec: number;
      let cpu: number;
      let exitCode: number | null;
      let consumers: Consumers | null = null;
      try {
        if (consumed > 0) {
          consumers = await attachConsumers(server, apps.slice(0, consumed).map((a) => a.id));
          notes.push(`with ${consumers.drains} HTTP drains and ${consumers.tails} WebSocket tails attached (--consumers ${consumed})`);
        }
        senders = await startSyslogSenders(server.syslogPort, buf, repeats, CONNECTIONS);
        const before = await scrape(server.url);
        const base = before.get(TCP_LINES) ?? 0;
        const droppedBase = sumOf(before, 'logplane_ingest_dropped_total');
        const progress = (m: Map<string, number>): number => (m.get(TCP_LINES) ?? 0) - base + sumOf(m, 'logplane_ingest_dropped_total') - droppedBase;
        const cpu0 = cpuSeconds(server.pid);
        const fromUs = monotonicUs();
        const t0 = performance.now();
        senders.go();
        const polled = await pollUntil(() => scrape(server.url), (m) => progress(m) >= expected, { intervalMs: POLL_MS, deadlineMs: DEADLINE_MS, t0 });
        window = { fromUs, toUs: monotonicUs() };
        cpu = cpuSeconds(server.pid) - cpu0;
        const ingested = (polled.value.get(TCP_LINES) ?? 0) - base;
        linesPerSec = ingested / ((polled.at - t0) / 1000);
        if (!polled.complete) notes.push(`deadline of ${DEADLINE_MS / 1000} s hit with ${ingested} of ${expected} lines`);
        await senders.terminate();
        senders = null;
      } finally {
        await senders?.terminate();
        await consumers?.close();
        exitCode = await server.stop(60_000);
      }
      if (exitCode !== 0) notes.push(`the server exited with ${exitCode} after SIGTERM (profiles may be missing)`);
      const files = readProfiles(profDir);
      if (files.length === 0) throw new Error('no .cpuprofile written (did the server exit gracefully?)');
      let s = summarize(files.map((f) => f.profile), window);
      if (s.samples === 0) {
        notes.push('no sample fell inside the load window (clock mismatch?): summary over the whole profile');
        s = summarize(files.map((f) => f.profile), null);
      }
      const rows: Record<string, Value>[] = s.top.map((e, i) => ({ rank: i + 1, pct: e.pct, fn: e.fn, where: e.where || '(native)', group: e.group }));
      notes.push(
        `${expected.toLocaleString('en-US')} lines at ${Math.round(linesPerSec).toLocaleString('en-US')} lines/s under the profiler (server CPU ${cpu.toFixed(2)} s), ${s.profiles} thread profile(s), ${s.samples.toLocaleString('en-US')} busy samples over ${s.seconds.toFixed(2)} s at ~${s.intervalUs} µs (+${s.idleSamples.toLocaleString('en-US')} idle, excluded)`,
        'self % = share of busy samples in the function itself (not its callees), all threads of the server together',
      );
      const envs = Object.entries(opts.env);
      if (envs.length) notes.push(`logplane env: ${envs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
      return {
        columns: [
          { key: 'rank', label: '#' },
          { key: 'pct', label: 'self', unit: '%', digits: 1 },
          { key: 'fn', label: 'function' },
          { key: 'where', label: 'file:line' },
          { key: 'group', label: 'part' },
        ],
        rows,
        tables: [
          {
            title: 'self time per part of the code',
            columns: [
              { key: 'group', label: 'part' },
              { key: 'pct', label: 'self', unit: '%', digits: 1 },
              { key: 'samples', label: 'samples' },
            ],
            rows: s.groups,
          },
        ],
        notes,
        extra: { linesPerSec, serverCpuSec: cpu, summary: s, env: opts.env },
      };
    } finally {
      rmSync(profDir, { recursive: true, force: true });
    }
  },
};
