// An app is the unit of isolation (SPEC 1): a deleted app's lines never show
// up again, in its keys or in a new app of the same id. A node cut off from
// Redis while its app was deleted writes the lines it queued once it is back,
// before it hears of the delete, and after the delete's second pass (2 s
// later) has run: the append finds no config key and keeps nothing of them,
// and the node counts them (logplane_redis_lines_dropped_total{reason=
// "app_deleted"}). Creating an app deletes whatever history keys a deleted
// app of that id left.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisHistory } from '../../src/cluster/history.js';
import { closeClient, commandClient, connectOrThrow, redisTarget } from '../../src/redis/connection.js';
import { appChunks, appConfig, appFirsts, appLines, appMeta, appTrims } from '../../src/redis/keys.js';
import { defineScripts } from '../../src/redis/scripts.js';
import { NODE_SLOTS } from '../../src/basics/seq.js';
import { lineFrom, seqOf } from '../../src/line.js';
import { Registry } from '../../src/obs/metrics.js';
import { silentLog } from '../../src/obs/log.js';
import { redisBackends, serverClients } from '../support/redis-backends.js';
import { api, cutPair, historyOn, metricMatch, postRange, type CutPair } from '../support/cluster.js';
import { until } from '../support/wait.js';

const APP_DELETED = /^logplane_redis_lines_dropped_total\{reason="app_deleted"\} (\d+)$/m;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a deleted app's lines written late by a node cut off from Redis", () => {
  let pair: CutPair | null = null;
  after(async () => {
    await pair?.close();
  });

  test('are discarded and counted; the keys stay gone; a new app of the same id starts empty', async () => {
    pair = await cutPair('gone', {});
    const { a, b, proxy, token, redis } = pair;
    const admin = new Redis(redis.url);
    try {
      // a is cut off from Redis and takes 10 lines of the app: they wait in its queue
      proxy.cut();
      await until('a sees Redis down', () => !a.server.cluster!.history.up, 10_000);
      await postRange(a, token, 'cut-', 0, 10);
      await until('queued on a', () => a.server.cluster!.history.pendingLines === 10, 10_000);
      // the app is deleted through b, and the delete's second pass (2 s later) runs before a is back
      assert.equal((await api(b.url, 'DELETE', '/v3/channels/gone')).status, 204);
      await sleep(2500);
      const history = [appChunks('gone'), appFirsts('gone'), appMeta('gone'), appLines('gone'), appTrims('gone')];
      assert.equal(await admin.exists(...history), 0, 'the history is gone');

      // a is back: its queued lines reach Redis, which keeps nothing of them
      proxy.restore();
      await until('a wrote its queue', () => a.server.cluster!.history.up && a.server.cluster!.history.pendingLines === 0, 15_000);
      assert.equal(await admin.exists(...history, appConfig('gone')), 0, 'no history key came back');
      await until('a counted them as lines of a deleted app', async () => (await metricMatch(a.url, APP_DELETED)) === 10, 10_000);
      await until('a let the app go', () => a.server.ctx.registry.get('gone') === undefined, 10_000);
      assert.equal(await admin.exists(...history, appConfig('gone')), 0, 'still none');
      // what is left of the app expires by itself (each node's last chunk ids, for re-sends)
      for (const k of await admin.keys('lp:{gone}*')) {
        assert.match(k, /^lp:\{gone\}:sent:/, `only the nodes' chunk ids are left: ${k}`);
        assert.ok((await admin.pttl(k)) > 0, `${k} expires`);
      }

      // a new app of the same id starts empty, on every node
      const put = await api(b.url, 'PUT', '/v3/channels/gone', { tokens: ['app'] });
      assert.equal(put.status, 201, put.text);
      await until('the new app on a', () => a.server.ctx.registry.get('gone') !== undefined, 10_000);
      assert.deepEqual(await historyOn(b, 'gone', 100), [], 'nothing of the deleted app on b');
      assert.deepEqual(await historyOn(a, 'gone', 100), [], 'nor on a');
      const fresh = put.json.tokens.app as string;
      await postRange(a, fresh, 'new-', 0, 3);
      await until('the new lines written', async () => (await historyOn(b, 'gone', 100)).length === 3, 10_000);
      assert.deepEqual(await historyOn(b, 'gone', 100), ['new-0', 'new-1', 'new-2']);
      assert.equal(await admin.hget(appMeta('gone'), 'total'), '3', 'the new app counts its lines from 1');
    } finally {
      admin.disconnect();
    }
  });

  test('creating an app deletes the history keys a deleted app of that id left', async () => {
    const { b, redis } = pair!;
    const admin = new Redis(redis.url);
    try {
      // left by a node that wrote without the config check (the previous release, during a rolling upgrade)
      await admin.rpush(appChunks('stale'), 'blob');
      await admin.rpush(appFirsts('stale'), '1:1');
      await admin.rpush(appLines('stale'), 'line');
      await admin.hset(appMeta('stale'), 'total', '10', 'layout', '2');
      await admin.rpush(appTrims('stale'), '1:1:1');
      const put = await api(b.url, 'PUT', '/v3/channels/stale', { tokens: ['app'] });
      assert.equal(put.status, 201, put.text);
      assert.equal(await admin.exists(appChunks('stale'), appFirsts('stale'), appLines('stale'), appMeta('stale'), appTrims('stale')), 0);
      assert.deepEqual(await historyOn(b, 'stale', 100), []);
    } finally {
      admin.disconnect();
    }
  });
});

for (const backend of redisBackends) describe(`appends to an app without its config key${backend.suffix}`, () => {
  for (const layout of ['2', '1'] as const) test(`are discarded, counted and leave no key (layout ${layout}); once the app exists they are written`, async () => {
    const r = await backend.start();
    const cmd = commandClient(redisTarget(r.url), 'test-deleted-app');
    cmd.on('error', () => {});
    defineScripts(cmd);
    const servers = serverClients(r.url);
    try {
      await connectOrThrow(cmd, 10_000);
      const cluster = r.url.startsWith('redis-cluster://');
      const metrics = new Registry();
      const history = new RedisHistory(cmd, { historyLines: 1000, maxPendingLines: 10_000, chunkLines: 1000, pipelineLines: 50_000, origin: () => 3, nodeId: 'n', publish: cluster ? 'SPUBLISH' : 'PUBLISH', layout: () => layout, log: silentLog(), metrics });
      const dropped = (): number => metrics.get('logplane_redis_lines_dropped_total')?.get('app_deleted') ?? 0;
      const offer = (app: string, from: number, to: number): void => {
        const sink = history.sink(app);
        for (let k = from; k < to; k++) sink.offer(lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `k${k}`, seq: k * NODE_SLOTS + 3 }));
      };
      try {
        // several apps (on a Redis Cluster, on several masters), none configured
        const apps = ['x1', 'x2', 'x3', 'x4'];
        for (const app of apps) offer(app, 1, 11);
        assert.equal(await history.flush(10_000), true);
        assert.equal(dropped(), 40, 'every line counted');
        let left = 0;
        for (const s of servers) left += (await s.keys('lp:{x*')).filter((k) => !k.includes(':sent:')).length;
        assert.equal(left, 0, 'no history key made');
        // the app exists: its next lines are written, from ordinal 1
        await cmd.set(appConfig('x1'), '{}');
        offer('x1', 11, 16);
        offer('x2', 11, 16);
        assert.equal(await history.flush(10_000), true);
        assert.equal(dropped(), 45, "x2's 5 more");
        const h = await history.read('x1');
        assert.deepEqual(h.records.map(seqOf), Array.from({ length: 5 }, (_, i) => (11 + i) * NODE_SLOTS + 3));
        assert.equal(await cmd.hget(appMeta('x1'), 'total'), '5');
        assert.equal(await cmd.exists(appChunks('x2')), 0);
      } finally {
        history.close();
      }
    } finally {
      await closeClient(cmd);
      for (const s of servers) s.disconnect();
      await r.close();
    }
  });
});
