// Hand-written commands on an ioredis connection (redis/prebuilt.ts): a group
// (a MULTI ... EXEC transaction, as the history appends send) goes as one
// ioredis command whose further replies light slots take off ioredis' reply
// queue. If a slot took one reply too many or too few, every later command on
// the connection would get another command's answer; so each test ends by
// checking that the connection still answers each command with its own reply.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { sendPrebuilt } from '../../src/redis/prebuilt.js';
import { closeClient, commandClient, connectOrThrow } from '../../src/redis/connection.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

let redis: TestRedis;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.close();
});

function resp(...args: string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''), 'utf8');
}

/** A transaction as parts, one reply each (the value split in two parts across the SET, as append-wire.ts splits a blob out). */
function transaction(key: string, value: string, counter: string): Buffer[] {
  const set = resp('SET', key, value);
  const cut = set.length - 6;
  return [resp('MULTI'), set.subarray(0, cut), Buffer.concat([set.subarray(cut), resp('INCR', counter)]), resp('EXEC')];
}

async function inStep(r: Redis, tag: string): Promise<void> {
  // each command gets its own answer: the reply queue is in step with the socket
  await r.set(`${tag}:a`, 'A');
  await r.set(`${tag}:b`, 'B');
  const [a, b, missing] = await Promise.all([r.get(`${tag}:a`), r.get(`${tag}:b`), r.get(`${tag}:none`)]);
  assert.deepEqual([a, b, missing], ['A', 'B', null], `${tag}: every reply goes to its own command`);
}

test('groups and single commands in one send: every reply in order, EXEC with the replies of its commands', async () => {
  const r = commandClient(redis.url, 'test-prebuilt');
  r.on('error', () => {});
  await connectOrThrow(r, 5000);
  try {
    const out = await sendPrebuilt(r, 'test', [transaction('g:1', 'one', 'g:n'), [resp('GET', 'g:1')], transaction('g:2', 'two', 'g:n'), [resp('INCR', 'g:n')]]);
    assert.deepEqual(
      out.map(([err, v]) => (err ? `ERR ${err.message}` : v)),
      ['OK', 'QUEUED', 'QUEUED', ['OK', 1], 'one', 'OK', 'QUEUED', 'QUEUED', ['OK', 2], 3],
    );
    // a refused command inside a group: its error where it was, EXEC's EXECABORT after
    const bad = await sendPrebuilt(r, 'test', [[resp('MULTI'), resp('INCR', 'g:n'), resp('NOSUCHCOMMAND'), resp('EXEC')]]);
    assert.equal(bad[1]![1], 'QUEUED');
    assert.match(bad[2]![0]!.message, /unknown command/);
    assert.match(bad[3]![0]!.message, /EXECABORT/);
    assert.equal(await r.get('g:n'), '3', 'the aborted transaction changed nothing');
    await inStep(r, 'g');
  } finally {
    await closeClient(r);
  }
});

test('a group that times out while Redis is paused: each of its replies gets the timeout, and the late replies are taken off without shifting later commands', async () => {
  const r = commandClient(redis.url, 'test-prebuilt-timeout', { commandTimeout: 300 });
  r.on('error', () => {});
  const admin = new Redis(redis.url);
  await connectOrThrow(r, 5000);
  try {
    await admin.client('PAUSE', 1000, 'ALL');
    const out = await sendPrebuilt(r, 'test', [transaction('t:1', 'late', 't:n')]);
    assert.equal(out.length, 4);
    for (const [err] of out) assert.match(err?.message ?? '', /timed out/);
    // the pause ends; Redis runs the transaction and its four replies arrive for commands already settled
    await until('the paused transaction ran', async () => (await admin.get('t:1')) === 'late', 5000);
    await inStep(r, 't');
    const again = await sendPrebuilt(r, 'test', [transaction('t:2', 'next', 't:n')]);
    assert.deepEqual(again.map(([err, v]) => (err ? err.message : v)), ['OK', 'QUEUED', 'QUEUED', ['OK', 2]]);
  } finally {
    admin.disconnect();
    await closeClient(r);
  }
});

test('a connection cut before a group is answered: every reply gets the error, and after the reconnect groups and commands are answered right', async () => {
  // the cut is made by a proxy between the client and Redis
  const proxy: TcpProxy = await startTcpProxy(redis.port);
  const r = commandClient(proxy.url, 'test-prebuilt-cut');
  r.on('error', () => {});
  try {
    await connectOrThrow(r, 5000);
    const dropped = proxy.dropNextReply();
    const out = await sendPrebuilt(r, 'test', [transaction('c:1', 'cut', 'c:n'), [resp('GET', 'c:1')]]);
    await dropped;
    assert.equal(out.length, 5);
    for (const [err] of out) assert.ok(err, 'no reply reached the client');
    await until('reconnected', () => r.status === 'ready', 10_000);
    const again = await sendPrebuilt(r, 'test', [transaction('c:2', 'again', 'c:n'), [resp('GET', 'c:1')]]);
    // the cut transaction did run (Redis answered it; the proxy dropped the answer)
    assert.deepEqual(again.map(([err, v]) => (err ? err.message : v)), ['OK', 'QUEUED', 'QUEUED', ['OK', 2], 'cut']);
    await inStep(r, 'c');
  } finally {
    await closeClient(r);
    await proxy.close();
  }
});

test('a group sent before the connection is ready (kept in ioredis\' offline queue, written later) is answered right, reply by reply', async () => {
  // a Redis Cluster's connection to a master is made on first use, with an offline queue: the first appends go there
  const r = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: true });
  r.on('error', () => {});
  try {
    const out = sendPrebuilt(r, 'test', [transaction('o:1', 'early', 'o:n'), [resp('GET', 'o:1')]]);
    void r.connect().catch(() => {});
    assert.deepEqual((await out).map(([err, v]) => (err ? err.message : v)), ['OK', 'QUEUED', 'QUEUED', ['OK', 1], 'early']);
    await inStep(r, 'o');
  } finally {
    r.disconnect();
  }
});
