// Drain throughput: lines/s delivered to a local HTTPS receiver and to a local
// syslog (TCP) receiver, with one drain and with 100 drains on the same app
// (every line offered to every drain, as route() does). The receivers run in a
// worker thread (their own event loop), the drains on the main thread.
//
//   node dist/bench/drain_throughput.js [--seconds 3] [--case https_x1,...]
//
// The producer keeps each drain's queue at most half full, so the figure is
// delivery throughput, not overflow; drops are reported if any happen.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { defaults } from '../src/config.js';
import { DrainBudget } from '../src/drains/budget.js';
import type { Drain } from '../src/drains/drain.js';
import { createDrain } from '../src/drains/manager.js';
import { parseDrainUrl } from '../src/drains/url.js';
import { lineFrom } from '../src/line.js';

/** One row of results. */
export interface DrainBenchRow {
  case: string;
  kind: string;
  drains: number;
  seconds: number;
  delivered: number;
  linesPerSec: number;
  mbPerSec: number;
  dropped: number;
  received: number;
}

/** The producer keeps each drain at most QUEUE / 2 lines deep (well within its byte share). */
const QUEUE = 10_000;
const MSG = `at=info method=GET path="/api/v1/items?page=2" host=example.herokuapp.com request_id=3f1c2b9e-1d2a fwd="203.0.113.9" dyno=web.1 connect=1ms service=12ms status=200 bytes=1543`;

function makeCert(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'logplane-bench-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem',
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'pipe' });
    return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The receivers: HTTPS answers 200 and counts Logplex-Msg-Count; syslog counts bytes.
const RECEIVER = `
const { parentPort, workerData } = require('node:worker_threads');
const https = require('node:https');
const net = require('node:net');
let httpFrames = 0, syslogBytes = 0;
const h = https.createServer({ cert: workerData.cert, key: workerData.key, keepAliveTimeout: 60000 }, (req, res) => {
  httpFrames += Number(req.headers['logplex-msg-count'] || 0);
  req.on('data', () => {});
  req.on('end', () => { res.writeHead(200, { 'Content-Length': '0' }); res.end(); });
});
const s = net.createServer((sock) => { sock.on('data', (d) => { syslogBytes += d.length; }); sock.on('error', () => {}); });
h.listen(0, '127.0.0.1', () => s.listen(0, '127.0.0.1', () => parentPort.postMessage({ https: h.address().port, syslog: s.address().port })));
parentPort.on('message', (m) => {
  if (m === 'count') parentPort.postMessage({ httpFrames, syslogBytes });
  if (m === 'reset') { httpFrames = 0; syslogBytes = 0; parentPort.postMessage({ ok: true }); }
});
`;

class Receivers {
  readonly #w: Worker;
  ports: { https: number; syslog: number } = { https: 0, syslog: 0 };
  constructor(cert: { cert: string; key: string }) {
    this.#w = new Worker(RECEIVER, { eval: true, workerData: cert });
  }
  async start(): Promise<void> {
    this.ports = await this.#next<{ https: number; syslog: number }>();
  }
  #next<T>(): Promise<T> {
    return new Promise((resolve) => this.#w.once('message', resolve));
  }
  async count(): Promise<{ httpFrames: number; syslogBytes: number }> {
    const p = this.#next<{ httpFrames: number; syslogBytes: number }>();
    this.#w.postMessage('count');
    return p;
  }
  async reset(): Promise<void> {
    const p = this.#next();
    this.#w.postMessage('reset');
    await p;
  }
  stop(): Promise<number> {
    return this.#w.terminate();
  }
}

async function runCase(name: string, kind: 'https' | 'syslog', n: number, seconds: number, rx: Receivers, ca: string): Promise<DrainBenchRow> {
  await rx.reset();
  const url = kind === 'https' ? `https://127.0.0.1:${rx.ports.https}/logs` : `syslog://127.0.0.1:${rx.ports.syslog}`;
  const drains: Drain[] = [];
  // the default per-drain cap and node budget, shared as in a server
  const budget = new DrainBudget({ limitBytes: defaults.drainBudgetBytes, perDrainBytes: defaults.drainQueueBytes });
  for (let i = 0; i < n; i++) {
    drains.push(createDrain({
      id: `bench-${i}`, token: `d.00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, target: parseDrainUrl(url),
      queueBytes: defaults.drainQueueBytes, burstBytes: defaults.drainBurstBytes, budget, retries: 3, backoffBaseMs: 100, backoffMaxMs: 1000, connectTimeoutMs: 3000, responseTimeoutMs: 5000,
      reconnectBaseMs: 100, reconnectMaxMs: 1000, allowPrivate: true, ca,
    }));
  }
  const line = lineFrom({ pri: 190, ts: '2024-05-06T07:08:09.123456+00:00', source: 'app', dyno: 'router', msg: MSG });
  let offered = 0;
  let running = true;
  const produce = () => {
    if (!running) return;
    let room = QUEUE / 2;
    for (const d of drains) room = Math.min(room, QUEUE / 2 - d.depth);
    for (let i = 0; i < room; i++) {
      for (let k = 0; k < drains.length; k++) drains[k]!.offer(line);
    }
    offered += Math.max(room, 0);
    setImmediate(produce);
  };
  // warm-up: connections open, first batches out
  produce();
  await new Promise((r) => setTimeout(r, 300));
  const base = drains.reduce((s, d) => s + d.status().delivered, 0);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const delivered = drains.reduce((s, d) => s + d.status().delivered, 0) - base;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  const dropped = drains.reduce((s, d) => s + d.status().dropped, 0);
  for (const d of drains) await d.flush(5000);
  const c = await rx.count();
  // syslog frame: "LEN <190>1 TS d.token app router - - MSG\n"
  const sysMsg = `<190>1 2024-05-06T07:08:09.123456+00:00 ${drains[0]!.token} app router - - ${MSG}\n`;
  const sysFrame = Buffer.byteLength(`${Buffer.byteLength(sysMsg)} ${sysMsg}`);
  const received = kind === 'https' ? c.httpFrames : Math.round(c.syslogBytes / sysFrame);
  for (const d of drains) d.destroy();
  const rate = delivered / elapsed;
  const bytesPerLine = kind === 'https' ? Buffer.byteLength(`<190>1 2024-05-06T07:08:09.123456+00:00 host app router - ${MSG}\n`) + 4 : sysFrame;
  return {
    case: name, kind, drains: n, seconds: Number(elapsed.toFixed(2)), delivered, linesPerSec: Math.round(rate),
    mbPerSec: Number(((rate * bytesPerLine) / 1e6).toFixed(1)), dropped, received,
  };
}

const CASES: Array<{ name: string; kind: 'https' | 'syslog'; n: number }> = [
  { name: 'https_x1', kind: 'https', n: 1 },
  { name: 'https_x100', kind: 'https', n: 100 },
  { name: 'syslog_x1', kind: 'syslog', n: 1 },
  { name: 'syslog_x100', kind: 'syslog', n: 100 },
];

export async function drainThroughput(opts: { seconds?: number; cases?: string[] } = {}): Promise<DrainBenchRow[]> {
  const seconds = opts.seconds ?? 3;
  const cert = makeCert();
  const rx = new Receivers(cert);
  await rx.start();
  const rows: DrainBenchRow[] = [];
  try {
    for (const c of CASES) {
      if (opts.cases && !opts.cases.includes(c.name)) continue;
      rows.push(await runCase(c.name, c.kind, c.n, seconds, rx, cert.cert));
    }
  } finally {
    await rx.stop();
  }
  return rows;
}

function table(rows: DrainBenchRow[]): string {
  const head = ['case', 'drains', 'seconds', 'lines delivered', 'lines/s (all drains)', 'MB/s', 'dropped'];
  const body = rows.map((r) => [r.case, String(r.drains), r.seconds.toFixed(2), String(r.delivered), String(r.linesPerSec), r.mbPerSec.toFixed(1), String(r.dropped)]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  return [fmt(head), `|${w.map((x, i) => (i === 0 ? `:${'-'.repeat(x + 1)}` : `${'-'.repeat(x + 1)}:`)).join('|')}|`, ...body.map(fmt)].join('\n');
}

async function main(argv: string[]): Promise<void> {
  let seconds = 3;
  let cases: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--seconds') seconds = Number(argv[++i]);
    else if (a === '--case') cases = (argv[++i] ?? '').split(',');
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node dist/bench/drain_throughput.js [--seconds N] [--case https_x1,https_x100,syslog_x1,syslog_x100]\n');
      return;
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(seconds > 0 && seconds <= 60)) throw new Error('--seconds must be 0-60');
  const before = loadavg()[0]!;
  const rows = await drainThroughput({ seconds, ...(cases ? { cases } : {}) });
  process.stdout.write(`${table(rows)}\n\nload average ${before.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end; node ${process.version}\n`);
  for (const r of rows) {
    if (r.dropped > 0) process.stdout.write(`note: ${r.case} dropped ${r.dropped} lines\n`);
    if (r.received < r.delivered) process.stdout.write(`note: ${r.case}: receiver counted ${r.received} < delivered ${r.delivered}\n`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`drain_throughput: ${err.message}\n`);
    process.exit(1);
  });
}
