// `npm run soak -- --minutes N [--rate LINES_PER_S]`: a long run of the built
// server under steady load and churn, printing once a minute the server's
// RSS, event-loop lag p99 and the loss ledger.
//
//   load:   half the measured capacity (a 3 s probe at start; or --rate),
//           split between syslog TCP and POST /logs, over 10 apps
//   drains: one HTTP drain on each of the 10 apps: 8 healthy, 1 failing
//           (500), 1 slow (answers after 300 ms)
//   tails:  20 WebSocket tails (2 per app), one of them stalled (never reads)
//   churn:  every second a new syslog connection replaces an old one, and an
//           app is created, written to and deleted
//   ledger: per drain, lines routed to its app = delivered + dropped (L10)
//           + still queued; per reading tail, lines received + gap counts =
//           lines routed. Checked every minute (the in-flight part is what
//           moves) and exactly at the end once the load stops.
import { connect, type Socket } from 'node:net';
import { createServer, type Server as HttpServer } from 'node:http';
import WebSocket from 'ws';
import { memory } from './support/proc.js';
import { scrape, spawnServer, sumOf, type SpawnedServer } from './support/server.js';
import { appRecords, benchApps, logplexBody, type BenchApp } from './support/syslog.js';

function args(): { minutes: number; rate: number | null } {
  const a = process.argv.slice(2);
  let minutes = 1;
  let rate: number | null = null;
  for (let i = 0; i < a.length; i++) {
    const [name, inline] = a[i]!.split('=');
    const v = Number(inline ?? a[++i]);
    if (name === '--minutes' && v > 0) minutes = v;
    else if (name === '--rate' && v > 0) rate = v;
    else {
      process.stderr.write('usage: npm run soak -- --minutes N [--rate LINES_PER_S]\n');
      process.exit(2);
    }
  }
  return { minutes, rate };
}

async function api(s: SpawnedServer, method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(`${s.url}${path}`, { method, headers: { authorization: `Bearer ${s.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const t = await r.text();
  try {
    return JSON.parse(t);
  } catch {
    return t;
  }
}

interface Receiver {
  server: HttpServer;
  url: string;
  /** L10 notice lines received, and the drops they report. */
  l10Lines: number;
  l10Reported: number;
}

function receiver(mode: 'ok' | 'fail' | 'slow'): Promise<Receiver> {
  const r: Receiver = { server: null as unknown as HttpServer, url: '', l10Lines: 0, l10Reported: 0 };
  r.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = () => {
        if (mode !== 'fail') {
          for (const m of Buffer.concat(chunks).toString().matchAll(/Error L10 \(output buffer overflow\): (\d+) messages dropped/g)) {
            r.l10Lines++;
            r.l10Reported += Number(m[1]);
          }
        }
        res.writeHead(mode === 'fail' ? 500 : 200).end();
      };
      if (mode === 'slow') setTimeout(answer, 300);
      else answer();
    });
  });
  r.server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => r.server.listen(0, '127.0.0.1', () => {
    r.url = `http://127.0.0.1:${(r.server.address() as { port: number }).port}/drain`;
    resolve(r);
  }));
}

function frames(app: BenchApp, n: number, tag: string): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = `<190>1 2026-05-01T12:00:00Z host ${app.token} web.1 - soak ${tag} ${i} ${'z'.repeat(80)}`;
    parts.push(`${Buffer.byteLength(m)} ${m}`);
  }
  return Buffer.from(parts.join(''));
}

async function main(): Promise<void> {
  const { minutes, rate: asked } = args();
  const all = benchApps(10);
  const apps = all;
  const srv = await spawnServer({ apps: appRecords(all), env: { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_RETRIES: '2', LOGPLANE_DRAIN_BACKOFF_MAX_MS: '2000' }, startTimeoutMs: 60_000 });
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const recv: Receiver[] = [];
  for (let i = 0; i < 10; i++) recv.push(await receiver(i === 8 ? 'fail' : i === 9 ? 'slow' : 'ok'));
  for (let i = 0; i < 10; i++) await api(srv, 'POST', `/v3/channels/${apps[i]!.id}/drains`, { url: recv[i]!.url });
  // tails: 2 per app, the first one stalled
  const tails: { app: number; ws: WebSocket; lines: number; gaps: number; stalled: boolean }[] = [];
  for (let i = 0; i < 20; i++) {
    const app = i % 10;
    const s = await api(srv, 'POST', '/v3/sessions', { channel_id: apps[app]!.id, tail: true, num: 0 });
    const ws = new WebSocket(String(s.url).replace(/^http/, 'ws'), { perMessageDeflate: false });
    const t = { app, ws, lines: 0, gaps: 0, stalled: i === 0 };
    ws.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString()) as { type: string; lines?: unknown[]; dropped?: number };
      if (f.type === 'lines') t.lines += f.lines!.length;
      else if (f.type === 'gap') t.gaps += f.dropped!;
    });
    ws.on('error', () => {});
    await new Promise((r) => ws.once('open', r));
    if (t.stalled) (ws as unknown as { _socket: Socket })._socket.pause();
    tails.push(t);
  }
  // capacity probe, with the drains and tails attached: as fast as one connection goes for 3 s
  let rate = asked;
  /** Lines the capacity probe routed to the soaked apps (part of their ledger). */
  let probeLines = 0;
  if (rate === null) {
    const probe = connect({ port: srv.syslogPort, host: '127.0.0.1' });
    await new Promise<void>((r) => probe.once('connect', () => r()));
    const chunk = Buffer.concat(apps.map((a) => frames(a, 100, 'probe')));
    const before = sumOf(await scrape(srv.url), 'logplane_ingest_lines_total');
    const end = Date.now() + 3000;
    let chunks = 0;
    while (Date.now() < end) {
      chunks++;
      if (!probe.write(chunk)) await new Promise((r) => probe.once('drain', r));
    }
    const after = sumOf(await scrape(srv.url), 'logplane_ingest_lines_total');
    // every line written is part of the ledger: end the connection and let the server read it all
    await new Promise<void>((r) => probe.end(() => r()));
    await new Promise<void>((r) => (probe.closed ? r() : probe.once('close', () => r())));
    rate = Math.max(1000, Math.round((after - before) / 3 / 2));
    probeLines = chunks * 100 * apps.length;
    out(`capacity probe: ${Math.round((after - before) / 3)} lines/s; soaking at half: ${rate} lines/s`);
  }
  // the load: every 100 ms, rate/10 lines, half over TCP (round-robin apps),
  // half as 500-line POST /logs bodies (at most 16 requests in flight: a
  // tick that finds the sender behind skips, and says so at the end)
  /** Client connections not yet closed: a replaced one stays here until the server has read it all and closed. */
  const tcpOpen = new Set<Socket>();
  /** Client-side errors of syslog connections (their written lines may not have arrived), by code. */
  const tcpErrors = new Map<string, number>();
  const openTcp = (): Socket => {
    const c = connect({ port: srv.syslogPort, host: '127.0.0.1' });
    c.on('error', (err: NodeJS.ErrnoException) => tcpErrors.set(err.code ?? err.message, (tcpErrors.get(err.code ?? err.message) ?? 0) + 1));
    tcpOpen.add(c);
    c.once('close', () => tcpOpen.delete(c));
    return c;
  };
  let tcp = openTcp();
  const body = logplexBody(500);
  let sent = 0;
  let skipped = 0;
  let inflight = 0;
  let tcpSent = 0;
  /** POST /logs answers by status (0: no answer). */
  const statuses = new Map<number, number>();
  let k = 0;
  let stop = false;
  const perTick = Math.max(20, Math.round(rate / 10));
  const perApp = Math.max(1, Math.round(perTick / 2 / 10));
  const tcpChunks = apps.map((a) => frames(a, perApp, 'tcp'));
  let postDebt = 0;
  const tick = setInterval(() => {
    if (stop) return;
    // back-pressure over every connection still flushing (a replaced one keeps its buffer until the server has read it)
    let buffered = 0;
    for (const c of tcpOpen) buffered += c.writableLength;
    if (buffered > 4 * 1024 * 1024) skipped += 10 * perApp;
    else {
      for (let i = 0; i < 10; i++) tcp.write(tcpChunks[i]!);
      sent += 10 * perApp;
      tcpSent += 10 * perApp;
    }
    postDebt += perTick / 2 / 500;
    for (; postDebt >= 1; postDebt--) {
      if (inflight >= 16) {
        skipped += 500;
        continue;
      }
      const a = apps[k++ % 10]!;
      inflight++;
      sent += 500;
      void fetch(`${srv.url}/logs`, { method: 'POST', headers: { 'content-type': 'application/logplex-1', authorization: `Basic ${Buffer.from(`t:${a.token}`).toString('base64')}` }, body: new Uint8Array(body) })
        .then((r) => {
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          return r.arrayBuffer();
        })
        .catch(() => statuses.set(0, (statuses.get(0) ?? 0) + 1))
        .finally(() => inflight--);
    }
  }, 100);
  // churn: a fresh syslog connection and a short-lived app every second
  let churned = 0;
  const churn = setInterval(() => {
    if (stop) return;
    const old = tcp;
    tcp = openTcp();
    old.end();
    const id = `soak-churn-${churned++}`;
    void (async () => {
      const r = await api(srv, 'PUT', `/v3/channels/${id}`, { tokens: ['app'] });
      const t = r?.tokens?.app as string | undefined;
      if (t) await fetch(`${srv.url}/logs`, { method: 'POST', headers: { 'content-type': 'application/logplex-1', authorization: `Basic ${Buffer.from(`t:${t}`).toString('base64')}` }, body: new Uint8Array(body) }).then((x) => x.arrayBuffer());
      await api(srv, 'DELETE', `/v3/channels/${id}`);
    })().catch(() => {});
  }, 1000);

  const ledger = async (): Promise<{ text: string; exact: boolean; why: string[] }> => {
    const list = await api(srv, 'GET', '/v3/channels?limit=1000');
    let exact = true;
    const why: string[] = [];
    let announced = 0;
    let tailLines = 0;
    const parts: string[] = [];
    let delivered = 0;
    let dropped = 0;
    let queued = 0;
    let routed = 0;
    for (let i = 0; i < 10; i++) {
      const app = apps[i]!;
      const linesIn = (list.channels as { channel: string; stats: { lines_in: number } }[]).find((c) => c.channel === app.id)!.stats.lines_in;
      const d = (await api(srv, 'GET', `/v3/channels/${app.id}/drains`)) as { status: { delivered: number; dropped: number; queue_depth: number } }[];
      const s = d[0]!.status;
      routed += linesIn;
      delivered += s.delivered;
      dropped += s.dropped;
      queued += s.queue_depth;
      // every line routed to the app is delivered, dropped (counted, and announced in an L10 line of a later batch) or still queued
      if (s.delivered + s.dropped + s.queue_depth !== linesIn) {
        exact = false;
        why.push(`drain of ${app.id}: ${s.delivered} + ${s.dropped} + ${s.queue_depth} != ${linesIn}`);
      }
      announced += recv[i]!.l10Reported;
      if (recv[i]!.l10Reported > s.dropped) {
        exact = false;
        why.push(`drain of ${app.id}: L10 lines report ${recv[i]!.l10Reported} > ${s.dropped} dropped`);
      }
      for (const t of tails.filter((x) => x.app === i)) {
        tailLines += t.lines;
        if (!t.stalled && t.lines + t.gaps !== linesIn) {
          exact = false;
          why.push(`tail of ${app.id}: ${t.lines} + ${t.gaps} gap != ${linesIn}`);
        }
      }
    }
    const m = await scrape(srv.url);
    parts.push(`routed ${routed}`, `delivered ${delivered}`, `dropped ${dropped} (announced in L10 lines so far ${announced})`, `queued ${queued}`, `tail lines ${tailLines}`, `tail gaps ${tails.reduce((a, t) => a + t.gaps, 0)}`, `rate-limited ${['http', 'tcp', 'tls', 'udp'].reduce((a, t) => a + sumOf(m, `logplane_ingest_dropped_total{transport="${t}",reason="rate_limited"}`), 0)}`);
    return { text: parts.join(', '), exact, why };
  };

  const started = Date.now();
  const rss: number[] = [];
  out('minute  RSS (MiB)  lag p99 (ms)  ledger');
  for (let minute = 1; minute <= minutes; minute++) {
    await new Promise((r) => setTimeout(r, Math.max(0, started + minute * 60_000 - Date.now())));
    const m = await scrape(srv.url);
    const lag = (m.get('logplane_event_loop_lag_seconds') ?? NaN) * 1000;
    const r = memory(srv.pid).rss / 1048576;
    rss.push(r);
    const l = await ledger();
    out(`${String(minute).padStart(6)}  ${r.toFixed(0).padStart(9)}  ${lag.toFixed(1).padStart(12)}  ${l.text}`);
  }
  stop = true;
  clearInterval(tick);
  clearInterval(churn);
  tcp.end();
  // every line written is read by the server before the final ledger
  const flushDeadline = Date.now() + 300_000;
  while (tcpOpen.size > 0 && Date.now() < flushDeadline) await new Promise((r) => setTimeout(r, 200));
  if (tcpOpen.size > 0) out(`${tcpOpen.size} syslog connections still flushing after 300 s`);
  // the stalled tail reads again; then everything settles and the ledger must be exact
  const st = tails.find((t) => t.stalled)!;
  (st.ws as unknown as { _socket: Socket })._socket.resume();
  let final = await ledger();
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    final = await ledger();
    if (final.text === last) break;
    last = final.text;
  }
  // every line the soak sent was routed: TCP lines, and 500 per POST answered 204 (others are refused whole, SPEC 3.1)
  const routedNow = (await api(srv, 'GET', '/v3/channels?limit=1000')).channels.filter((c: { channel: string }) => apps.some((a) => a.id === c.channel)).reduce((n: number, c: { stats: { lines_in: number } }) => n + c.stats.lines_in, 0) as number;
  const accepted = tcpSent + 500 * (statuses.get(204) ?? 0) + probeLines;
  const ingestExact = routedNow === accepted;
  if (!ingestExact) final.why.push(`routed ${routedNow} != sent and accepted ${accepted} (TCP ${tcpSent}, POST 204 x 500, probe ${probeLines})`);
  final.exact &&= ingestExact;
  // warm-up: the first five minutes, while the slow and failing drains' queues and the stalled tail fill to their bounds
  const warm = rss.slice(Math.min(5, rss.length - 1));
  const spread = warm.length > 0 ? (Math.max(...warm) - Math.min(...warm)) / Math.min(...warm) : 0;
  out(`after the load stopped: ${final.text}`);
  for (const w of final.why) out(`  ${w}`);
  const m = await scrape(srv.url);
  const ingest = [...m].filter(([k]) => k.startsWith('logplane_ingest_lines_total') || k.startsWith('logplane_ingest_dropped_total') || k.startsWith('logplane_connections_refused_total') || k.startsWith('logplane_connections_timed_out_total')).map(([k, v]) => `${k} ${v}`);
  if (tcpErrors.size > 0) out(`syslog client connection errors: ${[...tcpErrors].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out(`POST /logs answers: ${[...statuses].map(([k, v]) => `${k || 'none'}: ${v}`).join(', ')}; ${ingest.join('; ')}`);
  out(`ledger ${final.exact ? 'exact' : 'NOT exact'}; RSS after warm-up (minute 6 on) within ${(spread * 100).toFixed(1)}%; ${sent} lines sent (TCP and POST /logs), ${skipped} not sent because the sender was behind; ${churned} apps created and deleted`);
  for (const t of tails) t.ws.terminate();
  for (const r of recv) r.server.close();
  await srv.kill();
  process.exit(final.exact ? 0 : 1);
}

void main();
