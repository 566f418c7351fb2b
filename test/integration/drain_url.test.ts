// Drain URLs two URL readings could take differently (docs/drains.md,
// "URLs"): a backslash before `@` (WHATWG ends the authority there, a split
// at `/` does not) and TAB/CR/LF (WHATWG drops them silently). Through the
// real API with a developer key: refused with 422 on create and change, on
// the v3 and the Heroku routes; nothing reaches the hidden listener; no
// forged audit line. The embedding library's lp.drains.add throws the same.
// Also the redacted form of a valid URL with user:password, query values and
// a port, and a stored URL that is no longer accepted (an older version's
// record): the server starts, the drain is kept, not run, and its status
// says why.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createLogplane, LogplaneError } from '../../src/logplane.js';
import { lineFrom } from '../../src/line.js';
import { route } from '../../src/router.js';
import type { DrainRecord } from '../../src/store/store.js';
import { api, type ApiTarget } from '../support/api.js';
import { HttpReceiver, startDrainServer, type DrainTestServer } from '../support/drain-receivers.js';
import { as, createKey, type TestKey } from '../support/keys.js';
import { tempDir } from '../support/server.js';
import { until } from '../support/wait.js';

type Json = Record<string, unknown>;

const NEWLINES = 'https://user\nFAKE[router]:at=error\n:pw@logs2.example.com/';

/** The message part of an app's audit lines (source logplane, dyno api). */
async function auditLines(t: DrainTestServer, app: string): Promise<string[]> {
  const r = await t.api('GET', `/v3/channels/${app}/logs?num=1000`);
  assert.equal(r.status, 200);
  return r.text.split('\n').filter((l) => l.includes(' logplane api - ')).map((l) => l.slice(l.indexOf(' logplane api - ') + 16));
}

function send(t: DrainTestServer, app: string, n: number, tag: string): void {
  const a = t.server.ctx.registry.require(app);
  for (let i = 0; i < n; i++) route(a, lineFrom({ pri: 190, ts: '2024-01-01T00:00:00Z', source: 'app', dyno: 'web.1', msg: `${tag} ${i}` }));
}

function assertInvalidUrl(res: { status: number; json: unknown; text: string }, what: string): void {
  assert.equal(res.status, 422, `${what}: ${res.text}`);
  const body = res.json as Json;
  assert.equal(body.id, 'invalid_url', what);
  assert.match(body.error as string, /^url: /, what);
}

describe('drain URLs read two ways are refused (API)', () => {
  let t: DrainTestServer;
  let dev: TestKey;
  let devApi: ApiTarget;
  /** Where a backslash URL would really send lines. */
  let hidden: HttpReceiver;
  /** An honest drain: once it has the lines, the hidden one would have had them too. */
  let honest: HttpReceiver;
  let hiddenUrl: string;

  before(async () => {
    t = await startDrainServer();
    hidden = await HttpReceiver.start();
    honest = await HttpReceiver.start();
    await t.server.ctx.registry.putApp('shop', ['app']);
    dev = await createKey({ url: t.url, auth: t.auth }, 'deploy-bot', 'developer', ['shop']);
    devApi = as(t, dev);
    hiddenUrl = `http://127.0.0.1:${hidden.port}\\@logs.example.com/ingest`;
  });
  after(async () => {
    await t.close();
    await hidden.close();
    await honest.close();
  });

  test('create: a backslash before @ is 422 (v3 and Heroku routes); nothing is delivered to the host WHATWG reads', async () => {
    assertInvalidUrl(await api(devApi, 'POST', '/v3/channels/shop/drains', { url: hiddenUrl }), 'v3 POST');
    const heroku = await api(devApi, 'POST', '/apps/shop/log-drains', { url: hiddenUrl });
    assert.equal(heroku.status, 422, heroku.text);
    assert.equal((heroku.json as Json).id, 'invalid_url');
    assert.equal(t.server.ctx.registry.require('shop').record.drains.length, 0);

    const ok = await api(devApi, 'POST', '/v3/channels/shop/drains', { url: honest.url('/create') });
    assert.equal(ok.status, 201, ok.text);
    send(t, 'shop', 5, 'create');
    await until('the honest drain has the lines', () => honest.messages().length >= 5);
    assert.equal(hidden.attempts(), 0);
    assert.equal(hidden.connections, 0);
    assert.ok(!(await auditLines(t, 'shop')).some((l) => l.includes('logs.example.com')));
  });

  test('change (PUT): the same URL is 422 and the drain keeps its URL', async () => {
    const [d] = t.server.ctx.registry.require('shop').record.drains;
    assert.ok(d);
    assertInvalidUrl(await api(devApi, 'PUT', `/v3/channels/shop/drains/${d.id}`, { url: hiddenUrl }), 'v3 PUT');
    assertInvalidUrl(await api(devApi, 'PUT', `/v3/channels/shop/drains/${d.id}`, { url: NEWLINES }), 'v3 PUT with LF');
    assert.equal(t.server.ctx.registry.require('shop').record.drains[0]!.url, honest.url('/create'));
    const before = honest.messages().length;
    send(t, 'shop', 5, 'after-put');
    await until('the honest drain has the new lines', () => honest.messages().length >= before + 5);
    assert.equal(hidden.attempts(), 0);
    assert.equal(hidden.connections, 0);
  });

  test('LF in user:password is 422: no forged line in the app\'s stream', async () => {
    assertInvalidUrl(await api(devApi, 'POST', '/v3/channels/shop/drains', { url: NEWLINES }), 'v3 POST with LF');
    const heroku = await api(devApi, 'POST', '/apps/shop/log-drains', { url: NEWLINES });
    assert.equal(heroku.status, 422, heroku.text);
    for (const url of ['https://logs2.example.com/a\tb', 'https://logs2.example.com/\r\nX: y', 'syslog+tls://logs2.exa\nmple.com:6514']) {
      assertInvalidUrl(await api(devApi, 'POST', '/v3/channels/shop/drains', { url }), JSON.stringify(url));
    }
    const r = await t.api('GET', '/v3/channels/shop/logs?num=1000');
    assert.ok(!r.text.includes('FAKE[router]'), r.text);
    assert.ok(!(await auditLines(t, 'shop')).some((l) => l.includes('logs2.example.com')));
  });

  test('a valid URL with user:password, query values and a port: the audit line and a developer\'s list show it redacted', async () => {
    const url = `http://user:hunter2@127.0.0.1:${honest.port}/x/ingest?apikey=sekrit&tag=web&flag`;
    const shown = `http://user:***@127.0.0.1:${honest.port}/x/ingest?apikey=***&tag=***&flag`;
    const add = await api(devApi, 'POST', '/v3/channels/shop/drains', { url });
    assert.equal(add.status, 201, add.text);
    assert.equal((add.json as Json).url, url); // the caller's own URL, as given
    assert.ok((await auditLines(t, 'shop')).includes(`Add drain ${shown} by deploy-bot`));
    const list = (await api(devApi, 'GET', '/v3/channels/shop/drains')).json as Json[];
    assert.deepEqual(list.map((d) => d.url).filter((u) => (u as string).includes('/x/ingest')), [shown]);
    const heroku = (await api(devApi, 'GET', '/apps/shop/log-drains')).json as Json[];
    assert.ok(heroku.some((d) => d.url === shown));
    // the admin sees it whole
    const all = (await t.api('GET', '/v3/channels/shop/drains')).json as Json[];
    assert.ok(all.some((d) => d.url === url));
  });
});

describe('the embedding library (lp.drains.add)', () => {
  test('the same URLs throw the 422 error and add nothing', async () => {
    const hidden = await HttpReceiver.start();
    const dir = tempDir('logplane-drain-url-embed-');
    const lp = await createLogplane({ dataDir: dir, http: false, syslog: false, logger: false, settings: { LOGPLANE_DRAIN_ALLOW_PRIVATE: true } });
    try {
      await lp.apps.create('lib');
      for (const url of [`http://127.0.0.1:${hidden.port}\\@logs.example.com/ingest`, NEWLINES]) {
        await assert.rejects(lp.drains.add('lib', url), (err: unknown) => err instanceof LogplaneError && err.status === 422 && err.id === 'invalid_url', JSON.stringify(url));
      }
      assert.deepEqual(await lp.drains.list('lib'), []);
    } finally {
      await lp.close();
      rmSync(dir, { recursive: true, force: true });
      await hidden.close();
    }
  });
});

describe('a stored drain URL that is no longer accepted', () => {
  test('the server starts; the drain is kept, not run, shown as failing with the reason; a PUT mends it', async () => {
    const hidden = await HttpReceiver.start();
    const honest = await HttpReceiver.start();
    const dataDir = tempDir('logplane-drain-url-');
    const stored = `http://127.0.0.1:${hidden.port}\\@logs.example.com/ingest`;
    let t = await startDrainServer({}, { dataDir });
    try {
      await t.server.ctx.registry.putApp('old', ['app']);
      // what an older version let in, written straight to the store
      const now = new Date().toISOString();
      const rec: DrainRecord = { id: '6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5', token: 'd.0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', url: stored, createdAt: now, updatedAt: now };
      await t.server.ctx.registry.updateDrains('old', () => ({ drains: [rec], result: null }));
      await t.close({ keepData: true });

      t = await startDrainServer({}, { dataDir });
      const dev = await createKey({ url: t.url, auth: t.auth }, 'old-dev', 'developer', ['old']);
      send(t, 'old', 5, 'stored');
      const list = (await api(as(t, dev), 'GET', '/v3/channels/old/drains')).json as Json[];
      assert.equal(list.length, 1);
      const d = list[0]!;
      assert.equal(d.url, '***'); // not the misleading raw form
      const status = d.status as Json;
      assert.equal(status.state, 'failing');
      assert.match((status.last_error as Json).text as string, /^url: must not contain a backslash/);
      assert.equal((status.last_error as Json).errno, 'EINVALIDURL');

      const put = await api(as(t, dev), 'PUT', `/v3/channels/old/drains/${rec.id}`, { url: honest.url('/mended') });
      assert.equal(put.status, 200, put.text);
      send(t, 'old', 5, 'mended');
      await until('the mended drain delivers', () => honest.messages().length >= 5);
      assert.equal(hidden.connections, 0);
      const after = ((await api(as(t, dev), 'GET', '/v3/channels/old/drains')).json as Json[])[0]!;
      assert.notEqual((after.status as Json).state, 'failing');
    } finally {
      await t.close();
      await hidden.close();
      await honest.close();
    }
  });
});
