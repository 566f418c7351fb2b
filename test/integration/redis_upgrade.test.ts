// Rolling upgrades over the history layout (docs/operations.md, "Upgrades").
// The previous release kept an app's history as one list element per line
// (lp:{app}:lines, meta `trimmed`) and published one message per append;
// this one keeps one element per append (lp:{app}:chunks). A new node reads
// what the previous release wrote, in order, and trims it away as new lines
// come; while a node of the previous release is registered, new nodes write
// its layout (which it reads), and they switch once it has left.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { lineFrom, seqOf } from '../../src/line.js';
import { SEQ_EPOCH_MS, SEQ_PER_MS } from '../../src/basics/seq.js';
import { decodeBatch } from '../../src/cluster/batch.js';
import { LAYOUT, NODES, appChannel, appChunks, appLines, appMeta, nodeInfo } from '../../src/redis/keys.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { AUTH, api, fastCluster, frameMessages, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { until } from '../support/wait.js';

const HISTORY = 8;

/** A line as the previous release stored it: the cooked record, its seq stamped by node `origin` at `ms`. */
function oldLine(msg: string, ms: number, origin: number): Buffer {
  return lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg, receivedMs: ms, seq: (ms - SEQ_EPOCH_MS) * SEQ_PER_MS + origin });
}

async function history(node: Node, app: string): Promise<string[]> {
  const h = await fetch(`${node.url}/v3/channels/${app}/logs?num=1500`, { headers: { authorization: AUTH } });
  assert.equal(h.status, 200);
  return frameMessages(Buffer.from(await h.arrayBuffer()));
}

describe('history layout across a rolling upgrade', () => {
  let redis: TestRedis;
  let admin: Redis;
  const started: Node[] = [];
  const env = { LOGPLANE_HISTORY_LINES: String(HISTORY) };
  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((n) => n.close()));
    await admin.flushall();
  });
  after(async () => {
    admin.disconnect();
    await redis?.close();
  });

  test('history written by the previous release (one element per line) is read by a new node in order, and trimmed away as new lines come', async () => {
    const a = await startNode(redis.url, fastCluster, env);
    started.push(a);
    const token = (await api(a.url, 'PUT', '/v3/channels/legacy', { tokens: ['app'] })).json.tokens.app as string;
    // the previous release's history of 10 lines, capped at 8: 2 trimmed, 8 held
    const t0 = Date.now() - 60_000;
    const old = Array.from({ length: 10 }, (_, i) => oldLine(`old-${i}`, t0 + i, 7));
    await admin.rpush(appLines('legacy'), ...old.slice(2));
    await admin.hset(appMeta('legacy'), 'total', '10', 'trimmed', '2', 'tseq', String(seqOf(old[1]!)));

    assert.deepEqual(await history(a, 'legacy'), old.slice(2).map((_, i) => `old-${i + 2}`));
    // 3 new lines: the history is the last 8 of the 13, old ones first
    assert.equal(await postLogs(a.url, token, ['new-0', 'new-1', 'new-2'].map((m) => syslog(m))), 204);
    await until('new lines in the history', async () => (await history(a, 'legacy')).includes('new-2'));
    assert.deepEqual(await history(a, 'legacy'), ['old-5', 'old-6', 'old-7', 'old-8', 'old-9', 'new-0', 'new-1', 'new-2']);
    assert.equal(await admin.llen(appLines('legacy')), 5, 'the old lines out of the last 8 are dropped');
    // 8 more: nothing of the old layout is left
    const more = Array.from({ length: 8 }, (_, i) => `new-${i + 3}`);
    assert.equal(await postLogs(a.url, token, more.map((m) => syslog(m))), 204);
    await until('the rest in the history', async () => (await history(a, 'legacy')).includes('new-10'));
    assert.deepEqual(await history(a, 'legacy'), more);
    assert.equal(await admin.exists(appLines('legacy')), 0, 'the old list is gone with its last line');
  });

  test('while a node of the previous release is registered, new nodes write its layout; once it has left they switch, and read both', async () => {
    // a node of the previous release: registered, its info without a layout
    await admin.zadd(NODES, Date.now() + 600_000, 'old-node');
    await admin.set(nodeInfo('old-node'), JSON.stringify({ url: 'http://127.0.0.1:1', index: 200, pid: 1 }));
    const a = await startNode(redis.url, fastCluster, env);
    started.push(a);
    const b = await startNode(redis.url, fastCluster, env);
    started.push(b);
    const token = (await api(a.url, 'PUT', '/v3/channels/mixed', { tokens: ['app'] })).json.tokens.app as string;
    await until('app on b', () => b.server.ctx.registry.get('mixed'));

    // what the old node reads: the per-line list and one message `f64 first ordinal | header | records` per append
    const sub = new Redis(redis.url);
    const messages: Buffer[] = [];
    try {
      sub.on('messageBuffer', (_c: Buffer, m: Buffer) => messages.push(m));
      await sub.subscribe(appChannel('mixed'));
      assert.equal(await postLogs(a.url, token, ['m-0', 'm-1', 'm-2'].map((m) => syslog(m))), 204);
      await until('the append published', () => messages.length > 0);
    } finally {
      sub.disconnect();
    }
    const batch = decodeBatch(messages[0]!);
    assert.ok(batch, 'the previous release decodes the message');
    assert.equal(batch.first, 1);
    assert.deepEqual(batch.recs.map((r) => r.subarray(-3).toString()), ['m-0', 'm-1', 'm-2']);
    assert.equal(await admin.llen(appLines('mixed')), 3, 'one element per line');
    assert.equal(await admin.exists(appChunks('mixed')), 0);
    assert.equal(await admin.get(LAYOUT), null);
    assert.deepEqual(await history(b, 'mixed'), ['m-0', 'm-1', 'm-2']);

    // the old node leaves: the layout switches, new appends are chunks
    await admin.zrem(NODES, 'old-node');
    await admin.del(nodeInfo('old-node'));
    await until('layout 2', async () => (await admin.get(LAYOUT)) === '2');
    await until('both nodes switched', () => [a, b].every((n) => n.server.cluster!.layout === '2'));
    assert.equal(await postLogs(b.url, token, ['m-3', 'm-4'].map((m) => syslog(m))), 204);
    await until('chunks written', async () => (await admin.exists(appChunks('mixed'))) === 1);
    await until('all lines on a', async () => (await history(a, 'mixed')).length === 5);
    for (const n of [a, b]) assert.deepEqual(await history(n, 'mixed'), ['m-0', 'm-1', 'm-2', 'm-3', 'm-4']);
    assert.equal(await admin.hget(appMeta('mixed'), 'layout'), '2');
  });
});
