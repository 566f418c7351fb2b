// The dyno side (SPEC 14): `logplane run` (the BUILT CLI) runs a child that
// prints ~150-byte lines as fast as it can (`cat` of a pre-generated file)
// and ships them to a built server (a child process, one app) over HTTP.
// Measured: wall time from the start of `logplane run` until the server's
// /metrics shows every line ingested (http transport), and the shipper's CPU
// per line (GNU time's user+system of `logplane run`, which includes the
// `cat` it reaped: a few ms for the whole file). Heroku's log-shuttle is the
// reference a user compares with: batches of up to 500 lines, as here.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchCase, CaseOptions, CaseResult, Value } from './case.js';
import { cpuSeconds } from './support/proc.js';
import { pollUntil, median } from './support/poll.js';
import { CLI, scrape, spawnServer } from './support/server.js';
import { appRecords, benchApps, MESSAGE_BYTES } from './support/syslog.js';

const DEFAULT_LINES = 500_000;
const DEFAULT_ROUNDS = 3;
const HTTP_LINES = 'logplane_ingest_lines_total{transport="http"}';
const DEADLINE_MS = 120_000;

interface Run extends Record<string, Value> {
  lines: number;
  seconds: number;
  linesPerSec: number;
  shipperCpuSec: number;
  shipperNsPerLine: number;
  serverNsPerLine: number;
  complete: boolean;
}

async function runOnce(file: string, lines: number): Promise<Run> {
  const apps = benchApps(1);
  const server = await spawnServer({ apps: appRecords(apps) });
  try {
    const cpu0 = cpuSeconds(server.pid);
    const t0 = performance.now();
    const shipper = new Promise<{ user: number; sys: number }>((resolve, reject) => {
      execFile(
        '/usr/bin/time',
        ['-f', '%U %S', process.execPath, CLI, 'run', '-a', apps[0]!.id, '--dyno', 'web.1', '--url', server.url, '--token', apps[0]!.token, '--', 'cat', file],
        { maxBuffer: 1 << 20 },
        (err, _stdout, stderr) => {
          if (err) return reject(new Error(`logplane run failed: ${stderr.slice(-500)}`));
          const [user, sys] = stderr.trim().split('\n').pop()!.split(' ').map(Number);
          resolve({ user: user!, sys: sys! });
        },
      );
    });
    const polled = await pollUntil(() => scrape(server.url), (m) => (m.get(HTTP_LINES) ?? 0) >= lines, { intervalMs: 20, deadlineMs: DEADLINE_MS, t0 });
    const seconds = (polled.at - t0) / 1000;
    const serverCpu = cpuSeconds(server.pid) - cpu0;
    const cpu = await shipper;
    const got = polled.value.get(HTTP_LINES) ?? 0;
    return {
      lines: got,
      seconds,
      linesPerSec: got / seconds,
      shipperCpuSec: cpu.user + cpu.sys,
      shipperNsPerLine: ((cpu.user + cpu.sys) * 1e9) / lines,
      serverNsPerLine: (serverCpu * 1e9) / lines,
      complete: polled.complete,
    };
  } finally {
    await server.kill();
  }
}

export const runShipper: BenchCase = {
  name: 'run_shipper',
  about: 'built `logplane run` shipping a child\'s ~150-byte stdout lines (cat, as fast as it can) to a built server over HTTP, 500-line batches',
  async run(opts: CaseOptions): Promise<CaseResult> {
    const lines = opts.lines ?? DEFAULT_LINES;
    const rounds = opts.rounds ?? DEFAULT_ROUNDS;
    const dir = mkdtempSync(join(tmpdir(), 'logplane-bench-run-'));
    try {
      const file = join(dir, 'lines.txt');
      const parts: string[] = [];
      for (let i = 0; i < lines; i++) {
        const head = `at=info method=GET path=/p/${i % 10_000} status=200 line=${i} `;
        parts.push(head + 'x'.repeat(Math.max(0, MESSAGE_BYTES - head.length)));
      }
      writeFileSync(file, `${parts.join('\n')}\n`);
      const runs: Run[] = [];
      for (let r = 0; r < rounds; r++) runs.push(await runOnce(file, lines));
      const rows: Record<string, Value>[] = runs.map((x, i) => ({ run: `#${i + 1}`, ...x }));
      rows.push({ run: 'median', lines, seconds: median(runs.map((x) => x.seconds)), linesPerSec: median(runs.map((x) => x.linesPerSec)), shipperCpuSec: median(runs.map((x) => x.shipperCpuSec)), shipperNsPerLine: median(runs.map((x) => x.shipperNsPerLine)), serverNsPerLine: median(runs.map((x) => x.serverNsPerLine)), complete: runs.every((x) => x.complete) });
      const notes = runs.some((x) => !x.complete) ? [`a run hit the ${DEADLINE_MS / 1000} s deadline: its figures are lower bounds`] : [];
      notes.push('shipper CPU includes node start-up (~40 ms) and the cat it runs; server CPU is its whole process (HTTP ingest of 500-line POSTs, one in flight)');
      return {
        columns: [
          { key: 'run', label: 'run' },
          { key: 'lines', label: 'lines' },
          { key: 'seconds', label: 'wall', unit: 's', digits: 2 },
          { key: 'linesPerSec', label: 'lines/s' },
          { key: 'shipperCpuSec', label: 'shipper CPU', unit: 's', digits: 2 },
          { key: 'shipperNsPerLine', label: 'shipper CPU', unit: 'ns/line' },
          { key: 'serverNsPerLine', label: 'server CPU', unit: 'ns/line' },
          { key: 'complete', label: 'complete' },
        ],
        rows,
        notes,
        extra: { messageBytes: MESSAGE_BYTES, batchLines: 500 },
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
