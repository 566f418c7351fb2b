// Drain filters (SPEC 16): a drain added with "filter": {source, dyno, grep}
// gets only the matching lines (the session rules of SPEC 5.1), in the v3
// API, the Heroku log-drains route and the CLI; lines filtered out take no
// queue space; the filter survives a restart and cannot be changed in place;
// bad filters are a 400 naming the field. Distributed mode: the owner's feed
// filters, and its cursor steps over what the filter refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { drainsAdd, drainsStatus, drains as cliDrains, type CliIO } from '../../src/cli/drains.js';
import { lineFrom } from '../../src/line.js';
import { route } from '../../src/router.js';
import { api, fastCluster, postLogs, startNode, syslog } from '../support/cluster.js';
import { HttpReceiver, msgText, startDrainServer, TS, type DrainTestServer } from '../support/drain-receivers.js';
import { startRedis } from '../support/redis.js';
import { until } from '../support/wait.js';

type Json = Record<string, any>;

/** Lines of every kind the filter rules tell apart; the message says which. */
function sendMix(t: DrainTestServer, app: string, rounds: number): void {
  const a = t.server.ctx.registry.require(app);
  for (let i = 0; i < rounds; i++) {
    route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: `app web.1 error ${i}` }));
    route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: `app web.1 fine ${i}` }));
    route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'webhook.1', msg: `app webhook.1 error ${i}` }));
    route(a, lineFrom({ pri: 190, ts: TS, source: 'heroku', dyno: 'web.2', msg: `heroku web.2 error ${i}` }));
    route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web', msg: `app web error ${i}` }));
  }
}

function received(r: HttpReceiver): string[] {
  return r.messages().map((f) => msgText('http', f));
}

describe('drain filters', () => {
  test('a filtered drain gets only the lines of that source and dyno that contain the text, in order', async () => {
    const r = await HttpReceiver.start();
    const all = await HttpReceiver.start();
    const t = await startDrainServer();
    try {
      await t.server.ctx.registry.putApp('shop', ['app']);
      const res = await t.api('POST', '/v3/channels/shop/drains', { url: r.url('/f'), filter: { source: 'app', dyno: 'web', grep: 'error' } });
      assert.equal(res.status, 201, res.text);
      assert.deepEqual((res.json as Json).filter, { source: 'app', dyno: 'web', grep: 'error' });
      const plain = await t.api('POST', '/v3/channels/shop/drains', { url: all.url('/all') });
      assert.deepEqual(Object.keys(plain.json as Json).sort(), ['id', 'token', 'url'], 'no filter: the Logplex answer');
      sendMix(t, 'shop', 50);
      await until('unfiltered drain has all 250', () => all.messages().length === 250);
      await until('filtered drain has 100', () => r.messages().length >= 100);
      const want: string[] = [];
      for (let i = 0; i < 50; i++) want.push(`app web.1 error ${i}`, `app web error ${i}`);
      assert.deepEqual(received(r), want);
      const list = (await t.api('GET', '/v3/channels/shop/drains')).json as Json[];
      const f = list.find((d) => d.id === (res.json as Json).id)!;
      assert.deepEqual(f.filter, { source: 'app', dyno: 'web', grep: 'error' });
      assert.equal(f.status.delivered, 100);
      assert.equal(list.find((d) => d.id === (plain.json as Json).id)!.filter, null);
    } finally {
      await t.close();
      await r.close();
      await all.close();
    }
  });

  test('lines a drain filter refuses take no queue space', async () => {
    const r = await HttpReceiver.start();
    r.mode = 'hang';
    const t = await startDrainServer({ LOGPLANE_DRAIN_QUEUE_BYTES: String(16 * 1024), LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '60000' });
    try {
      await t.server.ctx.registry.putApp('quiet', ['app']);
      const res = await t.api('POST', '/v3/channels/quiet/drains', { url: r.url(), filter: { grep: 'error' } });
      assert.equal(res.status, 201, res.text);
      const id = (res.json as Json).id as string;
      const d = t.server.drains.drain('quiet', id)!;
      const a = t.server.ctx.registry.require('quiet');
      route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: 'first error' }));
      await until('the first batch in flight', () => r.requests.length === 1);
      // 10,000 lines (over 1 MB) the filter refuses, against a 16 KiB queue: none queued, none dropped
      for (let i = 0; i < 10_000; i++) route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: `all is well ${i} ${'x'.repeat(100)}` }));
      for (let i = 0; i < 10; i++) route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: `error ${i}` }));
      const s = d.status();
      assert.equal(s.queueDepth, 11, 'the batch in flight and the 10 matching lines');
      assert.equal(s.dropped, 0);
      assert.ok(d.queuedBytes < 2000, `queued bytes ${d.queuedBytes}`);
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('bad drain filters are a 400 naming the field, and no drain is added', async () => {
    const t = await startDrainServer();
    const r = await HttpReceiver.start();
    try {
      await t.server.ctx.registry.putApp('bad', ['app']);
      const cases: Array<[unknown, RegExp]> = [
        ['error', /^filter: must be an object/],
        [['error'], /^filter: must be an object/],
        [{ grep: 5 }, /^filter\.grep: must be a string/],
        [{ source: ['app'] }, /^filter\.source: must be a string/],
        [{ dyno: { name: 'web' } }, /^filter\.dyno: must be a string/],
        [{ grep: true }, /^filter\.grep: must be a string/],
        [{ grep: 'x'.repeat(257) }, /^filter\.grep: at most 256 bytes/],
        [{ grep: 'é'.repeat(129) }, /^filter\.grep: at most 256 bytes/],
        [{ grep: 'a\nb' }, /^filter\.grep: control characters/],
        [{ level: 'error' }, /^filter\.level: unknown field/],
      ];
      for (const [filter, why] of cases) {
        const res = await t.api('POST', '/v3/channels/bad/drains', { url: r.url(), filter });
        assert.equal(res.status, 400, `${JSON.stringify(filter)}: ${res.text}`);
        assert.match((res.json as Json).error, why);
        const h = await t.api('POST', '/apps/bad/log-drains', { url: r.url(), filter });
        assert.equal(h.status, 400, `heroku route, ${JSON.stringify(filter)}: ${h.text}`);
        assert.match((h.json as Json).message, why);
      }
      // exactly 256 bytes is fine
      const ok = await t.api('POST', '/v3/channels/bad/drains', { url: r.url(), filter: { grep: 'x'.repeat(256) } });
      assert.equal(ok.status, 201, ok.text);
      assert.equal(((await t.api('GET', '/v3/channels/bad/drains')).json as Json[]).length, 1);
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('a drain filter survives a restart and cannot be changed in place', async () => {
    const r = await HttpReceiver.start();
    let t = await startDrainServer();
    const dataDir = t.dataDir;
    try {
      await t.server.ctx.registry.putApp('kept', ['app']);
      const res = await t.api('POST', '/v3/channels/kept/drains', { url: r.url('/a'), filter: { dyno: 'web' } });
      const id = (res.json as Json).id as string;
      const put = await t.api('PUT', `/v3/channels/kept/drains/${id}`, { url: r.url('/b'), filter: { dyno: 'worker' } });
      assert.equal(put.status, 422, put.text);
      assert.equal((put.json as Json).id, 'filter_immutable');
      // the same filter, or none given, changes the URL and keeps the filter
      const same = await t.api('PUT', `/v3/channels/kept/drains/${id}`, { url: r.url('/b'), filter: { dyno: 'web' } });
      assert.equal(same.status, 200, same.text);
      assert.deepEqual((same.json as Json).filter, { source: null, dyno: 'web', grep: null });
      assert.equal((await t.api('PUT', `/v3/channels/kept/drains/${id}`, { url: r.url('/c') })).status, 200);
      await t.close({ keepData: true });
      t = await startDrainServer({}, { dataDir });
      const list = (await t.api('GET', '/v3/channels/kept/drains')).json as Json[];
      assert.deepEqual(list[0]!.filter, { source: null, dyno: 'web', grep: null });
      const a = t.server.ctx.registry.require('kept');
      route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'worker.1', msg: 'not this' }));
      route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.3', msg: 'this' }));
      await until('one line', () => r.messages().length >= 1);
      assert.deepEqual(received(r), ['this']);
      assert.equal(r.requests[0]!.url, '/c');
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('the Heroku log-drains route and the CLI take a filter, and status shows it', async () => {
    const r = await HttpReceiver.start();
    const t = await startDrainServer();
    try {
      await t.server.ctx.registry.putApp('cli', ['app']);
      const h = await t.api('POST', '/apps/cli/log-drains', { url: r.url('/h'), filter: { source: 'app' } });
      assert.equal(h.status, 201, h.text);
      assert.deepEqual((h.json as Json).filter, { source: 'app', dyno: null, grep: null });
      const out: string[] = [];
      const io: CliIO = { out: (s) => out.push(s), env: {}, conn: { url: t.url, key: t.server.apiKey } };
      await drainsAdd([r.url('/cli'), '-a', 'cli', '--source', 'app', '--dyno', 'web', '--grep=error'], io);
      assert.match(out.join(''), /filter: source=app dyno=web grep="error"/);
      const list = (await t.api('GET', '/v3/channels/cli/drains')).json as Json[];
      assert.deepEqual(list.map((d) => d.filter), [{ source: 'app', dyno: null, grep: null }, { source: 'app', dyno: 'web', grep: 'error' }]);
      out.length = 0;
      await drainsStatus(['-a', 'cli'], io);
      assert.match(out.join(''), /filter: +source=app dyno=web grep="error"/);
      out.length = 0;
      await cliDrains(['-a', 'cli'], io);
      // the filter is the list's last column
      assert.match(out.join(''), / source=app dyno=web grep="error"\n/);
      await assert.rejects(drainsAdd([r.url('/x'), '-a', 'cli', '--grep'], io), /--grep needs a value/);
      await assert.rejects(drainsAdd([r.url('/x'), '-a', 'cli', '--grep', 'y'.repeat(300)], io), /filter\.grep: at most 256 bytes/);
    } finally {
      await t.close();
      await r.close();
    }
  });
});

test('distributed mode: the owner delivers only what the filter matches, and its cursor moves past the rest', async () => {
  const redis = await startRedis();
  const env = { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_BACKOFF_BASE_MS: '5', LOGPLANE_DRAIN_BACKOFF_MAX_MS: '40' };
  const nodes = [await startNode(redis.url, fastCluster, env), await startNode(redis.url, fastCluster, env)];
  const r = await HttpReceiver.start(false);
  try {
    const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/fd', { tokens: ['app'] })).json.tokens.app as string;
    await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get('fd')));
    const res = await api(nodes[1]!.url, 'POST', '/v3/channels/fd/drains', { url: r.url(), filter: { dyno: 'web', grep: 'error' } });
    assert.equal(res.status, 201, res.text);
    const id = res.json.id as string;
    await until('owner live', () => nodes.some((n) => n.server.cluster?.feed(id)?.live));
    const want: string[] = [];
    for (let k = 0; k < 2; k++) {
      const msgs: string[] = [];
      for (let i = 0; i < 30; i++) {
        msgs.push(syslog(`n${k} error ${i}`, 'web.1'), syslog(`n${k} fine ${i}`, 'web.1'), syslog(`n${k} error ${i}`, 'worker.1'));
        want.push(`n${k} error ${i}`);
      }
      assert.equal(await postLogs(nodes[k]!.url, token, msgs), 204);
    }
    await until('60 lines', () => r.messages().length >= 60);
    const got = received(r);
    assert.deepEqual(got.slice().sort(), want.slice().sort());
    // the cursor steps over the refused lines: it reaches the last line ingested
    const owner = nodes.find((n) => n.server.cluster?.feed(id))!;
    const feed = owner.server.cluster!.feed(id)!;
    await until('cursor at the end', () => {
      feed.advance();
      return feed.cursor === feed.last && feed.last > 0;
    });
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    await r.close();
    await redis.close();
  }
});
