// An append whose reply is lost after Redis executed it (the connection cut
// between the two) is sent again by the node: it must be stored once, and the
// node must learn the ordinals its lines got the first time, or its own
// followers count its own lines as lost. The re-sent chunk is published again
// (its blob is part of the transaction, redis/scripts.ts) under the ordinals
// of its first append, so a follower on another node, which drops ordinals it
// has, still sees every line once. An append whose bookkeeping script Redis
// no longer holds (SCRIPT FLUSH) is sent again too; the blob its transaction
// pushed anyway (an orphan) must never be read and must be taken out.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisHistory } from '../../src/cluster/history.js';
import { closeClient, commandClient, connectOrThrow, redisTarget } from '../../src/redis/connection.js';
import { appChannel, appChunks, appConfig, appFirsts, appLines, appMeta, appSent, appTrims } from '../../src/redis/keys.js';
import { slotOf } from '../../src/redis/slots.js';
import { defineScripts, type Scripts } from '../../src/redis/scripts.js';
import { NODE_SLOTS } from '../../src/basics/seq.js';
import { makeHeader } from '../../src/cluster/batch.js';
import { lineFrom, seqOf } from '../../src/line.js';
import { Registry } from '../../src/obs/metrics.js';
import { silentLog } from '../../src/obs/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { startRedisCluster } from '../support/redis-cluster.js';
import { until } from '../support/wait.js';
import { hearChunks } from '../support/chunks.js';

const ORIGIN = 3;
let redis: TestRedis;
let proxy: TcpProxy;

before(async () => {
  redis = await startRedis();
  proxy = await startTcpProxy(redis.port);
});
after(async () => {
  await proxy?.close();
  await redis?.close();
});

test('an append re-sent after its reply was lost is stored once and keeps its first ordinals (no duplicate, no false loss)', async () => {
  const cmd = commandClient(proxy.url, 'test-resend');
  cmd.on('error', () => {});
  defineScripts(cmd);
  await connectOrThrow(cmd, 5000);
  // the app exists (an append to an app without its record is discarded: redis/scripts.ts, APP_GONE)
  await cmd.set(appConfig('app'), '{}');
  const metrics = new Registry();
  const history = new RedisHistory(cmd, { historyLines: 1000, maxPendingLines: 10_000, chunkLines: 1000, pipelineLines: 50_000, origin: () => ORIGIN, nodeId: 'resend-node', log: silentLog(), metrics });
  // a reader of the app on this node: the node keeps which ordinals are its own
  history.follow('app', { last: 0 });
  // what another node's follower hears: (first ordinal, seqs) per published chunk
  const sub = commandClient(redis.url, 'test-resend-sub');
  sub.on('error', () => {});
  const heard = hearChunks(sub);
  await connectOrThrow(sub, 5000);
  await sub.subscribe(appChannel('app'));
  const offer = (from: number, to: number): void => {
    const sink = history.sink('app');
    for (let k = from; k < to; k++) sink.offer(lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `k${k}`, seq: k * NODE_SLOTS + ORIGIN }));
  };
  try {
    // warm-up: the script is loaded, the connection settled
    offer(1, 11);
    assert.equal(await history.flush(5000), true);
    // the next reply from Redis is lost: Redis has run the append, the node hears the connection close
    const dropped = proxy.dropNextReply();
    offer(11, 111);
    await dropped;
    await until('everything written after the reconnect', () => history.up && history.pendingLines === 0, 20_000);
    const h = await history.read('app');
    const seqs = h.records.map(seqOf);
    assert.equal(new Set(seqs).size, seqs.length, 'no line stored twice');
    assert.deepEqual(seqs, Array.from({ length: 110 }, (_, i) => (i + 1) * NODE_SLOTS + ORIGIN), 'every line once, in order');
    const notOwn: number[] = [];
    for (let o = 1; o <= 110; o++) if (!history.isOwn('app', o)) notOwn.push(o);
    assert.deepEqual(notOwn, [], 'the node knows every ordinal of its own lines (none would be reported lost to its tails)');
    await until('both appends of the re-sent chunk heard', () => heard.length >= 3, 5000);
    assert.deepEqual(heard.map((h) => [h.first, h.seqs.length]), [[1, 10], [11, 100], [11, 100]], 'the re-sent chunk is published again under its first ordinals');
    // a follower's rule (cluster/follow.ts): ordinals at or below the last one it has are dropped
    let last = 0;
    const followed: number[] = [];
    for (const h of heard) {
      h.seqs.forEach((q, i) => {
        if (h.first + i > last) followed.push(q);
      });
      last = Math.max(last, h.first + h.seqs.length - 1);
    }
    assert.deepEqual(followed, seqs, 'a follower sees every line once, in order');
    // the history's two lists stay in step (one `first:seq` per chunk), so later appends trim and read right
    assert.equal(await cmd.llen(appChunks('app')), await cmd.llen(appFirsts('app')), 'one chunk per first ordinal');
    offer(111, 1311);
    assert.equal(await history.flush(5000), true);
    const later = await history.read('app');
    assert.deepEqual(later.records.map(seqOf).slice(-1000), Array.from({ length: 1000 }, (_, i) => (i + 311) * NODE_SLOTS + ORIGIN), 'after more appends and trimming: the last 1000 lines, once each, in order');
  } finally {
    history.close();
    await closeClient(cmd);
    await closeClient(sub);
  }
});

test('appends after Redis forgot the append scripts (SCRIPT FLUSH) are written once, in order, none lost; the blob whose bookkeeping did not run (an orphan) is never read and is taken out', async () => {
  const cmd = commandClient(redis.url, 'test-noscript');
  cmd.on('error', () => {});
  defineScripts(cmd);
  await connectOrThrow(cmd, 5000);
  await cmd.set(appConfig('flushed'), '{}');
  const metrics = new Registry();
  const history = new RedisHistory(cmd, { historyLines: 1000, maxPendingLines: 10_000, chunkLines: 1000, pipelineLines: 50_000, origin: () => ORIGIN, nodeId: 'noscript-node', log: silentLog(), metrics });
  const offer = (from: number, to: number): void => {
    const sink = history.sink('flushed');
    for (let k = from; k < to; k++) sink.offer(lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `k${k}`, seq: k * NODE_SLOTS + ORIGIN }));
  };
  const seqsUpTo = (n: number): number[] => Array.from({ length: n }, (_, i) => (i + 1) * NODE_SLOTS + ORIGIN);
  const stat = async (name: string, field: string): Promise<number> => Number(new RegExp(`cmdstat_${name}:.*\\b${field}=(\\d+)`).exec(await cmd.info('commandstats'))?.[1] ?? 0);
  try {
    // the first append publishes (a new app is taken to be listened to) and learns nobody listens; the next ones go by SHA (redis/scripts.ts)
    offer(1, 11);
    assert.equal(await history.flush(5000), true);
    offer(11, 21);
    assert.equal(await history.flush(5000), true);
    assert.ok((await stat('evalsha', 'calls')) >= 1, 'the unlistened append went by SHA');
    const failedBefore = await stat('evalsha', 'failed_calls');

    // the scripts vanish: the next append's RPUSH runs, its bookkeeping does not (an orphan), and the chunk is sent again
    await cmd.script('FLUSH');
    offer(21, 61);
    assert.equal(await history.flush(5000), true, 'written after the script was loaded again');
    assert.ok((await stat('evalsha', 'failed_calls')) > failedBefore, 'the bookkeeping failed (NOSCRIPT) after its RPUSH ran');
    const h = await history.read('flushed');
    const seqs = h.records.map(seqOf);
    assert.equal(new Set(seqs).size, seqs.length, 'no line stored twice');
    assert.deepEqual(seqs, seqsUpTo(60), 'every line once, in order');
    assert.equal(await cmd.llen(appChunks('flushed')), await cmd.llen(appFirsts('flushed')), 'every blob has its firsts element: the orphan was taken out');
    const dropped = metrics.get('logplane_redis_lines_dropped_total');
    assert.equal((dropped?.get('overflow') ?? 0) + (dropped?.get('rejected') ?? 0), 0, 'nothing dropped');

    // orphans as failed transactions leave them (blobs after the last one with a firsts element; two appends failed in a row): readers stop before them
    const orphan = await cmd.lindexBuffer(appChunks('flushed'), -1);
    assert.ok(orphan !== null);
    await cmd.rpush(appChunks('flushed'), orphan, orphan);
    assert.deepEqual((await history.read('flushed')).records.map(seqOf), seqsUpTo(60), 'the orphans are not read');
    assert.deepEqual((await history.read('flushed', 30)).records.map(seqOf), seqsUpTo(60).slice(29), 'nor from an ordinal');
    // the script's reply holds as many chunks as firsts ({total, tseq, notices, k, epoch:R:T, k firsts, k chunks}): an orphan there would be taken for the previous release's list
    const raw = await (cmd as unknown as Scripts).lpHistoryBuffer(appChunks('flushed'), appFirsts('flushed'), appMeta('flushed'), appLines('flushed'), 0, 1000);
    assert.equal(raw.length, 5 + 2 * Number(raw[3]!.toString()), 'no chunk past the last firsts element in the reply');
    // the next append whose bookkeeping runs takes them out
    offer(61, 71);
    assert.equal(await history.flush(5000), true);
    assert.deepEqual((await history.read('flushed')).records.map(seqOf), seqsUpTo(70));
    assert.equal(await cmd.llen(appChunks('flushed')), await cmd.llen(appFirsts('flushed')), 'the orphans are gone');
  } finally {
    history.close();
    await closeClient(cmd);
  }
});

test('on a Redis Cluster each master gets the appends of its apps on its own connection, and after every master forgot the script (SCRIPT FLUSH) they are written once, in order', async () => {
  const rc = await startRedisCluster({ masters: 3 });
  const cmd = commandClient(redisTarget(rc.url), 'test-cluster-rounds');
  cmd.on('error', () => {});
  defineScripts(cmd);
  try {
    await connectOrThrow(cmd, 10_000);
    const history = new RedisHistory(cmd, { historyLines: 1000, maxPendingLines: 10_000, chunkLines: 1000, pipelineLines: 50_000, origin: () => ORIGIN, nodeId: 'cluster-node', publish: 'SPUBLISH', log: silentLog(), metrics: new Registry() });
    // apps on every master
    const masters = await rc.masters();
    const apps: string[] = [];
    for (let i = 0; apps.length < masters.length * 2 && i < 1000; i++) {
      const owner = await rc.ownerOf(slotOf(appChunks(`app${i}`)));
      if (apps.filter((a) => a.endsWith(`@${owner}`)).length < 2) apps.push(`app${i}@${owner}`);
    }
    const ids = apps.map((a) => a.slice(0, a.indexOf('@')));
    assert.equal(new Set(apps.map((a) => a.slice(a.indexOf('@') + 1))).size, masters.length, 'apps on every master');
    for (const app of ids) await cmd.set(appConfig(app), '{}');
    const offer = (from: number, to: number): void => {
      for (const app of ids) {
        const sink = history.sink(app);
        for (let k = from; k < to; k++) sink.offer(lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `k${k}`, seq: k * NODE_SLOTS + ORIGIN }));
      }
    };
    try {
      offer(1, 11);
      assert.equal(await history.flush(10_000), true);
      for (const m of masters) await rc.client(m).script('FLUSH');
      offer(11, 61);
      assert.equal(await history.flush(10_000), true, 'written after the script was loaded again');
      for (const app of ids) {
        const h = await history.read(app);
        assert.deepEqual(h.records.map(seqOf), Array.from({ length: 60 }, (_, i) => (i + 1) * NODE_SLOTS + ORIGIN), `${app}: every line once, in order`);
      }
      // the appends that met the flushed script left their blobs behind (redis/scripts.ts: orphans); the appends sent again took them out
      for (const a of apps) {
        const [app, owner] = a.split('@') as [string, string];
        const r = rc.client(Number(owner));
        assert.equal(await r.llen(appChunks(app)), await r.llen(appFirsts(app)), `${app}: every blob has its firsts element`);
      }
    } finally {
      history.close();
    }
  } finally {
    await closeClient(cmd);
    await rc.close();
  }
});

test('appends of the previous release (the append script with the chunk) and transactions of this one interleave on one app: one history, in order, trimmed right (a rolling upgrade between the two)', async () => {
  const cmd = commandClient(redis.url, 'test-mixed');
  cmd.on('error', () => {});
  defineScripts(cmd);
  await connectOrThrow(cmd, 5000);
  await cmd.set(appConfig('mixed'), '{}');
  const OLD = 9;
  const history = new RedisHistory(cmd, { historyLines: 50, maxPendingLines: 10_000, chunkLines: 1000, pipelineLines: 50_000, origin: () => ORIGIN, nodeId: 'new-node', log: silentLog(), metrics: new Registry() });
  const line = (k: number, origin: number): Buffer => lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `k${k}`, seq: k * NODE_SLOTS + origin });
  const s = cmd as unknown as Scripts;
  try {
    const want: number[] = [];
    for (let round = 0; round < 12; round++) {
      const from = round * 10 + 1;
      if (round % 2 === 0) {
        // this release: a transaction
        const sink = history.sink('mixed');
        for (let k = from; k < from + 10; k++) {
          sink.offer(line(k, ORIGIN));
          want.push(k * NODE_SLOTS + ORIGIN);
        }
        assert.equal(await history.flush(5000), true);
      } else {
        // the previous release: the append script with the chunk as its argument
        const recs = Array.from({ length: 10 }, (_, i) => line(from + i, OLD));
        const blob = Buffer.concat([makeHeader(OLD, recs), ...recs]);
        const total = await s.lpAppend(appChunks('mixed'), appFirsts('mixed'), appMeta('mixed'), appSent('mixed', 'old-node'), appLines('mixed'), appTrims('mixed'), appConfig('mixed'), 50, appChannel('mixed'), 'PUBLISH', round, blob, seqOf(recs[9]!), '2');
        assert.equal(total, (round + 1) * 10);
        want.push(...recs.map(seqOf));
      }
    }
    const h = await history.read('mixed');
    assert.deepEqual(h.records.map(seqOf).slice(-50), want.slice(-50), 'the last 50 lines of both, in append order');
    assert.equal(await cmd.llen(appChunks('mixed')), await cmd.llen(appFirsts('mixed')), 'one chunk per first ordinal');
    assert.ok((await cmd.llen(appChunks('mixed'))) <= 6, 'old chunks trimmed');
  } finally {
    history.close();
    await closeClient(cmd);
  }
});
