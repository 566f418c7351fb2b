// SPEC 17 on real sockets, in-process: idle and slow clients are closed after
// their timeouts, connections over the per-address limit are refused and
// counted, WebSocket frames are capped at 64 KiB.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { api } from '../support/api.js';
import { IdleConnections, sample } from '../support/limits.js';
import { startServer, type TestServer } from '../support/server.js';
import { session } from '../support/tail.js';
import { until } from '../support/wait.js';

let srv: TestServer;

async function metrics(): Promise<string> {
  return (await api(srv, 'GET', '/metrics')).text;
}

/** A connection that is closed by the server resolves `closed`; the test bound decides what "never" means. */
function rawConnection(port: number): { sock: Socket; closed: Promise<void> } {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  sock.on('data', () => {});
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  return { sock, closed };
}

before(async () => {
  srv = await startServer({
    LOGPLANE_SYSLOG_IDLE_MS: '400',
    LOGPLANE_HTTP_HEADERS_TIMEOUT_MS: '400',
    LOGPLANE_HTTP_REQUEST_TIMEOUT_MS: '800',
    LOGPLANE_MAX_CONNECTIONS_PER_IP: '20',
  });
  await api(srv, 'PUT', '/v3/channels/limits', { tokens: ['app'] });
});
after(() => srv.close());

describe('timeouts', () => {
  test('an idle syslog connection and one holding half a frame are closed after the idle timeout', async () => {
    const port = srv.server.ports.syslog!;
    const idle = rawConnection(port);
    const half = rawConnection(port);
    half.sock.write('120 <190>1 2026-01-01T00:00:00Z host t.x web.1 - half a fr');
    try {
      await until('both syslog connections closed by the server', () => idle.sock.destroyed && half.sock.destroyed, 10_000);
      await idle.closed;
      await half.closed;
      assert.ok(sample(await metrics(), 'logplane_connections_timed_out_total', { listener: 'tcp', timeout: 'idle' }) >= 2);
    } finally {
      idle.sock.destroy();
      half.sock.destroy();
    }
  });

  test('a kept-alive HTTP connection left idle is closed after the keep-alive timeout and counted', async () => {
    const ka = await startServer({ LOGPLANE_HTTP_KEEPALIVE_MS: '300' });
    try {
      const c = rawConnection(Number(new URL(ka.url).port));
      let got = '';
      c.sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
      c.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await until('the answer', () => got.includes('\r\n\r\n'), 5000);
      assert.match(got, /^HTTP\/1\.1 200 /);
      assert.match(got, /^connection: keep-alive\r$/im);
      let closed = false;
      void c.closed.then(() => (closed = true));
      await until('the idle connection closed by the server', () => closed, 5000);
      const text = (await api(ka, 'GET', '/metrics')).text;
      assert.equal(sample(text, 'logplane_connections_timed_out_total', { listener: 'http', timeout: 'keepalive' }), 1);
    } finally {
      await ka.close();
    }
  });

  test('a slowloris HTTP client (headers one byte at a time) is closed after the header timeout', async () => {
    const port = Number(new URL(srv.url).port);
    const c = rawConnection(port);
    const header = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200);
    let i = 0;
    const drip = setInterval(() => {
      if (!c.sock.destroyed && i < header.length) c.sock.write(header[i++]!);
    }, 50);
    try {
      await until('the slowloris connection closed by the server', () => c.sock.destroyed || c.sock.readableEnded, 10_000);
      assert.ok(i < header.length, 'closed before the client stopped sending');
      await until('the timeout counted', async () => sample(await metrics(), 'logplane_connections_timed_out_total', { listener: 'http', timeout: 'request' }) >= 1, 5000);
    } finally {
      clearInterval(drip);
      c.sock.destroy();
    }
  });

  test('a POST /logs whose body stalls is answered 408 and closed after the request timeout', async () => {
    const port = Number(new URL(srv.url).port);
    const c = rawConnection(port);
    let got = '';
    c.sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
    const token = (await api(srv, 'GET', '/v3/channels/limits')).json.tokens.app as string;
    c.sock.write(`POST /logs HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${Buffer.from(`token:${token}`).toString('base64')}\r\nContent-Type: application/logplex-1\r\nContent-Length: 1000\r\n\r\n10 <190>1 `);
    try {
      await until('the stalled request closed', () => c.sock.destroyed || c.sock.readableEnded, 10_000);
      assert.match(got, /^HTTP\/1\.1 408 /);
    } finally {
      c.sock.destroy();
    }
  });
});

describe('connection limits', () => {
  test('syslog and HTTP connections over the per-address limit are refused and counted; other addresses are served', async () => {
    const port = srv.server.ports.syslog!;
    const httpPort = Number(new URL(srv.url).port);
    const before = await metrics();
    const syslog = await IdleConnections.open(port, 25, 25, { firstAddress: 20 });
    const http = await IdleConnections.open(httpPort, 25, 25, { firstAddress: 21 });
    try {
      await until('5 of 25 syslog connections refused', () => syslog.closedByPeer === 5 && syslog.open === 20, 10_000);
      await until('5 of 25 HTTP connections refused', () => http.closedByPeer === 5 && http.open === 20, 10_000);
      const m = await metrics();
      for (const listener of ['tcp', 'http']) {
        const refused = sample(m, 'logplane_connections_refused_total', { listener, reason: 'address_limit' }) - sample(before, 'logplane_connections_refused_total', { listener, reason: 'address_limit' });
        assert.equal(refused, 5, `${listener} refused`);
      }
      assert.ok(sample(m, 'logplane_connections_open', { listener: 'tcp' }) >= 20);
      // this client comes from 127.0.0.1: its own quota
      assert.equal((await api(srv, 'GET', '/healthz')).status, 200);
    } finally {
      syslog.closeAll();
      http.closeAll();
    }
  });
});

describe('WebSocket', () => {
  async function openTail(): Promise<{ ws: WebSocket; closed: Promise<number> }> {
    const url = await session(srv, { channel_id: 'limits', tail: true });
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false });
    ws.on('error', () => {});
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', () => reject(new Error('closed before open')));
    });
    return { ws, closed };
  }

  test('a client frame of 64 KiB is accepted and one over 64 KiB closes the WebSocket with 1009', async () => {
    const ok = await openTail();
    const big = await openTail();
    try {
      ok.ws.send(Buffer.alloc(64 * 1024, 0x61).toString());
      // still open: a ping after it is answered
      await new Promise<void>((resolve, reject) => {
        ok.ws.once('pong', () => resolve());
        ok.ws.once('close', (code) => reject(new Error(`closed ${code}`)));
        ok.ws.ping();
      });
      const counted = sample(await metrics(), 'logplane_tail_ws_closed_total', { reason: 'frame_too_large' });
      big.ws.send(Buffer.alloc(64 * 1024 + 1, 0x61).toString());
      assert.equal(await big.closed, 1009);
      assert.equal(ok.ws.readyState, WebSocket.OPEN);
      await until('the refused frame counted', async () => sample(await metrics(), 'logplane_tail_ws_closed_total', { reason: 'frame_too_large' }) === counted + 1, 5000);
    } finally {
      ok.ws.terminate();
      big.ws.terminate();
    }
  });
});
