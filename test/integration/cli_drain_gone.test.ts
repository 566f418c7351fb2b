// `logplane drains:remove` and `drains:replay` find the drain in the app's
// list, then ask for it by id. When another client removes the drain in
// between, the server's answer is 404 "drain not found": the CLI must not
// tell the user that the app is gone (it is not).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CliError, drainsRemove, drainsReplay, type CliIO } from '../../src/cli/drains.js';
import { startServer, type TestServer } from '../support/server.js';

/**
 * A front to the server that, on the first request to a drain by id (the
 * CLI's second request), first removes that drain itself: another client's
 * removal landing between the CLI's list and its request.
 */
function racingFront(t: TestServer): Promise<Server> {
  const front = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const byId = /^\/v3\/channels\/[^/]+\/drains\/[^/]+/.exec(req.url ?? '');
      if (byId) await fetch(`${t.url}${byId[0]}`, { method: 'DELETE', headers: { authorization: t.auth } });
      const body = chunks.length ? Buffer.concat(chunks) : undefined;
      const r = await fetch(`${t.url}${req.url}`, { method: req.method, headers: { authorization: String(req.headers.authorization), 'content-type': 'application/json' }, body });
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer()));
    })();
  });
  return new Promise((resolve) => front.listen(0, '127.0.0.1', () => resolve(front)));
}

describe('drains:remove and drains:replay when the drain is removed meanwhile', () => {
  let t: TestServer;
  let front: Server;
  before(async () => {
    t = await startServer();
    front = await racingFront(t);
  });
  after(async () => {
    front.close();
    await t.close();
  });

  const io = (): CliIO => ({ out: () => assert.fail('nothing printed'), env: {}, conn: { url: `http://127.0.0.1:${(front.address() as AddressInfo).port}`, key: t.apiKey } });
  const api = (method: string, path: string, body?: unknown) => fetch(`${t.url}${path}`, { method, headers: { authorization: t.auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  for (const [name, run] of [
    ['drains:remove', (id: string) => drainsRemove([id, '-a', 'gone'], io())],
    ['drains:replay', (id: string) => drainsReplay([id, '-a', 'gone', '--num', '1'], io())],
  ] as const) {
    it(`${name}: one line saying the drain is gone, not the app`, async () => {
      await api('PUT', '/v3/channels/gone', { tokens: ['app'] });
      const d = (await (await api('POST', '/v3/channels/gone/drains', { url: `https://example.com/${name}` })).json()) as { id: string };
      await assert.rejects(run(d.id), (e: unknown) => {
        assert.ok(e instanceof CliError, String(e));
        assert.doesNotMatch(e.message, /app "gone" not found/);
        assert.equal(e.message, `no drain "${d.id}" on gone (it was removed meanwhile)`);
        return true;
      });
      // the app is still there
      assert.equal((await api('GET', '/v3/channels/gone')).status, 200);
    });
  }
});
