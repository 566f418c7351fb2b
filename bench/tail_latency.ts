// Ingest → WebSocket tail latency. Not a timed test.
//
//   node dist/bench/tail_latency.js [--quick] [--solo] [--rates=100000,200000]
//
// The server runs in this process (main thread). A generator worker sends
// RFC 5424 frames over the syslog TCP port at a fixed rate, each carrying its
// send time; a tails worker holds the WebSocket tails and measures
// receive time - send time. Both clocks are timeOrigin + now(), comparable
// across threads. Scenarios:
//   1. 100 tails over 100 apps (one each) at 10,000 and 100,000 lines/s total
//   2. one tail of one app: rising rates until the first gap or until the
//      server falls behind; reported: the most lines/s received with no gap
//      while keeping up (p99 under 100 ms). Past that, TCP backpressure slows
//      the sender before any tail queue overflows, so latency grows instead.
// Runs are short (a few seconds each): the machine is shared.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

const QUICK = process.argv.includes('--quick');
const WARMUP_MS = QUICK ? 300 : 500;
const MEASURE_MS = QUICK ? 1200 : 2500;
const RATES = process.argv.find((a) => a.startsWith('--rates='));
const SOLO_ONLY = process.argv.includes('--solo');
const LADDER = RATES
  ? RATES.slice(8).split(',').map(Number)
  : QUICK
    ? [20_000, 50_000, 100_000]
    : [20_000, 50_000, 100_000, 200_000, 300_000, 400_000, 500_000];
/** Keeping up: the p99 latency under this; beyond it the server is behind its input. */
const KEEP_UP_P99_MS = 100;
const PAD = 'x'.repeat(60);

type GenCmd = { cmd: 'run'; rate: number; ms: number; tokens: string[] } | { cmd: 'exit' };
type TailCmd = { cmd: 'connect'; urls: string[] } | { cmd: 'reset' } | { cmd: 'report' } | { cmd: 'close' };
interface TailReport {
  lines: number;
  dropped: number;
  gaps: number;
  p50: number;
  p99: number;
  max: number;
}

const wall = (): number => performance.timeOrigin + performance.now();

// ---- generator worker ----------------------------------------------------

async function generator(port: number): Promise<void> {
  const conns: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((r) => s.once('connect', () => r()));
    conns.push(s);
  }
  parentPort!.on('message', async (m: GenCmd) => {
    if (m.cmd === 'exit') {
      for (const c of conns) c.destroy();
      parentPort!.postMessage({ done: true });
      return;
    }
    // one frame template per app; the 17-character send time is written per tick
    const templates = m.tokens.map((t) => {
      const body = `<190>1 2024-05-01T12:00:00Z bench ${t} web.1 - - t=00000000000000.000 ${PAD}`;
      return Buffer.from(`${Buffer.byteLength(body)} ${body}`, 'latin1');
    });
    const tsOffset = templates[0]!.indexOf('t=0') + 2;
    const frameLen = templates[0]!.length; // tokens have one length
    const start = wall();
    let sent = 0;
    let app = 0;
    let blocked = 0;
    while (wall() - start < m.ms) {
      const due = Math.floor((m.rate * (wall() - start)) / 1000) - sent;
      if (due > 0) {
        const stamp = wall().toFixed(3).padStart(17, '0');
        const per: Buffer[] = conns.map(() => Buffer.allocUnsafe(due * frameLen));
        const pos = conns.map(() => 0);
        for (let k = 0; k < due; k++) {
          const c = app % conns.length;
          const b = per[c]!;
          const p = pos[c]!;
          templates[app]!.copy(b, p);
          b.write(stamp, p + tsOffset, 'latin1');
          pos[c] = p + frameLen;
          app = app + 1 === templates.length ? 0 : app + 1;
        }
        let full = false;
        for (let c = 0; c < conns.length; c++) if (pos[c]! > 0 && !conns[c]!.write(per[c]!.subarray(0, pos[c]))) full = true;
        sent += due;
        if (full) {
          blocked++;
          await Promise.all(conns.map((c) => (c.writableNeedDrain ? new Promise((r) => c.once('drain', r)) : null)));
        }
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    parentPort!.postMessage({ sent, ms: wall() - start, blocked });
  });
  parentPort!.postMessage({ ready: true });
}

// ---- tails worker ---------------------------------------------------------

function tails(): void {
  let socks: WebSocket[] = [];
  let samples = new Float64Array(1 << 20);
  let n = 0;
  let lines = 0;
  let dropped = 0;
  let gaps = 0;
  const onMessage = (data: Buffer): void => {
    const now = wall();
    const m = JSON.parse(data.toString('utf8')) as { type: string; lines?: { msg: string }[]; dropped?: number };
    if (m.type === 'lines') {
      for (const l of m.lines!) {
        lines++;
        const sentAt = Number(l.msg.slice(2, 19));
        if (n === samples.length) {
          const next = new Float64Array(samples.length * 2);
          next.set(samples);
          samples = next;
        }
        samples[n++] = now - sentAt;
      }
    } else if (m.type === 'gap') {
      gaps++;
      dropped += m.dropped!;
    }
  };
  parentPort!.on('message', async (m: TailCmd) => {
    switch (m.cmd) {
      case 'connect':
        socks = await Promise.all(
          m.urls.map(
            (u) =>
              new Promise<WebSocket>((resolve, reject) => {
                const ws = new WebSocket(u.replace(/^http/, 'ws'), { perMessageDeflate: false });
                ws.on('message', onMessage);
                ws.once('open', () => resolve(ws));
                ws.once('error', reject);
              }),
          ),
        );
        parentPort!.postMessage({ connected: socks.length });
        break;
      case 'reset':
        n = lines = dropped = gaps = 0;
        parentPort!.postMessage({ reset: true });
        break;
      case 'report': {
        const s = samples.subarray(0, n).sort();
        const pct = (p: number) => (n === 0 ? NaN : s[Math.min(n - 1, Math.floor(p * n))]!);
        const r: TailReport = { lines, dropped, gaps, p50: pct(0.5), p99: pct(0.99), max: n ? s[n - 1]! : NaN };
        parentPort!.postMessage(r);
        break;
      }
      case 'close':
        for (const ws of socks) ws.close();
        socks = [];
        parentPort!.postMessage({ closed: true });
        break;
    }
  });
}

// ---- main -----------------------------------------------------------------

function ask<T>(w: Worker, msg: unknown): Promise<T> {
  return new Promise((resolve) => {
    w.once('message', (r: T) => resolve(r));
    w.postMessage(msg);
  });
}

async function main(): Promise<void> {
  const { loadConfig } = await import('../src/config.js');
  const { Server } = await import('../src/server.js');
  const { silentLog } = await import('../src/obs/log.js');

  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-bench-'));
  const config = loadConfig([], { LOGPLANE_PORT: '0', LOGPLANE_DATA_DIR: dataDir, LOGPLANE_LOG_LEVEL: 'silent' });
  const server = await Server.start(config, { log: silentLog(), anyFreeSyslogPorts: true, noRestore: true });
  const service = server.tails;
  const reg = server.ctx.registry;

  const apps: string[] = [];
  const tokens: string[] = [];
  for (let i = 0; i < 100; i++) {
    const id = `bench-${String(i).padStart(3, '0')}`;
    const { app } = await reg.putApp(id, ['app']);
    apps.push(id);
    tokens.push(app.record.tokens[0]!.token);
  }
  const solo = (await reg.putApp('bench-solo', ['app'])).app;
  const soloToken = solo.record.tokens[0]!.token;

  const url = async (app: string) => `${server.url}/sessions/${(await service.createSession(reg.require(app), { num: 0, tail: true, source: null, dyno: null, grep: null, after: null })).id}`;
  const self = new URL(import.meta.url);
  const gen = new Worker(self, { workerData: { role: 'gen', port: server.ports.syslog } });
  const tw = new Worker(self, { workerData: { role: 'tails' } });
  await new Promise((r) => gen.once('message', r));

  const measure = async (rate: number, toks: string[]): Promise<{ rep: TailReport; sentRate: number; recvRate: number }> => {
    // warm up at the rate, then measure
    await ask(gen, { cmd: 'run', rate, ms: WARMUP_MS, tokens: toks });
    await new Promise((r) => setTimeout(r, 100));
    await ask(tw, { cmd: 'reset' });
    const g = await ask<{ sent: number; ms: number }>(gen, { cmd: 'run', rate, ms: MEASURE_MS, tokens: toks });
    await new Promise((r) => setTimeout(r, 300)); // let in-flight lines land
    const rep = await ask<TailReport>(tw, { cmd: 'report' });
    return { rep, sentRate: (g.sent / g.ms) * 1000, recvRate: (rep.lines / g.ms) * 1000 };
  };

  const rows: string[][] = [];
  const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');

  if (!SOLO_ONLY) {
    await ask(tw, { cmd: 'connect', urls: apps.map(url) });
    for (const rate of [10_000, 100_000]) {
      const r = await measure(rate, tokens);
      rows.push([`100 tails / 100 apps @ ${rate / 1000}k/s`, fmt(r.sentRate), fmt(r.recvRate), String(r.rep.dropped), fmt(r.rep.p50, 2), fmt(r.rep.p99, 2), fmt(r.rep.max, 1)]);
    }
    await ask(tw, { cmd: 'close' });
    // many viewers of one app: one frame per tick, encoded once, sent to each
    await ask(tw, { cmd: 'connect', urls: await Promise.all(Array.from({ length: 100 }, () => url('bench-solo'))) });
    for (const rate of [1_000, 5_000]) {
      const r = await measure(rate, [soloToken]);
      rows.push([`100 tails / 1 app @ ${rate / 1000}k/s`, fmt(r.sentRate), fmt(r.recvRate), String(r.rep.dropped), fmt(r.rep.p50, 2), fmt(r.rep.p99, 2), fmt(r.rep.max, 1)]);
    }
    await ask(tw, { cmd: 'close' });
  }

  await ask(tw, { cmd: 'connect', urls: [await url('bench-solo')] });
  let best: { rate: number; recv: number; p99: number } | null = null;
  for (const rate of LADDER) {
    const r = await measure(rate, [soloToken]);
    const ok = r.rep.dropped === 0 && r.sentRate >= rate * 0.9 && r.rep.p99 < KEEP_UP_P99_MS;
    rows.push([`1 tail / 1 app @ ${rate / 1000}k/s`, fmt(r.sentRate), fmt(r.recvRate), String(r.rep.dropped), fmt(r.rep.p50, 2), fmt(r.rep.p99, 2), fmt(r.rep.max, 1)]);
    if (r.rep.dropped > 0) break;
    if (ok) best = { rate, recv: r.recvRate, p99: r.rep.p99 };
    if (!ok) break; // the generator cannot go faster, or the server is behind
  }
  await ask(tw, { cmd: 'close' });

  const head = ['scenario', 'sent lines/s', 'recv lines/s', 'dropped', 'p50 ms', 'p99 ms', 'max ms'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log(
    best
      ? `\nOne tail of one app, no gap and keeping up (p99 < ${KEEP_UP_P99_MS} ms): ${best.recv.toFixed(0)} lines/s received (offered ${best.rate / 1000}k/s, p99 ${best.p99.toFixed(2)} ms).`
      : '\nOne tail of one app: a gap already at the lowest rate tried.',
  );
  console.log(`node ${process.version}, ${QUICK ? 'quick' : 'normal'} run: warm-up ${WARMUP_MS} ms + ${MEASURE_MS} ms per row.`);

  await ask(gen, { cmd: 'exit' });
  await gen.terminate();
  await tw.terminate();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else if ((workerData as { role: string }).role === 'gen') {
  void generator((workerData as { port: number }).port);
} else {
  tails();
}
