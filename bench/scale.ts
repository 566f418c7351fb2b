// Scale cases (SPEC 17, bench/RESULTS.md "Scale"):
//   tails_10k:  10,000 concurrent WebSocket tails on one node (one per app):
//               server memory per tail, and ingest -> tail latency at
//               10,000 lines/s spread over the 10,000 apps.
//   apps_100k:  apps created one after another through the API (16 at a
//               time), 10 lines each over syslog TCP: server memory, and the
//               latency of create and of a page of GET /v3/channels as the
//               count grows. `--lines N` sets the app count (default 100,000).
// The server is the built one in a child process; the clients are here.
import { connect } from 'node:net';
import WebSocket from 'ws';
import type { BenchCase, CaseOptions, CaseResult } from './case.js';
import { memory } from './support/proc.js';
import { spawnServer } from './support/server.js';
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
      const seconds = 5;
      let sent = 0;
      let k = 0;
      const pad = 'x'.repeat(60);
      await new Promise<void>((resolve) => {
        const start = Date.now();
        const timer = setInterval(() => {
          const due = Math.min(seconds * 10_000, Math.floor(((Date.now() - start) / 1000) * 10_000));
          const parts: string[] = [];
          for (; sent < due; sent++) {
            const a = apps[k++ % apps.length]!;
            const m = `<190>1 2026-05-01T12:00:00Z host ${a.token} web.1 - ${wall().toFixed(3)} ${pad}`;
            parts.push(`${Buffer.byteLength(m)} ${m}`);
          }
          if (parts.length) sock.write(parts.join(''));
          if (sent >= seconds * 10_000) {
            clearInterval(timer);
            resolve();
          }
        }, 10);
      });
      const deadline = Date.now() + 30_000;
      while (lat.length < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
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
        ],
        rows: [{ tails: sockets.length, rssBefore: before / 1048576, rssTails: withTails / 1048576, perTail: perTail / 1024, lines: lat.length, p50: pct(lat, 50), p99: pct(lat, 99), max: pct(lat, 100), gaps }],
        notes: [...notes, 'ingest -> tail: send time in the message (this process) to its arrival in a WebSocket frame here; 10,000 lines/s for 5 s, round-robin over the apps'],
      };
    } finally {
      for (const s of sockets) s.terminate();
      await srv.kill();
    }
  },
};

export const apps100k: BenchCase = {
  name: 'apps_100k',
  about: 'apps created through the API (16 at a time) with 10 lines each: memory, create and list latency as the count grows (--lines = apps)',
  async run(opts: CaseOptions): Promise<CaseResult> {
    const n = opts.lines ?? 100_000;
    const srv = await spawnServer({ apps: [], env: { ...opts.env }, startTimeoutMs: 60_000 });
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
        await pool(batch, 16, async (id) => {
          const t0 = performance.now();
          const r = await json(srv.url, srv.apiKey, 'PUT', `/v3/channels/${id}`, { tokens: ['app'] });
          createMs.push(performance.now() - t0);
          if (r.status !== 201) throw new Error(`create ${id}: ${r.status}`);
          tokens.push(r.body.tokens.app as string);
        });
        made += batch.length;
        const frames: string[] = [];
        for (const t of tokens) for (let i = 0; i < 10; i++) {
          const m = `<190>1 2026-05-01T12:00:00Z host ${t} web.1 - line ${i} ${'y'.repeat(80)}`;
          frames.push(`${Buffer.byteLength(m)} ${m}`);
        }
        await new Promise<void>((r) => (sock.write(frames.join('')) ? r() : sock.once('drain', () => r())));
        const listMs: number[] = [];
        for (let i = 0; i < 20; i++) {
          const t0 = performance.now();
          const r = await json(srv.url, srv.apiKey, 'GET', '/v3/channels?limit=100');
          listMs.push(performance.now() - t0);
          if (r.status !== 200) throw new Error(`list: ${r.status}`);
        }
        rows.push({ apps: made, elapsed: (Date.now() - started) / 1000, rss: memory(srv.pid).rss / 1048576, perApp: (memory(srv.pid).rss - before) / made, createP50: pct(createMs, 50), createP99: pct(createMs, 99), listP50: pct(listMs, 50), listP99: pct(listMs, 99) });
        process.stderr.write(`  apps_100k: ${made} apps, ${Math.round((Date.now() - started) / 1000)} s\n`);
      }
      sock.destroy();
    } finally {
      await srv.kill();
    }
    notes.push('embedded mode (config.json rewritten per change, group-committed); per app = (RSS - RSS at start) / apps, 10 lines of ~150 B each in its ring; list = GET /v3/channels?limit=100 (first page, with stats)');
    return {
      columns: [
        { key: 'apps', label: 'apps' },
        { key: 'elapsed', label: 'elapsed', unit: 's', digits: 0 },
        { key: 'rss', label: 'RSS', unit: 'MiB', digits: 0 },
        { key: 'perApp', label: 'per app', unit: 'B', digits: 0 },
        { key: 'createP50', label: 'create p50', unit: 'ms', digits: 1 },
        { key: 'createP99', label: 'create p99', unit: 'ms', digits: 1 },
        { key: 'listP50', label: 'list p50', unit: 'ms', digits: 1 },
        { key: 'listP99', label: 'list p99', unit: 'ms', digits: 1 },
      ],
      rows,
      notes,
    };
  },
};
