// Requests Node's HTTP parser refuses before any route sees them (SPEC 7, 17):
// headers or a body that stall past their timeout (408), headers or a URL
// over Node's header limit (431), a request line that is not HTTP (400). They
// get the API's error contract like any other answer: a Request-Id and a JSON
// body `{"id","error"}`, then the connection is closed. POST /logs, served
// ahead of fastify (ingest/http-front.ts), gets the same.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { api } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

let srv: TestServer;
let port = 0;

before(async () => {
  srv = await startServer({ LOGPLANE_HTTP_HEADERS_TIMEOUT_MS: '500', LOGPLANE_HTTP_REQUEST_TIMEOUT_MS: '1000' });
  port = Number(new URL(srv.url).port);
  await api(srv, 'PUT', '/v3/channels/demo', { tokens: ['app'] });
});
after(() => srv.close());

interface Answer {
  status: number;
  headers: Map<string, string>;
  json: any;
  /** The server closed the connection (within the test's bound). */
  closed: boolean;
  /** Everything the server sent. */
  text: string;
}

/** Writes `data` on a new connection and reads until the server closes it (at most 8 s); the one response parsed. */
async function raw(data: string): Promise<Answer> {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  let got = '';
  sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
  const closed = await new Promise<boolean>((resolve) => {
    const bound = setTimeout(() => resolve(false), 8000);
    sock.once('close', () => {
      clearTimeout(bound);
      resolve(true);
    });
    sock.write(data);
  });
  sock.destroy();
  const [head = '', body = ''] = got.split('\r\n\r\n', 2);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  let json: any = null;
  try {
    json = JSON.parse(body);
  } catch {
    /* not JSON: the assertions say so */
  }
  return { status: Number(statusLine.split(' ')[1]), headers, json, closed, text: got };
}

function assertContract(a: Answer, status: number, id: string, what: string): void {
  assert.equal(a.status, status, what);
  assert.deepEqual(Object.keys(a.json ?? {}).sort(), ['error', 'id'], `${what}: body ${JSON.stringify(a.json)}`);
  assert.equal(a.json.id, id, what);
  assert.equal(typeof a.json.error, 'string', what);
  assert.match(a.headers.get('request-id') ?? '', /^[0-9a-f-]{36}$/, `${what}: a generated Request-Id`);
  assert.match(a.headers.get('content-type') ?? '', /^application\/json/, what);
  assert.equal(a.headers.get('connection'), 'close', what);
  assert.ok(a.closed, `${what}: the connection is closed`);
}

const ingestAuth = async () => `Basic ${Buffer.from(`token:${(await api(srv, 'GET', '/v3/channels/demo')).json.tokens.app}`).toString('base64')}`;

test('headers that stall past the header timeout: 408 request_timeout', async () => {
  assertContract(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n'), 408, 'request_timeout', 'stalled headers');
});

test('a management body that stalls past the request timeout: 408 request_timeout', async () => {
  const a = await raw(`POST /v3/channels/demo/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: ${srv.auth}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":`);
  assertContract(a, 408, 'request_timeout', 'stalled API body');
});

test('a POST /logs body that stalls past the request timeout: 408 request_timeout', async () => {
  const a = await raw(`POST /logs HTTP/1.1\r\nHost: x\r\nAuthorization: ${await ingestAuth()}\r\nContent-Type: application/logplex-1\r\nContent-Length: 1000\r\n\r\n10 <190>1 `);
  assertContract(a, 408, 'request_timeout', 'stalled POST /logs body');
});

test('headers or a URL over the header limit: 431 headers_too_large', async () => {
  assertContract(await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`), 431, 'headers_too_large', 'a large header');
  assertContract(await raw(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, 'headers_too_large', 'a long URL');
});

test('a request line that is not HTTP: 400 bad_request', async () => {
  assertContract(await raw('GARBAGE\r\n\r\n'), 400, 'bad_request', 'garbage');
  assertContract(await raw(`POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`), 400, 'bad_request', 'both Content-Length and chunked');
});

test('after a kept-alive answer, a second request that stalls still gets its 408', async () => {
  const a = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n');
  assert.equal(a.status, 200, 'the first request is answered');
  const second = a.text.slice(a.text.indexOf('HTTP/1.1', 1));
  assert.match(second, /^HTTP\/1\.1 408 /, `the second one gets 408: ${JSON.stringify(a.text)}`);
  assert.match(second, /\r\nRequest-Id: [0-9a-f-]{36}\r\n/i);
  assert.match(second, /\r\n\r\n\{"id":"request_timeout","error":"[^"]+"\}$/);
  assert.ok(a.closed, 'the connection is closed');
});

// HTTP/1.1 requires Host (RFC 9112 3.2). Node's own check answered an empty
// 400 without Request-Id; the server answers it in the API's shape, echoing
// the client's Request-Id (the headers are read by then), on every route.
test('an HTTP/1.1 request without Host: 400 missing_host, in the API shape with the Request-Id echoed', async () => {
  const cases: [string, string][] = [
    ['GET /healthz', 'GET /healthz HTTP/1.1\r\nRequest-Id: no-host-1\r\n\r\n'],
    ['an empty Host', 'GET /healthz HTTP/1.1\r\nHost:\r\nRequest-Id: no-host-1\r\n\r\n'],
    ['a management change', `POST /v3/channels/demo/tokens HTTP/1.1\r\nAuthorization: ${srv.auth}\r\nRequest-Id: no-host-1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`],
    // POST /logs answers JSON when asked for it (SPEC 3.1), plain text otherwise
    ['POST /logs', `POST /logs HTTP/1.1\r\nAuthorization: ${await ingestAuth()}\r\nRequest-Id: no-host-1\r\nAccept: application/json\r\nContent-Type: application/logplex-1\r\nContent-Length: 4\r\n\r\n0 x\n`],
  ];
  for (const [what, data] of cases) {
    const a = await raw(data);
    assert.equal(a.status, 400, what);
    assert.deepEqual(a.json, { id: 'missing_host', error: 'bad request: HTTP/1.1 requires a Host header' }, what);
    assert.equal(a.headers.get('request-id'), 'no-host-1', what);
    assert.match(a.headers.get('content-type') ?? '', /^application\/json/, what);
    assert.equal(a.headers.get('connection'), 'close', what);
    assert.ok(a.closed, `${what}: the connection is closed`);
  }
  const text = await raw(`POST /logs HTTP/1.1\r\nAuthorization: ${await ingestAuth()}\r\nContent-Type: application/logplex-1\r\nContent-Length: 4\r\n\r\n0 x\n`);
  assert.equal(text.status, 400, text.text);
  assert.ok(text.text.endsWith('\r\n\r\nbad request: HTTP/1.1 requires a Host header'), text.text);
  assert.ok(text.headers.get('request-id'));
  // HTTP/1.0 has no Host requirement: served as before
  const old = await raw('GET /healthz HTTP/1.0\r\n\r\n');
  assert.equal(old.status, 200, old.text);
  assert.ok(old.headers.get('request-id'));
});
