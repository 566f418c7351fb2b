// Scale cases (SPEC 17, bench/RESULTS.md "Scale"):
//   tails_10k:  10,000 concurrent WebSocket tails on one node (one per app):
//               server memory per tail, and ingest -> tail latency at
//               10,000 lines/s spread over the 10,000 apps (after a warm-up
//               second in which every app gets its first line, reported
//               apart: first lines cost more).
//   apps_100k:  apps created one after another through the API (16 at a
//               time), 10 lines each over syslog TCP: server memory, and the
//               latency of create and of a page of GET /v3/channels as the
//               count grows, and the server's event-loop delay over the
//               creates and over listing every app. `--lines N` sets the
//               app count (default 100,000).
//   apps_100k_redis: the same in distributed mode (one node, a local
//               redis-server without persistence).
// The server is the built one in a child process; the clients are here.
import { connect } from 'node:net';
import { performance as perf } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { BenchCase, CaseOptions, CaseResult } from './case.js';
import { cpuSeconds, memory } from './support/proc.js';
import { scrape, spawnServer, sumOf } from './support/server.js';
import { startRedis } from '../test/support/redis.js';
import { appRecords, benchApps } from './support/syslog.js';

const wall = (): number => performance.timeOrigin + performance.now();

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function json(url: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: r.status, body: parsed };
}

/** Run fn over items, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
  }));
}

export const tails10k: BenchCase = {
  name: 'tails_10k',
  about: '10,000 WebSocket tails on one node (one per app): memory per tail, ingest -> tail latency at 10,000 lines/s over all of them',
  async run(opts: CaseOptions): Promise<CaseResult> {
    const n = opts.lines ?? 10_000;
    const apps = benchApps(n);
    const srv = await spawnServer({ apps: appRecords(apps), env: { LOGPLANE_MAX_CONNECTIONS: String(n + 1000), LOGPLANE_MAX_CONNECTIONS_PER_IP: String(n + 1000), ...opts.env }, startTimeoutMs: 60_000 });
    const notes: string[] = [];
    const sockets: WebSocket[] = [];
    const lat: number[] = [];
    let gaps = 0;
    try {
      const before = memory(srv.pid).rss;
      const urls: string[] = [];
      await pool(apps, 32, async (a) => {
        const r = await json(srv.url, srv.apiKey, 'POST', '/v3/sessions', { channel_id: a.id, tail: true, num: 0 });
        urls.push(r.body.url as string);
      });
      await pool(urls, 64, async (u) => {
        const ws = new WebSocket(u.replace(/^http/, 'ws'), { perMessageDeflate: false });
        ws.on('message', (d: Buffer) => {
          const now = wall();
          const f = JSON.parse(d.toString()) as { type: string; lines?: { msg: string }[] };
          if (f.type === 'gap') gaps++;
          for (const l of f.lines ?? []) {
            const sp = l.msg.indexOf(' ');
            lat.push(now - Number(l.msg.slice(0, sp)));
          }
        });
        ws.on('error', () => {});
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('close', () => reject(new Error('closed before open')));
        });
        sockets.push(ws);
      });
      // let the server settle, then its memory with every tail open
      await new Promise((r) => setTimeout(r, 2000));
      const withTails = memory(srv.pid).rss;
      // 10,000 lines/s: 100 lines every 10 ms, round-robin over the apps, each carrying its send time
      const sock = connect({ port: srv.syslogPort, host: '127.0.0.1', noDelay: true });
      await new Promise<void>((r) => sock.once('connect', () => r()));
      const pad = 'x'.repeat(60);
      let k = 0;
      /** Send `lines` at 10,000 lines/s and wait until every one has reached its tail (or 30 s). */
      const send = async (lines: number): Promise<void> => {
        const until = lat.length + lines;
        let sent = 0;
        await new Promise<void>((resolve) => {
          const start = Date.now();
          const timer = setInterval(() => {
            const due = Math.min(lines, Math.floor(((Date.now() - start) / 1000) * 10_000));
            const parts: string[] = [];
            for (; sent < due; sent++) {
              const a = apps[k++ % apps.length]!;
              const m = `<190>1 2026-05-01T12:00:00Z host ${a.token} web.1 - ${wall().toFixed(3)} ${pad}`;
              parts.push(`${Buffer.byteLength(m)} ${m}`);
            }
            if (parts.length) sock.write(parts.join(''));
            if (sent >= lines) {
              clearInterval(timer);
              resolve();
            }
          }, 10);
        });
        const deadline = Date.now() + 30_000;
        while (lat.length < until && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      };
      // warm-up: each app's first line (its first line costs more: the app's ring page, rate counter
      // and the tail's first frame), one second of it; measured apart, then the steady window
      await send(n);
      const first = lat.splice(0);
      if (first.length < n) notes.push(`warm-up: only ${first.length} of ${n} first lines reached the tails within 30 s`);
      notes.push(`warm-up (each app's first line, ${first.length} lines): p50 ${pct(first, 50).toFixed(1)} ms, p99 ${pct(first, 99).toFixed(1)} ms, max ${pct(first, 100).toFixed(1)} ms`);
      const seconds = 5;
      const sent = seconds * 10_000;
      // who is saturated: the server's CPU and this (client) process's event-loop use over the send window
      const cpu0 = cpuSeconds(srv.pid);
      const elu0 = perf.eventLoopUtilization();
      const t0 = performance.now();
      await send(sent);
      const wallS = (performance.now() - t0) / 1000;
      const cpuUsed = cpuSeconds(srv.pid) - cpu0;
      const serverCpu = cpuUsed / wallS;
      const clientBusy = perf.eventLoopUtilization(elu0).utilization;
      sock.destroy();
      if (lat.length < sent) notes.push(`only ${lat.length} of ${sent} lines reached the tails within 30 s`);
      const perTail = (withTails - before) / n;
      return {
        columns: [
          { key: 'tails', label: 'tails' },
          { key: 'rssBefore', label: 'RSS before', unit: 'MiB', digits: 0 },
          { key: 'rssTails', label: 'RSS with tails', unit: 'MiB', digits: 0 },
          { key: 'perTail', label: 'per tail', unit: 'KiB', digits: 1 },
          { key: 'lines', label: 'lines', unit: '' },
          { key: 'p50', label: 'p50', unit: 'ms', digits: 1 },
          { key: 'p99', label: 'p99', unit: 'ms', digits: 1 },
          { key: 'max', label: 'max', unit: 'ms', digits: 1 },
          { key: 'gaps', label: 'gaps' },
          { key: 'serverCpu', label: 'server CPU', unit: 'cores', digits: 2 },
          { key: 'cpuPerLine', label: 'server CPU per line', unit: 'µs', digits: 0 },
          { key: 'clientBusy', label: 'client busy', unit: '%', digits: 0 },
        ],
        rows: [{ tails: sockets.length, rssBefore: before / 1048576, rssTails: withTails / 1048576, perTail: perTail / 1024, lines: lat.length, p50: pct(lat, 50), p99: pct(lat, 99), max: pct(lat, 100), gaps, serverCpu, cpuPerLine: (cpuUsed / Math.max(1, sent)) * 1e6, clientBusy: clientBusy * 100 }],
        notes: [...notes, 'ingest -> tail: send time in the message (this process) to its arrival in a WebSocket frame here; 10,000 lines/s for 5 s, round-robin over the apps, after a warm-up second that gave every app its first line (reported apart); server CPU = its utime+stime per wall second from the first line sent to the last received, and per line sent (ingest, routing and one WebSocket frame; a figure the load of the machine changes less); client busy = event-loop utilization of this process (the sender and every WebSocket client) over the same window: near 100% means the clients, not the server, set the latency'],
      };
    } finally {
      for (const s of sockets) s.terminate();
      await srv.kill();
    }
  },
};

/** GET /v3/channels page by page (`limit` per page) to the end: pages read and the time it took. */
async function listAll(url: string, key: string, limit: number): Promise<{ pages: number; apps: number; ms: number }> {
  const t0 = performance.now();
  let pages = 0;
  let apps = 0;
  for (let after: string | null = null; ; ) {
    const r = await json(url, key, 'GET', `/v3/channels?limit=${limit}${after === null ? '' : `&after=${encodeURIComponent(after)}`}`);
    if (r.status !== 200) throw new Error(`list: ${r.status}`);
    pages++;
    apps += (r.body.channels as unknown[]).length;
    after = r.body.next as string | null;
    if (after === null) break;
  }
  return { pages, apps, ms: performance.now() - t0 };
}

/** The server's event-loop delay p99 (ms) since its previous scrape. */
async function lagMs(url: string): Promise<number> {
  return ((await scrape(url)).get('logplane_event_loop_lag_seconds') ?? NaN) * 1000;
}

async function appsRun(n: number, env: Record<string, string>, mode: string): Promise<CaseResult> {
  const srv = await spawnServer({ apps: [], env, startTimeoutMs: 60_000 });
  const rows: Record<string, number>[] = [];
  const notes: string[] = [];
  try {
    const before = memory(srv.pid).rss;
    const step = Math.max(1, Math.floor(n / 5));
    const sock = connect({ port: srv.syslogPort, host: '127.0.0.1' });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    let made = 0;
    const started = Date.now();
    while (made < n) {
      const batch = Array.from({ length: Math.min(step, n - made) }, (_, i) => `scale-${String(made + i).padStart(6, '0')}`);
      const createMs: number[] = [];
      const tokens: string[] = [];
      await lagMs(srv.url);
      await pool(batch, 16, async (id) => {
        const t0 = performance.now();
        const r = await json(srv.url, srv.apiKey, 'PUT', `/v3/channels/${id}`, { tokens: ['app'] });
        createMs.push(performance.now() - t0);
        if (r.status !== 201) throw new Error(`create ${id}: ${r.status}`);
        tokens.push(r.body.tokens.app as string);
      });
      const createLag = await lagMs(srv.url);
      made += batch.length;
      const frames: string[] = [];
      for (const t of tokens) for (let i = 0; i < 10; i++) {
        const m = `<190>1 2026-05-01T12:00:00Z host ${t} web.1 - line ${i} ${'y'.repeat(80)}`;
        frames.push(`${Buffer.byteLength(m)} ${m}`);
      }
      await new Promise<void>((r) => (sock.write(frames.join('')) ? r() : sock.once('drain', () => r())));
      // the lists are measured once those lines are in (not while the server is still ingesting them)
      const deadline = Date.now() + 60_000;
      while (sumOf(await scrape(srv.url), 'logplane_ingest_lines_total') < made * 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const listMs: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const r = await json(srv.url, srv.apiKey, 'GET', '/v3/channels?limit=100');
        listMs.push(performance.now() - t0);
        if (r.status !== 200) throw new Error(`list: ${r.status}`);
      }
      // every app, 1,000 a page (the largest page), with the server's event-loop delay meanwhile
      await lagMs(srv.url);
      const all = await listAll(srv.url, srv.apiKey, 1000);
      const listLag = await lagMs(srv.url);
      if (all.apps !== made) notes.push(`the full list at ${made} apps returned ${all.apps}`);
      rows.push({ apps: made, elapsed: (Date.now() - started) / 1000, rss: memory(srv.pid).rss / 1048576, perApp: (memory(srv.pid).rss - before) / made, createP50: pct(createMs, 50), createP99: pct(createMs, 99), createLag, listP50: pct(listMs, 50), listP99: pct(listMs, 99), listAll: all.ms, listLag });
      process.stderr.write(`  apps (${mode}): ${made} apps, ${Math.round((Date.now() - started) / 1000)} s\n`);
    }
    sock.destroy();
  } finally {
    await srv.kill();
  }
  notes.push(`${mode}; per app = (RSS - RSS at start) / apps, 10 lines of ~150 B each in its ring (the lists are measured once they are all ingested); list = GET /v3/channels?limit=100 (first page, with stats); list all = every page at limit=1000; lag = the server's event-loop delay p99 (logplane_event_loop_lag_seconds) over the creates and over the list all`);
  return {
    columns: [
      { key: 'apps', label: 'apps' },
      { key: 'elapsed', label: 'elapsed', unit: 's', digits: 0 },
      { key: 'rss', label: 'RSS', unit: 'MiB', digits: 0 },
      { key: 'perApp', label: 'per app', unit: 'B', digits: 0 },
      { key: 'createP50', label: 'create p50', unit: 'ms', digits: 1 },
      { key: 'createP99', label: 'create p99', unit: 'ms', digits: 1 },
      { key: 'createLag', label: 'lag (creates)', unit: 'ms', digits: 1 },
      { key: 'listP50', label: 'list p50', unit: 'ms', digits: 1 },
      { key: 'listP99', label: 'list p99', unit: 'ms', digits: 1 },
      { key: 'listAll', label: 'list all', unit: 'ms', digits: 0 },
      { key: 'listLag', label: 'lag (list all)', unit: 'ms', digits: 1 },
    ],
    rows,
    notes,
  };
}

export const apps100k: BenchCase = {
  name: 'apps_100k',
  about: 'embedded mode: apps created through the API (16 at a time) with 10 lines each: memory, create and list latency, event-loop delay as the count grows (--lines = apps)',
  run: (opts: CaseOptions) => appsRun(opts.lines ?? 100_000, { ...opts.env }, 'embedded mode (config.journal appended per change, compacted into config.json)'),
};

export const apps100kRedis: BenchCase = {
  name: 'apps_100k_redis',
  about: 'distributed mode (one node, a redis-server started here without persistence): as apps_100k',
  async run(opts: CaseOptions): Promise<CaseResult> {
    const redis = await startRedis();
    try {
      return await appsRun(opts.lines ?? 100_000, { REDIS_URL: redis.url, ...opts.env }, 'distributed mode, one node on a local redis-server (no persistence)');
    } finally {
      await redis.stop();
    }
  },
};
