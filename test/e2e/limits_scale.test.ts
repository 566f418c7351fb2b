// SPEC 17 at scale, on the built server in a child process: thousands of idle
// connections leave everyone else served, the server holds its connections
// under its own open-file limit, UDP datagrams the kernel drops are counted,
// and a WebSocket client that never reads costs bounded memory.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { WebSocket } from 'ws';
import { api } from '../support/api.js';
import { postLogs, syslog } from '../support/cluster.js';
import { freePort } from '../support/net.js';
import { IdleConnections, rssOf, sample } from '../support/limits.js';
import { tempDir } from '../support/server.js';
import { killAll, spawnServer, type ServerProcess } from '../support/spawn.js';
import { SyslogStream } from '../support/syslog.js';
import { until } from '../support/wait.js';

const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(env: Record<string, string> = {}, prefix?: string[]): Promise<ServerProcess> {
  const dataDir = tempDir('logplane-limits-');
  dirs.push(dataDir);
  return spawnServer({ dataDir, syslogPort: await freePort(), env: { LOGPLANE_API_KEY: 'limits-test-admin-key-0123456789', ...env }, ...(prefix ? { prefix } : {}) });
}

async function historyCount(srv: ServerProcess, app: string): Promise<number> {
  const r = await fetch(`${srv.url}/v3/channels/${app}/logs?num=10000`, { headers: { authorization: srv.auth }, signal: AbortSignal.timeout(10_000) });
  await r.arrayBuffer();
  return Number(r.headers.get('logplex-msg-count'));
}

async function metricsOf(srv: ServerProcess): Promise<string> {
  return (await api(srv, 'GET', '/metrics')).text;
}

async function tokenOf(srv: ServerProcess, app: string): Promise<string> {
  const r = await api(srv, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] });
  assert.ok(r.status === 201 || r.status === 200, r.text);
  return r.json.tokens.app as string;
}

/** 100 lines over syslog TCP and 100 over POST /logs from 127.0.0.1; resolves when all 200 are in history. */
async function normalClients(srv: ServerProcess, app: string): Promise<void> {
  const token = await tokenOf(srv, app);
  const stream = new SyslogStream(srv.syslogPort!);
  await stream.ready;
  stream.write(Array.from({ length: 100 }, (_, i) => `<190>1 2026-05-01T12:00:00Z host ${token} web.1 - tcp ${i}`));
  await stream.end();
  assert.equal(await postLogs(srv.url, token, Array.from({ length: 100 }, (_, i) => syslog(`http ${i}`))), 204);
  await until(`200 lines of ${app} in history`, async () => (await historyCount(srv, app)) === 200, 20_000);
}

describe('connection limits at scale', () => {
  it('with 5,000 idle syslog and 5,000 idle HTTP connections open, a normal client on each port gets every line through', async () => {
    // the idle HTTP connections must outlive the test's own steps (they are idle on purpose, not slow)
    const srv = await start({ LOGPLANE_HTTP_HEADERS_TIMEOUT_MS: '120000', LOGPLANE_HTTP_REQUEST_TIMEOUT_MS: '120000' });
    const httpPort = Number(new URL(srv.url).port);
    // 1,000 from each of five addresses: the default per-address limit
    const tcp = await IdleConnections.open(srv.syslogPort!, 5000, 1000, { firstAddress: 2 });
    const http = await IdleConnections.open(httpPort, 5000, 1000, { firstAddress: 7 });
    try {
      await until('10,000 connections open on the server', async () => {
        const m = await metricsOf(srv);
        return sample(m, 'logplane_connections_open', { listener: 'tcp' }) === 5000 && sample(m, 'logplane_connections_open', { listener: 'http' }) >= 5000;
      }, 60_000, 100);
      assert.equal(tcp.open, 5000);
      assert.equal(http.open, 5000);
      assert.equal((await api(srv, 'GET', '/healthz')).status, 200);
      await normalClients(srv, 'busy');
    } finally {
      tcp.closeAll();
      http.closeAll();
      await srv.stop();
    }
  });

  it('at an open-file limit of 1,024, 1,100 idle syslog connections are held under it; /healthz, POST /logs and the admitted syslog connections still work', async () => {
    const srv = await start({}, ['prlimit', '--nofile=1024:1024', '--']);
    const idle = await IdleConnections.open(srv.syslogPort!, 1100, 1000, { firstAddress: 2 });
    try {
      const m = await metricsOf(srv);
      assert.equal(sample(m, 'logplane_fd_limit', { kind: 'soft' }), 1024);
      // the clients' connects complete in the kernel's backlog before the server has
      // accepted (or refused) them all: wait for the server's count and the clients' to agree
      let refused = 0;
      await until('the refused connections counted and closed on the client side', async () => {
        refused = sample(await metricsOf(srv), 'logplane_connections_refused_total', { listener: 'tcp', reason: 'node_budget' });
        return refused > 0 && idle.open === 1100 - refused;
      }, 20_000);
      assert.ok(refused > 0, 'some idle connections refused at the budget');
      assert.equal((await api(srv, 'GET', '/healthz')).status, 200);
      assert.ok(srv.stderr().includes('server.connection_limits') || srv.stdout().includes('server.connection_limits'), 'the limits are logged');
      // the syslog budget is full: new syslog clients wait for a slot, everyone admitted is served
      const token = await tokenOf(srv, 'fdlimit');
      assert.equal(await postLogs(srv.url, token, Array.from({ length: 100 }, (_, i) => syslog(`http ${i}`))), 204);
      const admitted = idle.socks.filter((x) => !x.destroyed).slice(0, 10);
      for (const [i, x] of admitted.entries()) {
        const m = `<190>1 2026-05-01T12:00:00Z host ${token} web.1 - tcp ${i}`;
        x.write(`${Buffer.byteLength(m)} ${m}`);
      }
      await until('110 lines of fdlimit in history', async () => (await historyCount(srv, 'fdlimit')) === 110, 20_000);
    } finally {
      idle.closeAll();
      await srv.stop();
    }
  });
});

describe('UDP', () => {
  it('datagrams the kernel drops while the server cannot read are counted: accepted + dropped = sent', async () => {
    const srv = await start();
    const token = await tokenOf(srv, 'udpflood');
    const sock = createSocket('udp4');
    const sent = 20_000;
    try {
      // a stopped process reads nothing: its receive buffer fills and the kernel drops the rest
      process.kill(srv.pid, 'SIGSTOP');
      const msg = (i: number) => Buffer.from(`<190>1 2026-05-01T12:00:00Z host ${token} web.1 - ${'x'.repeat(400)} ${i}`);
      for (let i = 0; i < sent; i++) {
        await new Promise<void>((resolve, reject) => sock.send(msg(i), srv.syslogPort!, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      }
    } finally {
      process.kill(srv.pid, 'SIGCONT');
      sock.close();
    }
    try {
      const ledger = await until('every datagram accepted or counted', async () => {
        const m = await metricsOf(srv);
        const accepted = sample(m, 'logplane_ingest_lines_total', { transport: 'udp' });
        const kernel = sample(m, 'logplane_ingest_udp_kernel_dropped_total');
        const overload = sample(m, 'logplane_ingest_dropped_total', { transport: 'udp', reason: 'overload' });
        return accepted + kernel + overload === sent ? { accepted, kernel, overload } : null;
      }, 30_000, 100);
      assert.ok(ledger.kernel > 0, 'the kernel dropped some');
    } finally {
      await srv.stop();
    }
  });
});

describe('WebSocket', () => {
  it('a WebSocket tail client that never reads keeps the server memory bounded (RSS measured)', async () => {
    const srv = await start();
    const token = await tokenOf(srv, 'stalled');
    const s = await api(srv, 'POST', '/v3/sessions', { channel_id: 'stalled', tail: true });
    const ws = new WebSocket(String(s.json.url).replace(/^http/, 'ws'), { perMessageDeflate: false });
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', () => reject(new Error('closed before open')));
    });
    // never read again: the server's writes fill the kernel buffers, then its own
    (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const stream = new SyslogStream(srv.syslogPort!);
    await stream.ready;
    const body = 'y'.repeat(1000);
    const send = async (n: number) => {
      for (let i = 0; i < n; i += 1000) stream.write(Array.from({ length: 1000 }, (_, k) => `<190>1 2026-05-01T12:00:00Z host ${token} web.1 - ${body} ${i + k}`));
      await until(`${n} more lines ingested`, async () => true);
    };
    try {
      const app = async () => (await api(srv, 'GET', '/v3/channels?limit=100')).json.channels.find((c: { channel: string }) => c.channel === 'stalled').stats.lines_in as number;
      await send(20_000);
      await until('warm-up lines ingested', async () => (await app()) >= 20_000, 60_000, 100);
      const warm = rssOf(srv.pid);
      await send(200_000);
      await until('200 MB more ingested', async () => (await app()) >= 220_000, 120_000, 100);
      const grown = rssOf(srv.pid) - warm;
      // 200 MB went to a tail that read none of it
      assert.ok(grown < 64 * 1024 * 1024, `RSS grew ${Math.round(grown / 1048576)} MiB`);
      const m = await metricsOf(srv);
      assert.equal((await api(srv, 'GET', '/healthz')).status, 200);
      void m;
    } finally {
      ws.terminate();
      await stream.end();
      await srv.stop();
    }
  });
});
