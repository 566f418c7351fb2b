// Drain management through a real server (SPEC 6.1, 6.5, 10): v3 routes and
// their 201/200/204/404/409/422 answers, the Heroku log-drains shapes,
// persistence, status and metrics, L14 into the app, the CLI functions, and
// the graceful stop that flushes drains within a bounded time.
import assert from 'node:assert/strict';
import { storedConfig } from '../support/server.js';
import { after, before, describe, test } from 'node:test';
import { drains as cliDrains, drainsAdd, drainsRemove, drainsStatus, CliError, type CliIO } from '../../src/cli/drains.js';
import { lineFrom, viewOf } from '../../src/line.js';
import { route } from '../../src/router.js';
import { HttpReceiver, SyslogReceiver, l10Count, msgText, startDrainServer, type DrainTestServer } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
type Json = Record<string, unknown>;

function send(t: DrainTestServer, app: string, n: number, from = 0): void {
  const a = t.server.ctx.registry.require(app);
  for (let i = from; i < from + n; i++) route(a, lineFrom({ pri: 190, ts: '2024-01-01T00:00:00Z', source: 'app', dyno: 'web.1', msg: `line ${i}` }));
}

describe('v3 drain routes', () => {
  let t: DrainTestServer;
  let r: HttpReceiver;
  before(async () => {
    t = await startDrainServer({ LOGPLANE_MAX_DRAINS_PER_APP: '3' });
    r = await HttpReceiver.start();
    await t.server.ctx.registry.putApp('shop', ['app']);
    await t.server.ctx.registry.putApp('other', ['app']);
  });
  after(async () => {
    await t.close();
    await r.close();
  });

  test('POST creates: 201, Location, {id, token, url}; lines flow; persisted', async () => {
    const url = r.url('/shop?k=1');
    const res = await t.api('POST', '/v3/channels/shop/drains', { url });
    assert.equal(res.status, 201);
    const body = res.json as Json;
    assert.deepEqual(Object.keys(body).sort(), ['id', 'token', 'url']);
    assert.match(body.id as string, UUID);
    assert.match((body.token as string).slice(2), UUID);
    assert.ok((body.token as string).startsWith('d.'));
    assert.equal(body.url, url);
    assert.equal(res.headers.get('location'), `${t.url}/v3/channels/shop/drains/${body.id}`);
    const saved = await storedConfig(t.dataDir);
    const rec = saved.apps.find((a) => a.id === 'shop')!.drains[0]!;
    assert.equal(rec.id, body.id);
    assert.equal(rec.token, body.token);
    assert.equal(rec.url, url);
    assert.ok(typeof rec.createdAt === 'string' && typeof rec.updatedAt === 'string');

    send(t, 'shop', 20);
    await until('20 lines', () => r.messages().length === 20);
    assert.equal(r.requests[0]!.url, '/shop?k=1');
    assert.equal(r.requests[0]!.headers['logplex-drain-token'], body.token);
  });

  test('GET lists drains with status', async () => {
    await until('status delivered', async () => (await t.server.drains.list('shop'))[0]!.status.delivered === 20);
    const res = await t.api('GET', '/v3/channels/shop/drains');
    assert.equal(res.status, 200);
    const list = res.json as Json[];
    assert.equal(list.length, 1);
    const d = list[0]!;
    assert.deepEqual(Object.keys(d).sort(), ['created_at', 'filter', 'id', 'status', 'token', 'updated_at', 'url']);
    const s = d.status as Json;
    assert.deepEqual(Object.keys(s).sort(), ['delivered', 'dropped', 'dropped_1h', 'last_error', 'last_success_at', 'latency_ms', 'next_retry_at', 'queue_depth', 'state']);
    assert.equal(s.state, 'idle');
    assert.equal(s.delivered, 20);
    assert.equal(s.dropped, 0);
    assert.equal(s.queue_depth, 0);
    assert.equal(s.last_error, null);
    assert.equal(s.next_retry_at, null);
    assert.match(s.last_success_at as string, /^\d{4}-\d\d-\d\dT/);
    const one = await t.api('GET', `/v3/channels/shop/drains/${d.id}`);
    assert.equal(one.status, 200);
    assert.equal((one.json as Json).id, d.id);
  });

  test('same app + same URL: 409 already exists; another app may use it', async () => {
    const url = r.url('/shop?k=1');
    const res = await t.api('POST', '/v3/channels/shop/drains', { url });
    assert.equal(res.status, 409);
    assert.equal((res.json as Json).error, 'already exists');
    const other = await t.api('POST', '/v3/channels/other/drains', { url });
    assert.equal(other.status, 201);
  });

  test('bad URL or scheme: 422 with the reason; missing url: 400 naming it; unknown app: 404; no key: 401', async () => {
    const bad = await t.api('POST', '/v3/channels/shop/drains', { url: 'ftp://example.com/' });
    assert.equal(bad.status, 422);
    assert.match((bad.json as Json).error as string, /^url: unsupported scheme "ftp"/);
    const bad2 = await t.api('POST', '/v3/channels/shop/drains', { url: 'https://example.com/#frag' });
    assert.equal(bad2.status, 422);
    assert.match((bad2.json as Json).error as string, /#insecure/);
    const missing = await t.api('POST', '/v3/channels/shop/drains', {});
    assert.equal(missing.status, 400);
    assert.match((missing.json as Json).error as string, /^url: required/);
    const notString = await t.api('POST', '/v3/channels/shop/drains', { url: 5 });
    assert.equal(notString.status, 400);
    assert.match((notString.json as Json).error as string, /^url: must be a string/);
    const unknown = await t.api('POST', '/v3/channels/nope/drains', { url: 'https://example.com/' });
    assert.equal(unknown.status, 404);
    const noKey = await fetch(`${t.url}/v3/channels/shop/drains`);
    assert.equal(noKey.status, 401);
  });

  test('limit per app: 422 maximum number of drains reached', async () => {
    assert.equal((await t.api('POST', '/v3/channels/shop/drains', { url: r.url('/2') })).status, 201);
    assert.equal((await t.api('POST', '/v3/channels/shop/drains', { url: r.url('/3') })).status, 201);
    const res = await t.api('POST', '/v3/channels/shop/drains', { url: r.url('/4') });
    assert.equal(res.status, 422);
    assert.equal((res.json as Json).error, 'maximum number of drains reached');
    // concurrent adds never go over the limit
    await t.server.ctx.registry.putApp('race', ['app']);
    const all = await Promise.all(Array.from({ length: 8 }, (_, i) => t.api('POST', '/v3/channels/race/drains', { url: r.url(`/race${i}`) })));
    assert.equal(all.filter((x) => x.status === 201).length, 3);
    assert.equal(all.filter((x) => x.status === 422).length, 5);
    assert.equal(t.server.ctx.registry.require('race').record.drains.length, 3);
  });

  test('PUT changes the URL (200); duplicates 409; unknown 404; lines go to the new URL', async () => {
    const r2 = await HttpReceiver.start();
    try {
      const list = (await t.api('GET', '/v3/channels/shop/drains')).json as Json[];
      const d = list.find((x) => x.url === r.url('/2'))!;
      const res = await t.api('PUT', `/v3/channels/shop/drains/${d.id}`, { url: r2.url('/moved') });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { id: d.id, token: d.token, url: r2.url('/moved') });
      const dup = await t.api('PUT', `/v3/channels/shop/drains/${d.id}`, { url: r.url('/3') });
      assert.equal(dup.status, 409);
      const missing = await t.api('PUT', '/v3/channels/shop/drains/00000000-0000-4000-8000-000000000000', { url: r2.url('/x') });
      assert.equal(missing.status, 404);
      const badUrl = await t.api('PUT', `/v3/channels/shop/drains/${d.id}`, { url: 'gopher://x' });
      assert.equal(badUrl.status, 422);
      send(t, 'shop', 5, 100);
      await until('lines at the new URL', () => r2.messages().length === 5);
      assert.equal(r2.requests[0]!.url, '/moved');
      assert.equal(r2.requests[0]!.headers['logplex-drain-token'], d.token);
    } finally {
      await r2.close();
    }
  });

  test('DELETE: 204; 404 when gone or not this app\'s', async () => {
    const shop = (await t.api('GET', '/v3/channels/shop/drains')).json as Json[];
    const other = (await t.api('GET', '/v3/channels/other/drains')).json as Json[];
    const foreign = await t.api('DELETE', `/v3/channels/shop/drains/${other[0]!.id}`);
    assert.equal(foreign.status, 404);
    const res = await t.api('DELETE', `/v3/channels/shop/drains/${shop[0]!.id}`);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.equal((await t.api('DELETE', `/v3/channels/shop/drains/${shop[0]!.id}`)).status, 404);
    assert.equal((await t.api('GET', '/v3/channels/shop/drains')).json instanceof Array, true);
    assert.equal(((await t.api('GET', '/v3/channels/shop/drains')).json as Json[]).length, 2);
    assert.equal(t.server.drains.drain('shop', shop[0]!.id as string), undefined);
    // the sink is gone from the app
    assert.equal(t.server.ctx.registry.require('shop').sinks.length, 2);
  });

  test('metrics: small fixed label sets, no app ids', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    assert.match(text, /^logplane_drain_lines_delivered_total\{kind="http"\} \d+$/m);
    assert.match(text, /^logplane_drains\{kind="http",state="delivering"\} \d+$/m);
    assert.match(text, /^logplane_drain_lines_dropped_total\{kind="http",reason="overflow"\} 0$/m);
    assert.match(text, /^logplane_drain_attempts_total\{kind="http",outcome="ok"\} \d+$/m);
    assert.match(text, /^logplane_drain_queue_lines\{kind="syslog_tls"\} 0$/m);
    assert.ok(!/logplane_drain[^\n]*shop/.test(text));
  });
});

describe('Heroku Platform API log-drains', () => {
  let t: DrainTestServer;
  before(async () => {
    t = await startDrainServer();
    await t.server.ctx.registry.putApp('web', ['app']);
  });
  after(() => t.close());

  test('GET/POST/DELETE shapes and keys (id, URL-encoded URL, token)', async () => {
    const empty = await t.api('GET', '/apps/web/log-drains');
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.json, []);
    const urls = ['syslog+tls://logs.example.com:6514', 'https://user:pw@logs.example.com/a/b?c=d%2Fe', 'syslog://example.com:514'];
    const made: Json[] = [];
    for (const url of urls) {
      const res = await t.api('POST', '/apps/web/log-drains', { url });
      assert.equal(res.status, 201);
      const d = res.json as Json;
      assert.deepEqual(Object.keys(d), ['id', 'url', 'token', 'created_at', 'updated_at', 'addon']);
      assert.equal(d.url, url);
      assert.equal(d.addon, null);
      assert.match(d.created_at as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      made.push(d);
    }
    const list = await t.api('GET', '/apps/web/log-drains');
    assert.deepEqual(list.json, made);
    const dup = await t.api('POST', '/apps/web/log-drains', { url: urls[0] });
    assert.equal(dup.status, 409);
    assert.equal((dup.json as Json).message, 'already exists');

    // by URL, as `heroku drains:remove URL` sends it
    const byUrl = await t.api('DELETE', `/apps/web/log-drains/${encodeURIComponent(urls[1]!)}`);
    assert.equal(byUrl.status, 200);
    assert.deepEqual(byUrl.json, made[1]);
    const byToken = await t.api('DELETE', `/apps/web/log-drains/${made[0]!.token}`);
    assert.deepEqual(byToken.json, made[0]);
    const byId = await t.api('DELETE', `/apps/web/log-drains/${made[2]!.id}`);
    assert.deepEqual(byId.json, made[2]);
    const gone = await t.api('DELETE', `/apps/web/log-drains/${made[2]!.id}`);
    assert.equal(gone.status, 404);
    const noApp = await t.api('GET', '/apps/nope/log-drains');
    assert.equal(noApp.status, 404);
    assert.equal((noApp.json as Json).message, "Couldn't find that app.");
  });
});

describe('guard at the API, L14 into the app, CLI, graceful stop', () => {
  test('private destinations are refused with 422 unless allowed', async () => {
    const t = await startDrainServer({ LOGPLANE_DRAIN_ALLOW_PRIVATE: '0' });
    try {
      await t.server.ctx.registry.putApp('p', []);
      for (const url of ['http://127.0.0.1:9/', 'https://10.1.2.3/', 'syslog://[::1]:601', 'syslog+tls://169.254.169.254', 'http://localhost:9/',
        'https://[2002:7f00:1::]/', 'http://[64:ff9b::7f00:1]:9/', 'syslog://[::ffff:10.0.0.1]:601']) {
        const res = await t.api('POST', '/v3/channels/p/drains', { url });
        assert.equal(res.status, 422, url);
        assert.match((res.json as Json).error as string, /private, loopback or link-local.*LOGPLANE_DRAIN_ALLOW_PRIVATE=1/, url);
      }
    } finally {
      await t.close();
    }
  });

  test('a syslog+tls certificate failure puts one L14 line in the app', async () => {
    const r = await SyslogReceiver.start('self');
    const t = await startDrainServer();
    try {
      await t.server.ctx.registry.putApp('tls', ['app']);
      const res = await t.api('POST', '/v3/channels/tls/drains', { url: r.url() });
      assert.equal(res.status, 201);
      send(t, 'tls', 1);
      const app = t.server.ctx.registry.require('tls');
      const drain = t.server.drains.drain('tls', (res.json as Json).id as string)!;
      await until('failures', () => drain.counters.attemptsRetry.value >= 3);
      const lines = Array.from({ length: app.ring.count }, (_, i) => viewOf(app.ring.at(i)));
      const l14 = lines.filter((l) => l.msg.startsWith('Error L14'));
      assert.equal(l14.length, 1);
      assert.equal(l14[0]!.source, 'heroku');
      assert.equal(l14[0]!.dyno, 'logplex');
      assert.equal(l14[0]!.msg, `Error L14 (certificate validation): error="self-signed certificate" uri="${r.url()}"`);
      assert.equal(drain.status().queueDepth, 2); // the line and the L14 itself wait for the drain
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('CLI: drains, drains:add, drains:status, drains:remove', async () => {
    const t = await startDrainServer();
    const r = await HttpReceiver.start();
    try {
      await t.server.ctx.registry.putApp('cli', ['app']);
      let out = '';
      const io: CliIO = { out: (s) => (out += s), env: { LOGPLANE_URL: t.url, LOGPLANE_API_KEY: t.server.apiKey } };
      await cliDrains(['-a', 'cli'], io);
      assert.equal(out, 'cli has no drains.\n');
      out = '';
      const url = r.url('/x').replace('http://', 'http://me:secret@');
      await drainsAdd([url, '-a', 'cli'], io);
      assert.match(out, new RegExp(`^Successfully added drain ${r.url('/x').replace(/[.?/]/g, '\\$&')}\nid: [0-9a-f-]{36}\ntoken: d\\.[0-9a-f-]{36}\n$`));
      assert.ok(!out.includes('secret'));
      send(t, 'cli', 3);
      await until('delivered', async () => (await t.server.drains.list('cli'))[0]!.status.delivered === 3);
      out = '';
      await cliDrains(['-a', 'cli'], io);
      // what `drains --help` promises: id, URL (credentials hidden), state, delivered, dropped; aligned columns
      const d = (await t.server.drains.list('cli'))[0]!.record;
      const shown = r.url('/x');
      const pad = (s: string, w: number) => s.padEnd(w);
      assert.equal(out, [
        '=== cli Drains',
        `${pad('ID', 36)}  ${pad('URL', shown.length)}  ${pad('TOKEN', d.token.length)}  STATE  DELIVERED  DROPPED  FILTER`,
        `${d.id}  ${shown}  ${d.token}  idle   3          0        -`,
        '',
      ].join('\n'));
      out = '';
      await drainsStatus(['-a', 'cli'], io);
      assert.match(out, /state: +idle\n/);
      assert.match(out, /delivered: +3\n/);
      assert.match(out, /dropped: +0\n/);
      assert.match(out, /queue depth: +0\n/);
      assert.match(out, /last success: +\d{4}-/);
      assert.match(out, /last error: +-\n/);
      assert.match(out, /next retry: +-\n/);
      out = '';
      await drainsStatus(['-a', 'cli', '--json'], io);
      assert.equal((JSON.parse(out) as Json[])[0]!.delivered, 3);
      await assert.rejects(drainsAdd([url, '-a', 'cli'], io), (e: unknown) => e instanceof CliError && e.message === 'already exists');
      await assert.rejects(drainsAdd(['ftp://x', '-a', 'cli'], io), /unsupported scheme/);
      await assert.rejects(cliDrains([], io), /missing app: pass -a APP \(see: logplane drains --help\)/);
      await assert.rejects(drainsRemove(['nope', '-a', 'cli'], io), /no drain "nope" on cli/);
      out = '';
      await drainsRemove([url, '-a', 'cli'], io);
      assert.match(out, /^Successfully removed drain http:\/\/127/);
      assert.deepEqual(await t.server.drains.list('cli'), []);
      await assert.rejects(cliDrains(['-a', 'cli'], { out: () => {}, env: { LOGPLANE_URL: t.url } }), /LOGPLANE_API_KEY/);
      await assert.rejects(cliDrains(['-a', 'cli'], { out: () => {}, env: { LOGPLANE_URL: t.url, LOGPLANE_API_KEY: 'x'.repeat(20) } }), /refused the API key/);
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('CLI --json never prints the user:password of a drain URL (drains, drains:add, drains:status, drains:remove)', async () => {
    const t = await startDrainServer();
    const r = await HttpReceiver.start();
    try {
      await t.server.ctx.registry.putApp('clijson', ['app']);
      let out = '';
      const io: CliIO = { out: (s) => (out += s), env: { LOGPLANE_URL: t.url, LOGPLANE_API_KEY: t.server.apiKey } };
      const url = r.url('/x?k=1').replace('http://', 'http://me:s3cret-pw@');
      const shown = r.url('/x?k=1');
      const printed: Json[] = [];
      const json = async (run: Promise<void>): Promise<void> => {
        out = '';
        await run;
        assert.ok(!out.includes('s3cret-pw'), out);
        const v = JSON.parse(out) as Json | Json[];
        printed.push(...(Array.isArray(v) ? v : [v]));
      };
      await json(drainsAdd([url, '-a', 'clijson', '--json'], io));
      await json(cliDrains(['-a', 'clijson', '--json'], io));
      await json(drainsStatus(['-a', 'clijson', '--json'], io));
      await json(drainsRemove([url, '-a', 'clijson', '--json'], io));
      // the rest of the URL is shown as stored (the admin key), so a script still finds the drain by it
      assert.deepEqual(printed.map((d) => d.url), [shown, shown, shown, shown]);
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('graceful stop flushes what drains hold; a dead drain cannot hold it up beyond the bound', async () => {
    const slow = await HttpReceiver.start();
    const dead = await HttpReceiver.start();
    dead.mode = 'hang';
    const t = await startDrainServer({ LOGPLANE_DRAIN_FLUSH_TIMEOUT_MS: '1500', LOGPLANE_DRAIN_QUEUE_BYTES: String(16 << 20) });
    try {
      await t.server.ctx.registry.putApp('bye', ['app']);
      assert.equal((await t.api('POST', '/v3/channels/bye/drains', { url: slow.url() })).status, 201);
      assert.equal((await t.api('POST', '/v3/channels/bye/drains', { url: dead.url() })).status, 201);
      send(t, 'bye', 10_000);
      const t0 = Date.now();
      await t.close();
      const took = Date.now() - t0;
      assert.equal(slow.messages().length, 10_000);
      assert.deepEqual(slow.messages().map((m) => msgText('http', m)).slice(-1), ['line 9999']);
      // the flush bound (1.5 s) is what ends the wait for the dead drain, which would otherwise hold
      // the close until its retries end; the margin is for a loaded machine
      assert.ok(took < 15_000, `close took ${took} ms`);
      assert.equal(slow.messages().filter((m) => l10Count(msgText('http', m)) !== null).length, 0);
    } finally {
      await slow.close();
      await dead.close();
    }
  });

  test('drains survive a restart (config) and attach before ingest', async () => {
    const r = await HttpReceiver.start();
    const t = await startDrainServer();
    const dataDir = t.dataDir;
    await t.server.ctx.registry.putApp('keep', ['app']);
    const made = (await t.api('POST', '/v3/channels/keep/drains', { url: r.url() })).json as Json;
    await t.close({ keepData: true });
    const t2 = await startDrainServer({}, { dataDir });
    try {
      const list = await t2.server.drains.list('keep');
      assert.equal(list.length, 1);
      assert.equal(list[0]!.record.token, made.token);
      send(t2, 'keep', 2);
      await until('delivered after restart', () => r.messages().length === 2);
    } finally {
      await t2.close();
      await r.close();
    }
  });
});
