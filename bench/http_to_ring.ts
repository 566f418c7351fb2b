// End-to-end: Logplex HTTP input (POST /logs) into the rings of the BUILT
// server (a child process). 1,000 apps with one token each; pre-built bodies
// of 500 octet-counted ~150-byte RFC 5424 frames (Content-Type
// application/logplex-1, Logplex-Msg-Count, Basic auth with the app's token
// as password, request i for app i % 1,000); one sender worker thread keeps
// one request in flight on each of 4 and of 16 kept-alive connections, 3
// rounds (--rounds N), medians per connection count. As in
// syslog_tcp_vs_rsyslog, one HTTP drain and one WebSocket tail run on each of
// 10 of the apps (the HTTP ingest target: 1,000,000 lines/s); `--consumers 0`
// runs none, as syslog_tcp_to_ring (the HTTP/TCP comparison).
//
// Measured: 6,000,000 lines per run; wall time and the server's CPU time of
// the steady state, from the first /metrics poll that shows 1,500,000 lines
// ingested (--warmup N; the rings are full by then, bench/support/steady.ts)
// until the last response (every 204 is sent after its body is routed), and
// of the whole run from 'go'; lines from /metrics
// logplane_ingest_lines_total{transport="http"}; the server's peak RSS.
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { BenchCase, CaseOptions, CaseResult, Value } from './case.js';
import { attachConsumers, type Consumers } from './support/consumers.js';
import type { HttpSenderData, HttpSenderMessage } from './support/http_sender.js';
import { median, pollUntil } from './support/poll.js';
import { DEFAULT_WARMUP, figures, SteadyMark } from './support/steady.js';
import { cpuSeconds, memory } from './support/proc.js';
import { scrape, spawnServer, sumOf } from './support/server.js';
import { appRecords, benchApps, logplexBody, MESSAGE_BYTES } from './support/syslog.js';

const APPS = 1000;
const LINES_PER_BODY = 500;
const BODIES = 8;
/**
 * Concurrent shippers, one request in flight each. log-shuttle (Heroku's
 * shipper) runs 4 outlets per dyno, so 4 is one dyno and 16 four of them; the
 * target is judged on 16 (an ingest tier serves many dynos at once).
 */
const CONNECTIONS = [4, 16];
const TARGET_CONNECTIONS = 16;
const DEFAULT_ROUNDS = 3;
const DEFAULT_LINES = 6_000_000;
const CONSUMED_APPS = 10;
const DEADLINE_MS = 90_000;
const CONSUMER_GRACE_MS = 5_000;
const POLL_MS = 50;
const HTTP_LINES = 'logplane_ingest_lines_total{transport="http"}';
const TARGET_LINES_PER_SEC = 1_000_000;
const MB = 1024 * 1024;

type Done = Extract<HttpSenderMessage, { type: 'done' }>;

async function runOnce(connections: number, totalLines: number, warmupLines: number, consumed: number, env: Record<string, string>, notes: string[]): Promise<Record<string, Value>> {
  const apps = benchApps(APPS);
  const bodies = Array.from({ length: BODIES }, (_, v) => logplexBody(LINES_PER_BODY, v));
  const auths = apps.map((a) => `Basic ${Buffer.from(`token:${a.token}`).toString('base64')}`);
  const requests = Math.max(1, Math.ceil(totalLines / LINES_PER_BODY));
  const expected = requests * LINES_PER_BODY;
  const server = await spawnServer({ apps: appRecords(apps), env: { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', ...env } });
  let worker: Worker | null = null;
  let consumers: Consumers | null = null;
  try {
    consumers = await attachConsumers(server, apps.slice(0, consumed).map((a) => a.id));
    notes.push(...consumers.notes);
    const w = new Worker(new URL('./support/http_sender.js', import.meta.url), {
      workerData: { port: Number(new URL(server.url).port), bodies, linesPerBody: LINES_PER_BODY, auths, requests, connections } satisfies HttpSenderData,
    });
    worker = w;
    const done = new Promise<Done>((resolve, reject) => {
      w.on('message', (m: HttpSenderMessage) => {
        if (m.type === 'done') resolve(m);
        else if (m.type === 'error') reject(new Error(`http sender: ${m.message}`));
      });
      w.once('error', reject);
    });
    done.catch(() => undefined); // awaited below; an early failure surfaces through 'ready'
    await new Promise<void>((resolve, reject) => {
      w.on('message', (m: HttpSenderMessage) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error') reject(new Error(`http sender: ${m.message}`));
      });
      w.once('error', reject);
    });
    const before = await scrape(server.url);
    const base = before.get(HTTP_LINES) ?? 0;
    const droppedBase = sumOf(before, 'logplane_ingest_dropped_total');
    const cpu0 = cpuSeconds(server.pid);
    const steady = new SteadyMark(server.pid, Math.min(warmupLines, Math.floor(expected / 2)));
    let sent = false;
    const t0 = performance.now();
    w.postMessage('go');
    // the window opens at the first poll that sees the warm-up ingested (every 204 is sent after its body is routed)
    const marking = pollUntil(
      async () => {
        const m = await scrape(server.url);
        const ingested = (m.get(HTTP_LINES) ?? 0) - base;
        steady.see(ingested, ingested + sumOf(m, 'logplane_ingest_dropped_total') - droppedBase);
      },
      () => sent || steady.mark !== null,
      { intervalMs: POLL_MS, deadlineMs: DEADLINE_MS, t0 },
    );
    let timer: NodeJS.Timeout | undefined;
    const d = await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`http sender not done within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
      }),
    ]).finally(() => {
      clearTimeout(timer);
      sent = true;
    });
    const t1 = performance.now();
    const cpu1 = cpuSeconds(server.pid);
    await marking;
    const mem = memory(server.pid);
    const after = await scrape(server.url);
    const lines = (after.get(HTTP_LINES) ?? 0) - base;
    const dropped = sumOf(after, 'logplane_ingest_dropped_total') - droppedBase;
    const f = figures(t0, cpu0, steady.mark, { at: t1, cpu: cpu1, lines });
    const non204 = Object.entries(d.statuses).filter(([s]) => s !== '204');
    if (non204.length) notes.push(`${connections} conn: answers other than 204: ${non204.map(([s, n]) => `${n} x ${s}`).join(', ')}`);
    if (lines !== expected) notes.push(`${connections} conn: /metrics counted ${lines} lines for ${expected} sent`);
    // Request i (and warm-up request c) goes to app i % APPS; the consumed apps are the first ones.
    const bodiesFor = (n: number): number => Math.floor(n / APPS) * consumed + Math.min(n % APPS, consumed);
    const consumedExpected = (bodiesFor(requests) + bodiesFor(connections)) * LINES_PER_BODY;
    const c = consumers;
    await pollUntil(() => null, () => (c.drains === 0 || c.drainLines() >= consumedExpected) && c.tailLines() + c.tailDropped() >= consumedExpected, { intervalMs: POLL_MS, deadlineMs: CONSUMER_GRACE_MS });
    if (c.tailLines() < consumedExpected) notes.push(`${connections} conn: tails received ${c.tailLines()} of ${consumedExpected} lines within ${CONSUMER_GRACE_MS / 1000} s after ingest`);
    if (c.drains > 0 && c.drainLines() < consumedExpected) notes.push(`${connections} conn: drains delivered ${c.drainLines()} of ${consumedExpected} lines within ${CONSUMER_GRACE_MS / 1000} s after ingest`);
    return {
      variant: `${connections} connections`,
      lines: f.lines,
      requests: d.requests,
      seconds: f.seconds,
      linesPerSec: f.linesPerSec,
      mbPerSec: (f.lines * MESSAGE_BYTES) / MB / f.seconds,
      reqPerSec: f.linesPerSec / LINES_PER_BODY,
      serverCpuSec: f.cpuSec,
      linesPerCpuSec: f.linesPerCpuSec,
      serverCpuPct: f.cpuPct,
      wholeLinesPerCpuSec: f.wholeLinesPerCpuSec,
      peakRssMb: mem.peakRss / MB,
      senderBusyPct: 100 * d.busy,
      consumedExpected,
      drainLines: c.drains > 0 ? c.drainLines() : null,
      tailLines: c.tailLines(),
      dropped,
      load1: loadavg()[0]!,
    };
  } finally {
    await worker?.terminate();
    await consumers?.close();
    await server.kill();
  }
}

export const httpToRing: BenchCase = {
  name: 'http_to_ring',
  about: `built server (child process), ${APPS} apps, POST /logs with ${LINES_PER_BODY}-line octet-counted bodies over kept-alive connections into the rings; ${CONSUMED_APPS} drains + ${CONSUMED_APPS} tails (--consumers N)`,
  async run(opts: CaseOptions): Promise<CaseResult> {
    const lines = opts.lines ?? DEFAULT_LINES;
    const rows: Record<string, Value>[] = [];
    const notes: string[] = [];
    const rounds = opts.rounds ?? DEFAULT_ROUNDS;
    const consumed = opts.consumers ?? CONSUMED_APPS;
    const runs = new Map<number, Record<string, Value>[]>(CONNECTIONS.map((c) => [c, []]));
    for (let r = 1; r <= rounds; r++) {
      for (const c of CONNECTIONS) {
        const row = await runOnce(c, lines, opts.warmup ?? DEFAULT_WARMUP, consumed, opts.env, notes);
        row.variant = `${c} connections #${r}`;
        runs.get(c)!.push(row);
        rows.push(row);
      }
    }
    const medians = new Map<number, number>();
    for (const c of CONNECTIONS) {
      const rs = runs.get(c)!;
      const m = median(rs.map((x) => x.linesPerSec as number));
      medians.set(c, m);
      rows.push({ variant: `${c} connections median`, linesPerSec: m, reqPerSec: median(rs.map((x) => x.reqPerSec as number)), linesPerCpuSec: median(rs.map((x) => x.linesPerCpuSec as number)), serverCpuPct: median(rs.map((x) => x.serverCpuPct as number)) });
    }
    const judged = medians.get(TARGET_CONNECTIONS)!;
    notes.push(`target: >= ${TARGET_LINES_PER_SEC.toLocaleString('en-US')} lines/s with ${TARGET_CONNECTIONS} connections (median of ${rounds}): ${Math.round(judged).toLocaleString('en-US')} (${(judged / TARGET_LINES_PER_SEC).toFixed(2)}x)`);
    notes.push(`lines, wall, lines/s, req/s, server CPU and lines/CPU-s are of the steady state: from the first poll that saw ${Math.min(opts.warmup ?? DEFAULT_WARMUP, lines / 2).toLocaleString('en-US')} lines ingested (--warmup N; the rings hold 1,500,000) to the last 204 (bench/support/steady.ts); "whole run" counts from the first request`);
    notes.push(`drain/tail lines: received of "for drained" (the lines sent to the ${consumed} consumed apps, warm-up requests included); sender busy = event-loop utilisation of the sender thread`);
    const envs = Object.entries(opts.env);
    if (envs.length) notes.push(`logplane env: ${envs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
    return {
      columns: [
        { key: 'variant', label: 'variant' },
        { key: 'lines', label: 'lines' },
        { key: 'seconds', label: 'wall', unit: 's', digits: 2 },
        { key: 'linesPerSec', label: 'lines/s' },
        { key: 'mbPerSec', label: 'MiB/s', digits: 1 },
        { key: 'reqPerSec', label: 'req/s' },
        { key: 'serverCpuSec', label: 'server CPU', unit: 's', digits: 2 },
        { key: 'linesPerCpuSec', label: 'lines/CPU-s' },
        { key: 'wholeLinesPerCpuSec', label: 'whole run lines/CPU-s' },
        { key: 'serverCpuPct', label: 'server CPU', unit: '%' },
        { key: 'peakRssMb', label: 'peak RSS', unit: 'MiB' },
        { key: 'senderBusyPct', label: 'sender busy', unit: '%' },
        { key: 'consumedExpected', label: 'for drained' },
        { key: 'drainLines', label: 'drain lines' },
        { key: 'tailLines', label: 'tail lines' },
        { key: 'dropped', label: 'dropped' },
        { key: 'load1', label: 'load1', digits: 2 },
      ],
      rows,
      notes,
      extra: { rounds, consumers: consumed, connections: CONNECTIONS, medians: Object.fromEntries(medians), apps: APPS, linesPerBody: LINES_PER_BODY, bodies: BODIES, messageBytes: MESSAGE_BYTES, env: opts.env },
    };
  },
};
