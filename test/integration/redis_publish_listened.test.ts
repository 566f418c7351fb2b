// An app's chunks are published only while some node follows it
// (redis/scripts.ts, "Published only while someone listens"): an app nobody
// follows costs Redis its chunk once (RPUSH), not twice (RPUSH and PUBLISH).
// A follower that subscribes between two appends of the node still gets
// every chunk from its subscription on: Redis itself publishes the blob the
// node left out, adjacent to its ordinal message, also when that append is
// re-sent after a lost reply.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisHistory } from '../../src/cluster/history.js';
import { closeClient, commandClient, connectOrThrow } from '../../src/redis/connection.js';
import { appChannel, appConfig } from '../../src/redis/keys.js';
import { defineScripts } from '../../src/redis/scripts.js';
import { NODE_SLOTS } from '../../src/basics/seq.js';
import { lineFrom, seqOf } from '../../src/line.js';
import { Registry } from '../../src/obs/metrics.js';
import { silentLog } from '../../src/obs/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';
import { hearChunks, type HeardChunk } from '../support/chunks.js';
import type { Redis } from 'ioredis';

const ORIGIN = 5;
let redis: TestRedis;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.close();
});

/** A follower on another node: what it hears on the app channel, as (first ordinal, seqs) per chunk. */
async function listener(app: string): Promise<{ heard: HeardChunk[]; sub: Redis }> {
  const sub = commandClient(redis.url, `test-listener-${app}`);
  sub.on('error', () => {});
  const heard = hearChunks(sub);
  await connectOrThrow(sub, 5000);
  await sub.subscribe(appChannel(app));
  return { heard, sub };
}

async function publishCalls(r: Redis): Promise<number> {
  const text = await r.info('commandstats');
  return Number(/^cmdstat_publish:calls=(\d+)/m.exec(text)?.[1] ?? 0);
}

function setup(url: string, name: string): { cmd: Redis; history: RedisHistory; metrics: Registry; offer(app: string, from: number, to: number): void; published(by: string): number } {
  const cmd = commandClient(url, name);
  cmd.on('error', () => {});
  defineScripts(cmd);
  const metrics = new Registry();
  const history = new RedisHistory(cmd, { historyLines: 1000, maxPendingLines: 10_000, chunkLines: 1000, pipelineLines: 50_000, origin: () => ORIGIN, nodeId: name, log: silentLog(), metrics });
  return {
    cmd,
    history,
    metrics,
    offer(app, from, to) {
      const sink = history.sink(app);
      for (let k = from; k < to; k++) sink.offer(lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `k${k}`, seq: k * NODE_SLOTS + ORIGIN }));
    },
    published: (by) => metrics.get('logplane_redis_chunks_total')?.get(by) ?? 0,
  };
}

/** The apps of this file exist (an append to an app without its record is discarded: redis/scripts.ts, APP_GONE). */
async function appsExist(r: Redis): Promise<void> {
  for (const app of ['quiet', 'late', 'other', 'relate']) await r.set(appConfig(app), '{}');
}

const seqsOf = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => (from + i) * NODE_SLOTS + ORIGIN);

test('an app nobody follows: from its second append on, its chunks go into the history and are not published', async () => {
  const n = setup(redis.url, 'quiet-node');
  try {
    await connectOrThrow(n.cmd, 5000);
    await appsExist(n.cmd);
    n.offer('quiet', 1, 11);
    assert.equal(await n.history.flush(5000), true);
    // the first append published (the node could not know), and learnt that nobody listens
    assert.equal(n.published('node'), 1);
    const before = await publishCalls(n.cmd);
    for (let r = 0; r < 5; r++) {
      n.offer('quiet', 11 + 10 * r, 21 + 10 * r);
      assert.equal(await n.history.flush(5000), true);
    }
    assert.equal(await publishCalls(n.cmd), before, 'no PUBLISH (neither the blob nor its ordinal message) while nobody listens');
    assert.equal(n.published('none'), 5);
    const h = await n.history.read('quiet');
    assert.deepEqual(h.records.map(seqOf), seqsOf(1, 61), 'every line in the history, once, in order');
  } finally {
    n.history.close();
    await closeClient(n.cmd);
  }
});

test('a follower that subscribes between two appends gets the next chunk from Redis itself, then from the node, every line once', async () => {
  const n = setup(redis.url, 'late-node');
  let l: Awaited<ReturnType<typeof listener>> | null = null;
  try {
    await connectOrThrow(n.cmd, 5000);
    await appsExist(n.cmd);
    n.offer('late', 1, 11);
    n.offer('other', 1, 11);
    assert.equal(await n.history.flush(5000), true);
    n.offer('late', 11, 21);
    assert.equal(await n.history.flush(5000), true);
    assert.equal(n.published('none'), 1, 'nobody listened');
    // a node starts following the app: the node's next append leaves PUBLISH out, Redis publishes the blob
    l = await listener('late');
    n.offer('late', 21, 31);
    n.offer('other', 11, 21);
    assert.equal(await n.history.flush(5000), true);
    assert.equal(n.published('redis'), 1, 'published by Redis in the transaction');
    n.offer('late', 31, 41);
    assert.equal(await n.history.flush(5000), true);
    assert.equal(n.published('node'), 3, 'the next one published by the node (the first two were the first appends of each app)');
    await until('two chunks heard', () => l!.heard.length >= 2, 5000);
    assert.deepEqual(l.heard, [{ first: 21, seqs: seqsOf(21, 31) }, { first: 31, seqs: seqsOf(31, 41) }], 'the follower gets every chunk from its subscription on, under its ordinals');
    const h = await n.history.read('late');
    assert.deepEqual(h.records.map(seqOf), seqsOf(1, 41));
  } finally {
    n.history.close();
    await closeClient(n.cmd);
    if (l) await closeClient(l.sub);
  }
});

test('a re-sent append that Redis published for a new follower is stored once and published again under its first ordinals', async () => {
  // through a proxy, which can lose a reply after Redis ran the append
  const proxy = await startTcpProxy(redis.port);
  const n = setup(proxy.url, 'resend-late-node');
  let l: Awaited<ReturnType<typeof listener>> | null = null;
  try {
    await connectOrThrow(n.cmd, 5000);
    await appsExist(n.cmd);
    n.offer('relate', 1, 11);
    assert.equal(await n.history.flush(5000), true);
    n.offer('relate', 11, 21);
    assert.equal(await n.history.flush(5000), true);
    assert.equal(n.published('none'), 1);
    l = await listener('relate');
    const dropped = proxy.dropNextReply();
    n.offer('relate', 21, 121);
    await dropped;
    await until('everything written after the reconnect', () => n.history.up && n.history.pendingLines === 0, 20_000);
    const h = await n.history.read('relate');
    assert.deepEqual(h.records.map(seqOf), seqsOf(1, 121), 'stored once: every line once, in order');
    await until('both publications of the re-sent chunk heard', () => l!.heard.length >= 2, 5000);
    assert.deepEqual(l.heard.map((x) => [x.first, x.seqs.length]), [[21, 100], [21, 100]], 'published by Redis both times, under the first ordinals');
    assert.deepEqual(l.heard[1]!.seqs, seqsOf(21, 121));
    // the node learnt of the listener from the re-send's reply: its next append publishes itself
    n.offer('relate', 121, 131);
    assert.equal(await n.history.flush(5000), true);
    await until('the next chunk heard', () => l!.heard.length >= 3, 5000);
    assert.deepEqual(l.heard[2], { first: 121, seqs: seqsOf(121, 131) });
    assert.ok(n.published('node') >= 2);
  } finally {
    n.history.close();
    await closeClient(n.cmd);
    if (l) await closeClient(l.sub);
    await proxy.close();
  }
});
