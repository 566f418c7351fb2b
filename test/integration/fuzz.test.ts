// The bounded fuzz run of `npm test`: every property of test/fuzz with a
// few hundred generated inputs (the long run: npm run fuzz -- --minutes N).
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { api } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { postLogsProperty, wsParamsProperty } from '../fuzz/http.js';
import { byteProperties } from '../fuzz/properties.js';

describe('parsers', () => {
  for (const p of byteProperties) test(p.name, () => fc.assert(p.property as fc.IProperty<unknown>, { numRuns: p.runs }));
});

describe('HTTP answers', () => {
  let srv: TestServer;
  let sessionId: string;
  before(async () => {
    srv = await startServer();
    await api(srv, 'PUT', '/v3/channels/fuzz', { tokens: ['app'] });
    sessionId = String((await api(srv, 'POST', '/v3/sessions', { channel_id: 'fuzz', tail: true })).json.url).split('/').pop()!;
  });
  after(() => srv.close());
  test('POST /logs: random bodies get 204 (all stored) or 400 (none stored)', async () => {
    const p = postLogsProperty(srv.server, 'fuzz');
    await fc.assert(p.property as fc.IAsyncProperty<unknown>, { numRuns: p.runs });
  });
  test('WebSocket tail parameters: random after/format get 101 or 400 invalid_params', async () => {
    const p = wsParamsProperty(srv.server, sessionId);
    await fc.assert(p.property as fc.IAsyncProperty<unknown>, { numRuns: p.runs });
  });
});
