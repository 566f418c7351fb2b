// The HTTP drain's HTTP/1.1 client against raw TCP and TLS servers that
// answer byte by byte, close mid-response, ask to close, hang, or talk out
// of turn: outcomes, retries with the same request bytes (same Frame-Id),
// connection reuse, SNI and the exact request on a TLS connection.
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { after, test } from 'node:test';
import { Http1Client } from '../../src/drains/http1/client.js';
import type { Outcome } from '../../src/drains/retry.js';
import { drainScope, makeDrain, testCerts, testLine, VERSION } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

const TOKEN = 'd.11111111-2222-4333-8444-555555555555';

const scope = drainScope();
after(() => scope.close());
const drain = (url: string, over: Parameters<typeof makeDrain>[1] = {}) => scope.drain(url, over);

interface Req {
  /** The whole request as received: head and body. */
  raw: Buffer;
  head: string[];
  /** Index of the connection it came on. */
  conn: number;
  sock: Socket;
}

interface TlsConn {
  /** SNI the client sent (false: none). */
  servername: string | false | null;
  /** The client resumed an earlier TLS session. */
  resumed: boolean;
}

/**
 * A raw HTTP/1.1 server (plain or TLS with the test CA's certificate) that
 * splits requests by Content-Length and lets the test answer each one.
 */
async function rawServer(
  answer: (i: number, req: Req) => void,
  tls = false,
): Promise<{ port: number; requests: Req[]; connections: () => number; openConnections: () => number; tlsConns: TlsConn[]; server: Server }> {
  const requests: Req[] = [];
  const tlsConns: TlsConn[] = [];
  const open = new Set<Socket>();
  let connections = 0;
  const onConn = (s: Socket): void => {
    const conn = connections++;
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
    s.setNoDelay(true);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.toString('latin1', 0, end).split('\r\n');
        const len = Number(head.find((h) => /^content-length:/i.test(h))?.split(':')[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const req: Req = { raw: Buffer.from(buf.subarray(0, end + 4 + len)), head, conn, sock: s };
        buf = buf.subarray(end + 4 + len);
        requests.push(req);
        answer(requests.length - 1, req);
      }
    });
  };
  let server: Server;
  if (tls) {
    const c = testCerts();
    const t = createTlsServer({ cert: c.cert, key: c.key }, (s: TLSSocket) => {
      tlsConns.push({ servername: s.servername, resumed: s.isSessionReused() });
      onConn(s);
    });
    t.on('tlsClientError', () => {});
    server = t;
  } else server = createNetServer(onConn);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  scope.cleanup(() => {
    for (const s of open) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as { port: number }).port, requests, connections: () => connections, openConnections: () => open.size, tlsConns, server };
}

/** Write text one byte per event-loop turn (each byte its own TCP segment, in practice). */
async function trickle(s: Socket, text: string): Promise<void> {
  for (const b of Buffer.from(text, 'latin1')) {
    if (s.destroyed) return;
    s.write(Buffer.from([b]));
    await new Promise((r) => setTimeout(r, 1));
  }
}

test('a response arriving a byte at a time (chunked and Content-Length bodies) completes; the connection is reused', async () => {
  const responses = [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n2\r\nok\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n',
    'HTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\nfine',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
  ];
  const raw = await rawServer((i, req) => void trickle(req.sock, responses[i % 3]!));
  const d = drain(`http://127.0.0.1:${raw.port}/`);
  for (let b = 0; b < 3; b++) {
    d.offer(testLine(b));
    assert.equal(await d.flush(10_000), true, `batch ${b}`);
  }
  assert.equal(d.status().delivered, 3);
  assert.equal(d.counters.attemptsRetry.value, 0);
  assert.equal(raw.connections(), 1);
});

test('a connection closed before or while responding is a network error: retried with the same bytes, then delivered', async () => {
  const raw = await rawServer((i, req) => {
    const s = req.sock;
    if (i === 0) s.destroy(); // nothing at all
    else if (i === 1) s.end('HTTP/1.1 200 OK\r\nContent-Len'); // half a head
    else if (i === 2) s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello'); // half a body
    else if (i === 3) s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'); // no last chunk
    else s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  const d = drain(`http://127.0.0.1:${raw.port}/`, { retries: 10 });
  for (let i = 0; i < 3; i++) d.offer(testLine(i));
  await until('delivered', () => d.status().delivered === 3, 10_000);
  assert.equal(raw.requests.length, 5);
  for (const r of raw.requests) assert.deepEqual(r.raw, raw.requests[0]!.raw, 'every attempt sends the same bytes');
  assert.equal(raw.connections(), 5);
  assert.equal(d.counters.attemptsRetry.value, 4);
  assert.equal(d.status().dropped, 0);
  assert.equal(d.status().lastError!.errno, 'ECONNRESET');
});

test('408, 429 and 5xx are retried with the same Frame-Id (the same request bytes); 200 after them delivers', async () => {
  const answers = [
    'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 4\r\n\r\nslow',
    'HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4\r\noops\r\n0\r\n\r\n',
    'HTTP/1.1 503 Service Unavailable\r\n\r\nbody until close',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
  ];
  const raw = await rawServer((i, req) => {
    const a = answers[Math.min(i, answers.length - 1)]!;
    if (a.includes('Connection: close') || !/content-length|chunked/i.test(a)) req.sock.end(a);
    else req.sock.write(a);
  });
  const d = drain(`http://127.0.0.1:${raw.port}/d`, { retries: 5 });
  for (let i = 0; i < 4; i++) d.offer(testLine(i));
  await until('delivered', () => d.status().delivered === 4, 10_000);
  assert.equal(raw.requests.length, 5);
  const ids = raw.requests.map((r) => r.head.find((h) => h.startsWith('Logplex-Frame-Id: ')));
  assert.equal(new Set(ids).size, 1);
  for (const r of raw.requests) assert.deepEqual(r.raw, raw.requests[0]!.raw);
  // 408 and the body-until-close 503 close the connection; 429 and 500 keep it
  assert.deepEqual(raw.requests.map((r) => r.conn), [0, 1, 1, 1, 2]);
  assert.equal(d.counters.attemptsRetry.value, 4);

  // and a new batch gets a new Frame-Id
  d.offer(testLine(9));
  assert.equal(await d.flush(5000), true);
  assert.notEqual(raw.requests[5]!.head.find((h) => h.startsWith('Logplex-Frame-Id: ')), ids[0]);
});

test('an idle connection the server closed is not used again: the next batch goes out on a new one, first try', async () => {
  const raw = await rawServer((_i, req) => {
    req.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    setTimeout(() => req.sock.end(), 20);
  });
  const d = drain(`http://127.0.0.1:${raw.port}/`);
  d.offer(testLine(0));
  assert.equal(await d.flush(5000), true);
  // the server's side is gone only once the drain answered its FIN: the drain has seen the close
  await until('the closed connection gone on both sides', () => raw.openConnections() === 0);
  d.offer(testLine(1));
  assert.equal(await d.flush(5000), true);
  assert.equal(raw.connections(), 2);
  assert.equal(d.counters.attemptsRetry.value, 0);
  assert.equal(d.status().lastError, null);
});

test('Connection: close, HTTP/1.0 or bytes after the response: the connection is not reused, even if the server keeps it open', async () => {
  const answers = [
    'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n',
    'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
  ];
  const raw = await rawServer((i, req) => req.sock.write(answers[i]!));
  const d = drain(`http://127.0.0.1:${raw.port}/`);
  for (let b = 0; b < answers.length; b++) {
    d.offer(testLine(b));
    assert.equal(await d.flush(5000), true);
  }
  assert.deepEqual(raw.requests.map((r) => r.conn), [0, 1, 2, 3, 3]);
  assert.equal(d.counters.attemptsRetry.value, 0);
});

test('bytes from the server on an idle connection: it is dropped, the next batch is delivered on a new one', async () => {
  const raw = await rawServer((_i, req) => {
    req.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    setTimeout(() => req.sock.write('HTTP/1.1 200 OK\r\n'), 20);
  });
  const d = drain(`http://127.0.0.1:${raw.port}/`);
  d.offer(testLine(0));
  assert.equal(await d.flush(5000), true);
  // the drain drops the connection when the stray bytes arrive
  await until('the connection with stray bytes dropped', () => raw.openConnections() === 0);
  d.offer(testLine(1));
  assert.equal(await d.flush(5000), true);
  assert.equal(raw.connections(), 2);
  assert.equal(d.counters.attemptsRetry.value, 0);
});

test('response timeout when the body stalls; a malformed response is a retried error', async () => {
  const raw = await rawServer((i, req) => {
    if (i === 0) req.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel');
    else if (i === 1) req.sock.write('HTTP/1.1 OK\r\n\r\n');
    else req.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  // a long backoff, so the first error is still the last one when the test looks
  const d = drain(`http://127.0.0.1:${raw.port}/`, { responseTimeoutMs: 150, retries: 5, backoffBaseMs: 400, backoffMaxMs: 400 });
  d.offer(testLine(0));
  await until('first error', () => d.status().lastError !== null);
  assert.equal(d.status().lastError!.errno, 'ETIMEDOUT');
  assert.match(d.status().lastError!.text, /^response timeout after 150 ms$/);
  await until('second error', () => d.status().lastError!.errno !== 'ETIMEDOUT');
  assert.equal(d.status().lastError!.errno, 'HPE_INVALID_CONSTANT');
  assert.match(d.status().lastError!.text, /^invalid HTTP response: /);
  await until('delivered', () => d.status().delivered === 1);
  assert.equal(raw.requests.length, 3);
  assert.equal(raw.connections(), 3);
  assert.equal(d.counters.attemptsRetry.value, 2);
});

test('the response timeout counts from each request, not from the first on a connection, and still fires after an idle spell', async () => {
  const raw = await rawServer((i, req) => {
    // 300 ms per answer against a 1 s timeout: four answers take longer than one timeout, and each
    // has 700 ms to spare on a loaded machine
    if (i < 4) setTimeout(() => req.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 300);
    else if (i > 4) req.sock.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    // the fifth request is never answered
  });
  const d = drain(`http://127.0.0.1:${raw.port}/`, { responseTimeoutMs: 1000 });
  for (let b = 0; b < 4; b++) {
    d.offer(testLine(b));
    assert.equal(await d.flush(5000), true);
  }
  assert.equal(d.status().lastError, null);
  assert.equal(raw.connections(), 1);
  // idle for longer than the timeout (its timer fires with nothing in flight), then a request that hangs
  await new Promise((r) => setTimeout(r, 1200));
  const t0 = Date.now();
  d.offer(testLine(4));
  await until('response timeout', () => d.status().lastError !== null);
  assert.match(d.status().lastError!.text, /^response timeout after 1000 ms$/);
  assert.ok(Date.now() - t0 >= 990, `timed out after ${Date.now() - t0} ms`);
  await until('delivered on retry', () => d.status().delivered === 5);
  assert.equal(raw.connections(), 2);
});

test('https: the request on the wire is exactly SPEC 6.3; SNI for names, none for IP literals; TLS sessions resumed', async () => {
  const raw = await rawServer((_i, req) => req.sock.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'), true);
  const d = drain(`https://us%40er:pass@127.0.0.1:${raw.port}/p%41th?q=a%2Fb#insecure`);
  d.offer(testLine(0));
  assert.equal(await d.flush(5000), true);
  const text = raw.requests[0]!.raw.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  const frame = '<190>1 2024-05-06T07:08:09.123456+00:00 host app web.1 - line 0\n';
  const body = `${frame.length} ${frame}`;
  assert.equal(text.slice(headEnd + 4), body);
  const frameId = /\r\nLogplex-Frame-Id: ([0-9A-F]{32})\r\n/.exec(text)![1]!;
  assert.equal(
    text.slice(0, headEnd + 4),
    'POST /p%41th?q=a%2Fb HTTP/1.1\r\n' +
      'Content-Type: application/logplex-1\r\n' +
      `Content-Length: ${body.length}\r\n` +
      'Logplex-Msg-Count: 1\r\n' +
      `Logplex-Frame-Id: ${frameId}\r\n` +
      `Logplex-Drain-Token: ${TOKEN}\r\n` +
      `User-Agent: Logplex/logplane-${VERSION}\r\n` +
      `Authorization: Basic ${Buffer.from('us@er:pass').toString('base64')}\r\n` +
      `Host: 127.0.0.1:${raw.port}\r\n` +
      'Connection: keep-alive\r\n\r\n',
  );
  assert.equal(raw.tlsConns[0]!.servername, false, 'no SNI for an IP address');

  // a name (resolved by the test lookup) is sent as SNI and checked against the certificate (DNS:localhost)
  const lookup: NonNullable<Parameters<typeof makeDrain>[1]>['lookup'] = (_host, opts, cb) =>
    opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
  const named = drain(`https://localhost:${raw.port}/`, { lookup });
  for (let b = 0; b < 3; b++) {
    named.offer(testLine(b));
    assert.equal(await named.flush(5000), true);
  }
  assert.deepEqual(raw.tlsConns.slice(1).map((c) => c.servername), ['localhost', 'localhost', 'localhost']);
  assert.match(raw.requests[1]!.raw.toString('latin1'), /\r\nHost: localhost:\d+\r\n/);
  // Connection: close each time: later connections resume the TLS session
  assert.equal(raw.tlsConns[1]!.resumed, false);
  assert.ok(raw.tlsConns.slice(2).some((c) => c.resumed), 'a later connection resumed the session');
});

test('close() ends a request in flight (ECANCELED) and the connection; later sends are cancelled', async () => {
  let serverSaw = 0;
  const raw = await rawServer((_i, req) => {
    req.sock.on('close', () => serverSaw++);
  });
  const client = new Http1Client({ host: '127.0.0.1', port: raw.port, tls: false, rejectUnauthorized: true, connectTimeoutMs: 1000, responseTimeoutMs: 5000 });
  const wire = Buffer.from('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi', 'latin1');
  const outcome = new Promise<Outcome>((resolve) => client.send(wire, resolve));
  await until('request', () => raw.requests.length === 1);
  client.close();
  assert.deepEqual(await outcome, { kind: 'error', code: 'ECANCELED', message: 'drain closed' });
  await until('the server sees the connection close', () => serverSaw === 1);
  assert.equal(client.connected, false);
  const later = await new Promise<Outcome>((resolve) => client.send(wire, resolve));
  assert.equal(later.kind === 'error' && later.code, 'ECANCELED');
});

test('outcomes straight from the client: status after the body, refused connection', async () => {
  const raw = await rawServer((_i, req) => req.sock.write('HTTP/1.1 418 I\'m a teapot\r\nContent-Length: 3\r\n\r\ntea'));
  const client = new Http1Client({ host: '127.0.0.1', port: raw.port, tls: false, rejectUnauthorized: true, connectTimeoutMs: 1000, responseTimeoutMs: 1000 });
  const wire = Buffer.from('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 'latin1');
  let connecting = 0;
  const c2 = new Http1Client({ host: '127.0.0.1', port: raw.port, tls: false, rejectUnauthorized: true, connectTimeoutMs: 1000, responseTimeoutMs: 1000, onConnecting: () => connecting++ });
  for (let i = 0; i < 3; i++) assert.deepEqual(await new Promise<Outcome>((r) => client.send(wire, r)), { kind: 'status', status: 418 });
  for (let i = 0; i < 3; i++) assert.deepEqual(await new Promise<Outcome>((r) => c2.send(wire, r)), { kind: 'status', status: 418 });
  assert.equal(connecting, 1);
  assert.equal(raw.connections(), 2);
  client.close();
  c2.close();
  const port = raw.port;
  await new Promise<void>((r) => raw.server.close(() => r()));
  for (const s of raw.requests) s.sock.destroy();
  const refused = new Http1Client({ host: '127.0.0.1', port, tls: false, rejectUnauthorized: true, connectTimeoutMs: 1000, responseTimeoutMs: 1000 });
  const o = await new Promise<Outcome>((r) => refused.send(wire, r));
  assert.equal(o.kind === 'error' && o.code, 'ECONNREFUSED');
  refused.close();
});
