// SPEC 7: every response carries Request-Id (echoed or generated), the
// WebSocket gateway's answers too: its refusals before the upgrade and the
// 101 itself (found by fuzzing the tail's handshake).
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
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${rid}\r\n`);
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
