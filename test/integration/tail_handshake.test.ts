// SPEC 7: every response carries Request-Id (echoed or generated) and errors
// are JSON {"id","error"}: the WebSocket gateway's answers too, its refusals
// before the upgrade (a malformed handshake included) and the 101 itself
// (found by fuzzing the tail's handshake); and SSE chosen whatever the
// case of the Accept header.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { api } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';

let srv: TestServer;
let sessionId: string;
before(async () => {
  srv = await startServer();
  await api(srv, 'PUT', '/v3/channels/wsid', { tokens: ['app'] });
  sessionId = String((await api(srv, 'POST', '/v3/sessions', { channel_id: 'wsid', tail: true })).json.url).split('/').pop()!;
});
after(() => srv.close());

const GOOD_HANDSHAKE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

/** The server's whole answer to a raw request (read until it closes; bounded in time). */
function exchange(request: string): Promise<string> {
  const port = Number(new URL(srv.url).port);
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => (sock.destroy(), reject(new Error(`not closed: ${JSON.stringify(got)}`))), 10_000);
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('close', () => (clearTimeout(timer), resolve(got)));
    sock.on('error', () => {});
    sock.write(request);
  });
}

/** The status line and headers the server answers to a WebSocket handshake for path (bounded in time). */
function handshake(path: string, requestId?: string): Promise<string> {
  const port = Number(new URL(srv.url).port);
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no answer: ${JSON.stringify(got)}`))), 10_000);
    sock.on('data', (d) => {
      got += d.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end !== -1) (clearTimeout(timer), sock.destroy(), resolve(got.slice(0, end)));
    });
    sock.on('error', reject);
    const rid = requestId === undefined ? '' : `Request-Id: ${requestId}\r\n`;
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${GOOD_HANDSHAKE}${rid}\r\n`);
  });
}

function requestIdOf(head: string): string | undefined {
  return /^request-id: (.*)$/im.exec(head)?.[1];
}

test('an unknown session refused before the upgrade: 404 with the Request-Id the client sent', async () => {
  const head = await handshake('/sessions/00000000-0000-4000-8000-000000000000', 'fuzz-404');
  assert.match(head, /^HTTP\/1\.1 404 /);
  assert.equal(requestIdOf(head), 'fuzz-404');
});

test('a bad after refused before the upgrade: 400 with a generated Request-Id', async () => {
  const head = await handshake(`/sessions/${sessionId}?after=x`);
  assert.match(head, /^HTTP\/1\.1 400 /);
  assert.match(requestIdOf(head) ?? '', /^[0-9a-f-]{36}$/);
});

test('a path that is no session: 404 with the Request-Id', async () => {
  const head = await handshake('/v3/channels', 'fuzz-route');
  assert.match(head, /^HTTP\/1\.1 404 /);
  assert.equal(requestIdOf(head), 'fuzz-route');
});

test('the 101 of an accepted tail carries the Request-Id', async () => {
  const head = await handshake(`/sessions/${sessionId}`, 'fuzz-101');
  assert.match(head, /^HTTP\/1\.1 101 /);
  assert.equal(requestIdOf(head), 'fuzz-101');
});

// the exact handshakes the fuzzer sent: each got ws's text/html sentence without a Request-Id
const malformed: { name: string; request: (path: string) => string; status: number; error: RegExp; more?: RegExp }[] = [
  { name: 'no Sec-WebSocket-Key', request: (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`, status: 400, error: /Sec-WebSocket-Key/ },
  { name: 'a Sec-WebSocket-Key that is not 16 bytes of base64', request: (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n`, status: 400, error: /Sec-WebSocket-Key/ },
  { name: 'Sec-WebSocket-Version 7', request: (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n${GOOD_HANDSHAKE.replace('13', '7')}\r\n`, status: 400, error: /Sec-WebSocket-Version/, more: /^sec-websocket-version: 13, 8$/im },
  { name: 'Upgrade: h2c', request: (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n`, status: 400, error: /Upgrade/ },
  { name: 'POST', request: (p) => `POST ${p} HTTP/1.1\r\nHost: x\r\n${GOOD_HANDSHAKE}Content-Length: 0\r\n\r\n`, status: 405, error: /method/ },
];
for (const m of malformed) {
  test(`a malformed handshake (${m.name}) to a live session: ${m.status}, a JSON error and the Request-Id`, async () => {
    const answer = await exchange(m.request(`/sessions/${sessionId}`).replace('Host: x\r\n', 'Host: x\r\nRequest-Id: fuzz-hs\r\n'));
    const [head, body] = answer.split('\r\n\r\n');
    assert.match(head!, new RegExp(`^HTTP/1\\.1 ${m.status} `));
    assert.equal(requestIdOf(head!), 'fuzz-hs');
    assert.match(head!, /^content-type: application\/json/im);
    const json = JSON.parse(body!) as { id: string; error: string };
    assert.equal(json.id, m.status === 405 ? 'method_not_allowed' : 'bad_request');
    assert.match(json.error, m.error);
    if (m.more) assert.match(head!, m.more);
  });
}

// RFC 9110 8.3.1: a media type is case-insensitive; the fuzzer's `Accept: TEXT/EVENT-STREAM` got the text transport
test('Accept: TEXT/EVENT-STREAM (any case) gets Server-Sent Events', async () => {
  const s = await api(srv, 'POST', '/v3/sessions', { channel_id: 'wsid' });
  const res = await fetch(String(s.json.url), { headers: { accept: 'TEXT/Event-Stream' }, signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  await res.text();
});

// RFC 9110 12.4.2: q=0 is "not acceptable"; `text/event-stream;q=0` got Server-Sent Events all the same
test('Accept: text/event-stream;q=0 gets the chunked text transport, a non-zero q still SSE', async () => {
  const url = String((await api(srv, 'POST', '/v3/sessions', { channel_id: 'wsid' })).json.url);
  const typeFor = async (accept: string) => {
    const res = await fetch(url, { headers: { accept }, signal: AbortSignal.timeout(10_000) });
    await res.text();
    return res.headers.get('content-type');
  };
  assert.equal(await typeFor('text/event-stream;q=0, text/plain'), 'text/plain; charset=utf-8');
  assert.equal(await typeFor('text/event-stream; Q=0.000'), 'text/plain; charset=utf-8');
  assert.equal(await typeFor('text/event-stream;q=0.5'), 'text/event-stream');
});

// fastify's automatic HEAD ran the GET handler: a tail opened for a body nobody reads, held (with the
// connection's response never ended) until the client disconnected
for (const accept of ['text/plain', 'text/event-stream']) {
  test(`HEAD on a tail session (Accept: ${accept}): the GET's headers, the response ended, no tail held`, async () => {
    const port = Number(new URL(srv.url).port);
    const head = (path: string) => `HEAD ${path} HTTP/1.1\r\nHost: x\r\nAccept: ${accept}\r\nRequest-Id: head-1\r\n\r\n`;
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1');
      let got = '';
      const timer = setTimeout(() => (sock.destroy(), reject(new Error(`HEAD not answered twice on one connection: ${JSON.stringify(got)}`))), 10_000);
      // two HEADs on one kept-alive connection: the second is answered only if the first ended
      sock.on('data', (d) => {
        got += d.toString('latin1');
        if (got.split('HTTP/1.1 ').length > 2) (clearTimeout(timer), resolve(got), sock.destroy());
      });
      sock.on('error', () => {});
      sock.write(head(`/sessions/${sessionId}`) + head(`/sessions/${sessionId}`));
    });
    const first = answer.slice(0, answer.indexOf('\r\n\r\n'));
    assert.match(first, /^HTTP\/1\.1 200 /);
    assert.match(first, new RegExp(`^content-type: ${accept === 'text/plain' ? 'text/plain; charset=utf-8' : 'text/event-stream'}$`, 'im'));
    assert.equal(requestIdOf(first), 'head-1');
    assert.equal(srv.server.tails.tailCount, 0);
  });
}

test('HEAD on an unknown session: 404', async () => {
  const res = await fetch(`${srv.url}/sessions/00000000-0000-4000-8000-000000000000`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 404);
});

// the HTTP API refuses an HTTP/1.1 request without Host (api/errors.ts); an upgrade was accepted and tailed
test('a WebSocket upgrade without Host: 400 missing_host in the API shape with the Request-Id, no tail', async () => {
  const answer = await exchange(`GET /sessions/${sessionId} HTTP/1.1\r\n${GOOD_HANDSHAKE}Request-Id: no-host\r\n\r\n`);
  const [head, body] = answer.split('\r\n\r\n');
  assert.match(head!, /^HTTP\/1\.1 400 /);
  assert.equal(requestIdOf(head!), 'no-host');
  assert.match(head!, /^content-type: application\/json/im);
  assert.equal((JSON.parse(body!) as { id: string }).id, 'missing_host');
  assert.equal(srv.server.tails.tailCount, 0);
});
