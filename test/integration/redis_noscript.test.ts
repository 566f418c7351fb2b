// While nobody listens to an app, its appends call the bookkeeping script by
// its SHA (redis/scripts.ts): a script Redis no longer holds (SCRIPT FLUSH, a
// new master) fails only when EXEC runs it, after the transaction's RPUSH of
// the chunk's blob ran. That blob is an orphan: readers must not see it, the
// node must load the script and send the chunk again, and the next
// bookkeeping must take the orphan out, so the history holds every line once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisHistory } from '../../src/cluster/history.js';
import { closeClient, commandClient, connectOrThrow } from '../../src/redis/connection.js';
import { appChunks, appFirsts, appLines, appMeta } from '../../src/redis/keys.js';
import { defineScripts, type Scripts } from '../../src/redis/scripts.js';
import { NODE_SLOTS } from '../../src/basics/seq.js';
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

test('scripts flushed under a node that calls the bookkeeping by SHA: the chunk is sent again, stored once, and the orphaned blob is never read and taken out', async () => {
  const cmd = commandClient(redis.url, 'test-noscript');
  cmd.on('error', () => {});
  defineScripts(cmd);
  await connectOrThrow(cmd, 5000);
  const admin = commandClient(redis.url, 'test-noscript-admin');
  admin.on('error', () => {});
  await connectOrThrow(admin, 5000);
  const metrics = new Registry();
  const history = new RedisHistory(cmd, { historyLines: 1000, maxPendingLines: 10_000, chunkLines: 1000, pipelineLines: 50_000, origin: () => ORIGIN, nodeId: 'noscript-node', log: silentLog(), metrics });
  const offer = (from: number, to: number): void => {
    const sink = history.sink('app');
    for (let k = from; k < to; k++) sink.offer(lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `k${k}`, seq: k * NODE_SLOTS + ORIGIN }));
  };
  const seqsUpTo = (n: number): number[] => Array.from({ length: n }, (_, i) => (i + 1) * NODE_SLOTS + ORIGIN);
  try {
    // the first append publishes (a new app is taken to be listened to) and learns nobody listens; the second goes by SHA
    offer(1, 51);
    assert.equal(await history.flush(5000), true);
    offer(51, 101);
    assert.equal(await history.flush(5000), true);
    assert.deepEqual((await history.read('app')).records.map(seqOf), seqsUpTo(100));
    const stat = async (name: string, field: string): Promise<number> => Number(new RegExp(`cmdstat_${name}:.*\\b${field}=(\\d+)`).exec(await admin.info('commandstats'))?.[1] ?? 0);
    assert.ok((await stat('evalsha', 'calls')) >= 1, 'the unlistened append went by SHA');
    const failedBefore = await stat('evalsha', 'failed_calls');

    // the scripts vanish: the next append's RPUSH runs, its bookkeeping does not
    await admin.script('FLUSH');
    offer(101, 151);
    await until('the chunk written after the script was loaded again', () => history.pendingLines === 0 && (metrics.get('logplane_redis_lines_written_total')?.get() ?? 0) >= 150, 10_000);
    const h = await history.read('app');
    const seqs = h.records.map(seqOf);
    assert.ok((await stat('evalsha', 'failed_calls')) > failedBefore, 'the bookkeeping failed (NOSCRIPT) after its RPUSH ran');
    assert.equal(new Set(seqs).size, seqs.length, 'no line stored twice');
    assert.deepEqual(seqs, seqsUpTo(150), 'every line once, in order');
    assert.equal(await admin.llen(appChunks('app')), await admin.llen(appFirsts('app')), 'every blob has its firsts element: the orphan was taken out');
    const dropped = metrics.get('logplane_redis_lines_dropped_total');
    assert.equal((dropped?.get('overflow') ?? 0) + (dropped?.get('rejected') ?? 0), 0, 'nothing dropped');

    // orphans as failed transactions leave them (blobs after the last one with a firsts element; two appends failed in a row): readers stop before them
    const orphan = await admin.lindexBuffer(appChunks('app'), -1);
    assert.ok(orphan !== null);
    await admin.rpush(appChunks('app'), orphan, orphan);
    assert.deepEqual((await history.read('app')).records.map(seqOf), seqsUpTo(150), 'the orphans are not read');
    assert.deepEqual((await history.read('app', 120)).records.map(seqOf), seqsUpTo(150).slice(119), 'nor from an ordinal');
    // the script's reply holds as many chunks as firsts ({total, tseq, notices, k, k firsts, k chunks}): an orphan there would be taken for the previous release's list
    const raw = await (cmd as unknown as Scripts).lpHistoryBuffer(appChunks('app'), appFirsts('app'), appMeta('app'), appLines('app'), 0, 1000);
    assert.equal(raw.length, 4 + 2 * Number(raw[3]!.toString()), 'no chunk past the last firsts element in the reply');
    // the next append whose bookkeeping runs takes them out
    offer(151, 161);
    assert.equal(await history.flush(5000), true);
    assert.deepEqual((await history.read('app')).records.map(seqOf), seqsUpTo(160));
    assert.equal(await admin.llen(appChunks('app')), await admin.llen(appFirsts('app')), 'the orphans are gone');
  } finally {
    history.close();
    await closeClient(cmd);
    await closeClient(admin);
  }
});
