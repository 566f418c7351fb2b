// An append Redis refuses (over maxmemory with noeviction: OOM) must change
// nothing in Redis (the transaction is not run: no count bumped, no chunk
// pushed without its bookkeeping, nothing published), and its lines must be
// counted as dropped (reason "rejected") and announced by a loss notice in
// the app's stream once Redis takes writes again: never lost silently.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisHistory } from '../../src/cluster/history.js';
import { closeClient, commandClient, connectOrThrow } from '../../src/redis/connection.js';
import { appChannel, appChunks, appConfig, appFirsts, appMeta } from '../../src/redis/keys.js';
import { defineScripts } from '../../src/redis/scripts.js';
import { NODE_SLOTS } from '../../src/basics/seq.js';
import { decodeLossNotice, isLossNotice } from '../../src/cluster/batch.js';
import { lineFrom, seqOf } from '../../src/line.js';
import { Registry } from '../../src/obs/metrics.js';
import { silentLog } from '../../src/obs/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { until } from '../support/wait.js';

const ORIGIN = 5;
let redis: TestRedis;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.close();
});

test('an append refused for memory (OOM) changes nothing in Redis; its lines are counted as rejected and announced in the stream once Redis takes writes again', async () => {
  const admin = new Redis(redis.url);
  const cmd = commandClient(redis.url, 'test-refused');
  cmd.on('error', () => {});
  defineScripts(cmd);
  await connectOrThrow(cmd, 5000);
  // the app exists (an append to an app without its record is discarded: redis/scripts.ts, APP_GONE)
  await cmd.set(appConfig('app'), '{}');
  const metrics = new Registry();
  const history = new RedisHistory(cmd, { historyLines: 1000, maxPendingLines: 10_000, chunkLines: 1000, pipelineLines: 50_000, origin: () => ORIGIN, nodeId: 'refused-node', log: silentLog(), metrics });
  let published = 0;
  const sub = new Redis(redis.url);
  sub.on('messageBuffer', () => published++);
  await sub.subscribe(appChannel('app'));
  const offer = (from: number, to: number): void => {
    const sink = history.sink('app');
    for (let k = from; k < to; k++) sink.offer(lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `k${k}`, seq: k * NODE_SLOTS + ORIGIN }));
  };
  const rejected = (): number => metrics.get('logplane_redis_lines_dropped_total')?.get('rejected') ?? 0;
  try {
    offer(1, 11);
    assert.equal(await history.flush(5000), true);
    await until('the first chunk heard', () => published >= 2, 5000);
    const before = { total: await admin.hget(appMeta('app'), 'total'), chunks: await admin.llen(appChunks('app')), firsts: await admin.llen(appFirsts('app')) };
    assert.deepEqual(before, { total: '10', chunks: 1, firsts: 1 });
    const heard = published;

    // Redis over its memory limit: every write is refused
    await admin.config('SET', 'maxmemory', '1');
    offer(11, 31);
    await until('the append refused and counted', () => rejected() === 20, 5000);
    assert.deepEqual({ total: await admin.hget(appMeta('app'), 'total'), chunks: await admin.llen(appChunks('app')), firsts: await admin.llen(appFirsts('app')) }, before, 'nothing of the refused append ran');
    assert.equal(published, heard, 'nothing published for it');

    // memory again: the next append goes through, after a loss notice for the 20 refused lines
    await admin.config('SET', 'maxmemory', '0');
    offer(31, 36);
    await until('written again', async () => (await admin.hget(appMeta('app'), 'total')) !== '10', 5000);
    assert.equal(await history.flush(5000), true);
    const h = await history.read('app');
    const notices = h.records.filter(isLossNotice).map((r) => decodeLossNotice(r)!);
    assert.deepEqual(notices.map((n) => [n.origin, n.n]), [[ORIGIN, 20]], 'one loss notice: this node could not write 20 lines');
    assert.deepEqual(h.records.filter((r) => !isLossNotice(r)).map(seqOf), [...Array.from({ length: 10 }, (_, i) => (i + 1) * NODE_SLOTS + ORIGIN), ...Array.from({ length: 5 }, (_, i) => (i + 31) * NODE_SLOTS + ORIGIN)], 'the lines written, in order');
    assert.equal(await admin.llen(appChunks('app')), await admin.llen(appFirsts('app')), 'one chunk per first ordinal');
    // the notice is remembered in meta (`ordinal:origin:n`), so a reader that finds it trimmed still learns its n
    assert.equal(await admin.hget(appMeta('app'), 'notices'), `11:${ORIGIN}:20`);
  } finally {
    history.close();
    await closeClient(cmd);
    admin.disconnect();
    sub.disconnect();
  }
});
