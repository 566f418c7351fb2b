// Micro bench (SPEC 4: "memory per line close to its bytes"): process memory
// per stored line with 1,000 apps x 1,500 lines. Runs in a child process
// started with --expose-gc: an in-process server (memory store, no syslog
// listener) gets ~150-byte RFC 5424 frames through the real ingest path minus
// the socket (OctetFramer in 64 KiB chunks -> SyslogMessageHandler -> scan,
// token lookup, cook, route, ring.push). Memory is read after gc() before the
// fill, once every ring holds 1,500 lines, and again after a second 1,500 per
// app (every ring wrapped once: the steady state of a long-running node).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchCase, CaseResult, Value } from './case.js';
import { ringTotals } from '../src/buffer/ring.js';
import { loadConfig } from '../src/config.js';
import { OctetFramer } from '../src/ingest/framing.js';
import { SyslogMessageHandler } from '../src/ingest/message.js';
import { IngestCounters } from '../src/ingest/syslog-conn.js';
import { routeMessage } from '../src/ingest/route-writer.js';
import { silentLog } from '../src/obs/log.js';
import { Server } from '../src/server.js';
import { MemoryStore } from '../src/store/memory.js';
import { appRecords, benchApps, syslogFrames } from './support/syslog.js';

const APPS = 1000;
const HISTORY = 1500;
const FRAMES_PER_BUFFER = 10_000;
/** Socket-sized chunks, so frames straddle chunks as they do on a real connection. */
const CHUNK = 64 * 1024;
const CHILD_TIMEOUT_MS = 120_000;

interface Reading {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  lines: number;
  liveBytes: number;
  ringMemory: number;
}

interface ChildReport {
  messageBytes: number;
  before: Reading;
  stages: { stage: string; linesIn: number; reading: Reading; seconds: number; cpuSeconds: number }[];
}

async function child(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const apps = benchApps(APPS);
  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-bench-'));
  const store = new MemoryStore();
  for (const rec of appRecords(apps)) await store.putApp(rec);
  const config = loadConfig([], {
    LOGPLANE_PORT: '0',
    LOGPLANE_SYSLOG_PORT: '0',
    LOGPLANE_DATA_DIR: dataDir,
    LOGPLANE_LOG_LEVEL: 'silent',
    LOGPLANE_HISTORY_LINES: String(HISTORY),
    LOGPLANE_API_KEY: 'bench-key-0123456789abcdef',
  });
  const server = await Server.start(config, { store, log: silentLog(), noRestore: true });
  const ctx = server.ctx;
  const handler = new SyslogMessageHandler(ctx.registry.tokens, new IngestCounters(ctx, 'tcp'), routeMessage);
  let now = Date.now();
  const framer = new OctetFramer((b, s, e) => handler.handle(b, s, e, now), { allowLfFrames: true, skipSeparators: true });
  const { buf, messageBytes } = syslogFrames(apps, FRAMES_PER_BUFFER);

  const feed = (passes: number): void => {
    for (let p = 0; p < passes; p++) {
      for (let i = 0; i < buf.length; i += CHUNK) {
        now = Date.now();
        if (framer.push(buf.subarray(i, i + CHUNK)) !== 0) throw new Error('framer rejected the bench input');
      }
    }
  };
  const read = async (): Promise<Reading> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    const m = process.memoryUsage();
    const { lines, liveBytes, memoryBytes: ringMemory } = ringTotals(ctx.registry.apps());
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, lines, liveBytes, ringMemory };
  };

  // No warm-up pass: it would leave lines in the rings. The baseline includes
  // the started server, the apps and the input buffer.
  const before = await read();
  const passes = (HISTORY * APPS) / FRAMES_PER_BUFFER;
  const stages: ChildReport['stages'] = [];
  for (const stage of [`filled (${HISTORY}/app)`, `wrapped (${2 * HISTORY}/app)`]) {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    feed(passes);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    stages.push({ stage, linesIn: passes * FRAMES_PER_BUFFER, reading: await read(), seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  }
  const report: ChildReport = { messageBytes: messageBytes / FRAMES_PER_BUFFER, before, stages };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  rmSync(dataDir, { recursive: true, force: true });
  // No server.close(): it would save 1.5M lines to the (temp) data dir.
  process.exit(0);
}

function runChild(): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    proc.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => proc.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`ring_memory child failed (code ${code}, signal ${signal}): ${err.trim().slice(-2000)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildReport);
      } catch (e) {
        reject(new Error(`ring_memory child output unreadable: ${(e as Error).message}`));
      }
    });
  });
}

export const ringMemory: BenchCase = {
  name: 'ring_memory',
  about: `process memory per stored line, ${APPS} apps x ${HISTORY} lines, ~150-byte RFC 5424 frames through the ingest path (child process, --expose-gc)`,
  async run(): Promise<CaseResult> {
    const r = await runChild();
    const b = r.before;
    const rows: Record<string, Value>[] = r.stages.map(({ stage, linesIn, reading: a, seconds, cpuSeconds }) => {
      const drss = a.rss - b.rss;
      const dheap = a.heapUsed + a.arrayBuffers - (b.heapUsed + b.arrayBuffers);
      return {
        stage,
        lines: a.lines,
        lineBytes: a.liveBytes / a.lines,
        ringPerLine: a.ringMemory / a.lines,
        rssPerLine: drss / a.lines,
        heapAbPerLine: dheap / a.lines,
        rssOverLine: drss / a.liveBytes,
        heapAbOverLine: dheap / a.liveBytes,
        ringOverLine: a.ringMemory / a.liveBytes,
        rssOverFrame: drss / (a.lines * r.messageBytes),
        heapAbOverFrame: dheap / (a.lines * r.messageBytes),
        linesPerSec: linesIn / seconds,
        linesPerCpuSec: linesIn / cpuSeconds,
      };
    });
    return {
      columns: [
        { key: 'stage', label: 'stage' },
        { key: 'lines', label: 'lines held' },
        { key: 'lineBytes', label: 'line', unit: 'B', digits: 1 },
        { key: 'ringPerLine', label: 'ring', unit: 'B/line', digits: 1 },
        { key: 'rssPerLine', label: 'Δrss', unit: 'B/line', digits: 1 },
        { key: 'heapAbPerLine', label: 'Δheap+ab', unit: 'B/line', digits: 1 },
        { key: 'ringOverLine', label: 'ring/line', digits: 2 },
        { key: 'rssOverLine', label: 'Δrss/line', digits: 2 },
        { key: 'heapAbOverLine', label: 'Δheap+ab/line', digits: 2 },
        { key: 'rssOverFrame', label: 'Δrss/frame', digits: 2 },
        { key: 'heapAbOverFrame', label: 'Δheap+ab/frame', digits: 2 },
        { key: 'linesPerSec', label: 'fill lines/s' },
        { key: 'linesPerCpuSec', label: 'fill lines/CPU-s' },
      ],
      rows,
      notes: [
        `line = bytes of the cooked line held in the ring (sum of ring.liveBytes / lines); frame = the ${r.messageBytes}-byte syslog message as sent (without its "LEN " prefix)`,
        'ring = slab + offset arrays (sum of ring.memoryBytes); Δ = after minus before the fill, each read after gc(); heap+ab = heapUsed + arrayBuffers',
        'fill lines/s is in-process ingest without sockets (framer, scan, lookup, cook, ring), with memory growth: not a throughput figure; lines/CPU-s divides by the process CPU time (all threads, GC included), the steadier figure on a shared machine',
      ],
      extra: { messageBytes: r.messageBytes, before: r.before, stages: r.stages },
    };
  },
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  child().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
