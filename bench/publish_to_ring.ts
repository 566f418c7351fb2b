// In-process ingest (SPEC 14): lp.publish against syslog TCP ingest on the
// main thread (LOGPLANE_INGEST_WORKERS=0), both over a real socket (the
// frames written by a child process, so this process's CPU is the server's)
// and without it (OctetFramer in 64 KiB chunks -> SyslogMessageHandler ->
// scan, token lookup, cook, route, called directly), in one
// embedded instance (createLogplane, no port), 100 apps round robin, ~150-byte
// messages; with no consumers and with 10 live tails (lp.tail, read by loops
// in this process) and 10 HTTP drains (a receiver in this process answering
// 204) on 10 of the apps. The lines go in slices of 10,000, each followed by
// a turn of the event loop (the tails and drains work there); a run ends when
// every consumer has every line of its app. Figures: lines/s of wall time and
// CPU ns per line of this process (ingest, plus the consumers' work and the
// receiver's when attached: the same for both paths), medians of the rounds.
import { mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchCase, CaseOptions, CaseResult, Value } from './case.js';
import { OctetFramer } from '../src/ingest/framing.js';
import { SyslogMessageHandler } from '../src/ingest/message.js';
import { routeMessage } from '../src/ingest/route-writer.js';
import { IngestCounters } from '../src/ingest/syslog-conn.js';
import { createLogplane, serverOf, type Logplane } from '../src/logplane.js';
import { syslogFrames, type BenchApp } from './support/syslog.js';

const APPS = 100;
const FRAMES = 10_000;
const CHUNK = 64 * 1024;
const SLICE = 10_000;
const DEFAULT_LINES = 1_000_000;
const DEFAULT_ROUNDS = 3;
const CONSUMERS = 10;
const DEADLINE_MS = 120_000;

interface Run extends Record<string, Value> {
  path: string;
  consumers: number;
  lines: number;
  seconds: number;
  linesPerSec: number;
  cpuNsPerLine: number;
  consumerLines: number;
}

/** Ten drains' receiver: counts the frames of each POST. */
async function receiver(): Promise<{ server: HttpServer; url: string; lines: () => number }> {
  let lines = 0;
  const server = createServer((req, res) => {
    lines += Number(req.headers['logplex-msg-count'] ?? 0);
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/drain`, lines: () => lines };
}

type Path = 'socket' | 'tcp' | 'publish';
const PATH_NAMES: Record<Path, string> = { socket: 'syslog TCP socket, main thread', tcp: 'syslog TCP path minus the socket', publish: 'lp.publish' };

/** A child process that writes buf `passes` times to 127.0.0.1:port, then closes. */
function socketSender(port: number, buf: Buffer, passes: number): Promise<void> {
  const script = `const s = require('node:net').connect(${port}, '127.0.0.1'); let n = 0; const chunks = []; process.stdin.on('data', (c) => chunks.push(c)); process.stdin.on('end', () => { const b = Buffer.concat(chunks); const go = () => { while (n < ${passes}) { n++; if (!s.write(b)) return s.once('drain', go); } s.end(); }; go(); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin.end(buf);
  return new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sender exited ${code}`)))));
}

async function runOnce(path: Path, consumers: number, total: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'logplane-bench-'));
  const lp: Logplane = await createLogplane({
    dataDir: dir,
    http: false,
    syslog: path === 'socket' ? { port: 0 } : false,
    logger: false,
    settings: { LOGPLANE_DRAIN_ALLOW_PRIVATE: true, LOGPLANE_API_KEY: 'bench-key-0123456789abcdef', LOGPLANE_INGEST_WORKERS: 0 },
  });
  const rx = consumers > 0 ? await receiver() : null;
  const tails: Promise<void>[] = [];
  let tailLines = 0;
  const stops: Array<() => void> = [];
  try {
    const apps: BenchApp[] = [];
    for (let i = 0; i < APPS; i++) {
      const info = await lp.apps.create(`bench-${String(i).padStart(4, '0')}`, { tokens: ['app'] });
      apps.push({ id: info.id, token: info.tokens['app']! });
    }
    for (let i = 0; i < consumers; i++) {
      await lp.drains.add(apps[i]!.id, rx!.url);
      const t = lp.tail(apps[i]!.id);
      stops.push(() => t.close());
      tails.push(
        (async () => {
          for await (const ev of t) if (ev.type === 'line') tailLines++;
        })(),
      );
    }
    // the same lines both ways: the frames for TCP, their MSG and PROCID for publish
    const { buf } = syslogFrames(apps, FRAMES);
    const msgs: { app: string; dyno: string; msg: string }[] = [];
    for (let i = 0, pos = 0; i < FRAMES; i++) {
      const sp = buf.indexOf(0x20, pos);
      const len = Number(buf.toString('latin1', pos, sp));
      const frame = buf.toString('latin1', sp + 1, sp + 1 + len);
      const f = frame.split(' ');
      msgs.push({ app: apps[i % APPS]!.id, dyno: f[4]!, msg: f.slice(7).join(' ') });
      pos = sp + 1 + len;
    }
    const server = serverOf(lp);
    const handler = new SyslogMessageHandler(server.ctx.registry.tokens, new IngestCounters(server.ctx, 'tcp'), routeMessage);
    let now = Date.now();
    const framer = new OctetFramer((b, s, e) => handler.handle(b, s, e, now), { allowLfFrames: true, skipSeparators: true });
    const chunks: Buffer[] = [];
    for (let i = 0; i < buf.length; i += CHUNK) chunks.push(buf.subarray(i, i + CHUNK));

    const passes = Math.max(1, Math.round(total / FRAMES));
    const lines = passes * FRAMES;
    const expected = consumers * (lines / APPS);
    const tcpLines = server.ctx.metrics.ingestLines.labels('tcp');
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (path === 'socket') {
      const sent = socketSender(lp.ports.syslog!, buf, passes);
      while (tcpLines.value < lines && performance.now() - t0 < DEADLINE_MS) await new Promise((r) => setTimeout(r, 1));
      await sent;
    }
    for (let p = 0; p < passes && path !== 'socket'; p++) {
      if (path === 'tcp') {
        for (const c of chunks) {
          now = Date.now();
          framer.push(c);
        }
        await new Promise((r) => setImmediate(r));
      } else {
        for (let s = 0; s < FRAMES; s += SLICE) {
          for (let i = s; i < s + SLICE; i++) {
            const m = msgs[i]!;
            lp.publish(m.app, { source: 'app', dyno: m.dyno, msg: m.msg });
          }
          await new Promise((r) => setImmediate(r));
        }
      }
    }
    while (consumers > 0 && (tailLines < expected || rx!.lines() < expected) && performance.now() - t0 < DEADLINE_MS) await new Promise((r) => setTimeout(r, 1));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      path: PATH_NAMES[path],
      consumers,
      lines,
      seconds,
      linesPerSec: lines / seconds,
      cpuNsPerLine: ((cpu.user + cpu.system) * 1000) / lines,
      consumerLines: consumers > 0 ? Math.min(tailLines, rx!.lines()) / expected : 1,
    };
  } finally {
    for (const s of stops) s();
    await Promise.all(tails);
    await lp.close();
    if (rx) await new Promise((r) => rx.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export const publishToRing: BenchCase = {
  name: 'publish_to_ring',
  about: `lp.publish vs syslog TCP ingest on the main thread (socket, and without it), in-process, ${APPS} apps, ~150-byte messages, without and with ${CONSUMERS} tails + ${CONSUMERS} drains`,
  async run(opts: CaseOptions): Promise<CaseResult> {
    const total = opts.lines ?? DEFAULT_LINES;
    const rounds = opts.rounds ?? DEFAULT_ROUNDS;
    const consumers = opts.consumers ?? CONSUMERS;
    const rows: Record<string, Value>[] = [];
    const notes: string[] = [];
    for (const c of [0, consumers]) {
      const paths: Path[] = ['socket', 'tcp', 'publish'];
      const by: Record<string, Run[]> = { socket: [], tcp: [], publish: [] };
      for (let r = 0; r < rounds; r++) {
        // turns rotate: each path goes first once in three rounds
        for (let k = 0; k < paths.length; k++) {
          const p = paths[(k + r) % paths.length]!;
          by[p]!.push(await runOnce(p, c, total));
        }
      }
      for (const p of paths) {
        const runs = by[p]!;
        const incomplete = runs.filter((x) => (x.consumerLines as number) < 1).length;
        if (incomplete) notes.push(`${p}, ${c} consumers: ${incomplete} run(s) hit the deadline before every consumer had every line`);
        rows.push({ ...runs[0]!, seconds: median(runs.map((x) => x.seconds)), linesPerSec: median(runs.map((x) => x.linesPerSec)), cpuNsPerLine: median(runs.map((x) => x.cpuNsPerLine)) });
      }
    }
    notes.push(`medians of ${rounds} rounds; CPU is this process's (with consumers: the tails' loops and the drain receiver's work too, the same for every path)`);
    return {
      columns: [
        { key: 'path', label: 'path' },
        { key: 'consumers', label: 'tails + drains' },
        { key: 'lines', label: 'lines' },
        { key: 'linesPerSec', label: 'lines/s' },
        { key: 'cpuNsPerLine', label: 'CPU', unit: 'ns/line' },
      ],
      rows,
      notes,
      extra: { apps: APPS, slice: SLICE, messageBytes: 150 },
    };
  },
};
