// The list of app ids (`lp:apps`) against concurrent config changes on a real
// redis-server: a record that exists is listed once the writes in flight
// landed, whatever their interleaving, so load() (a node started later) and
// a full resync find it. The interleavings are forced: one store's command
// connection is wrapped so that its SREM of `lp:apps` waits for the test.
// And the apps' counts (`lp:{counts:<s>}:apps`): a batch of a node that had
// not heard of a delete yet, landing after it (the node then died before
// its next write took the field out), neither stays nor passes to an app
// made again under the name.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisStore } from '../../src/store/redis.js';
import type { AppRecord } from '../../src/store/store.js';
import { APPS, appConfig, appCounts, countShard, nodeCountsSeq } from '../../src/redis/keys.js';
import { defineScripts, type Scripts } from '../../src/redis/scripts.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const app = (id: string): AppRecord => ({ id, uuid: `u-${id}`, createdAt: 'c', updatedAt: 'u', tokens: [], drains: [] });

/** A command connection whose SREMs of `lp:apps` wait until released (the rest passes through). */
function holdingSrem(r: Redis): { cmd: Redis; reached: Promise<void>; release: () => void; landed: () => Promise<unknown> } {
  let release!: () => void;
  const gate = new Promise<void>((res) => (release = res));
  let reach!: () => void;
  const reached = new Promise<void>((res) => (reach = res));
  const sent: Promise<unknown>[] = [];
  const cmd = new Proxy(r, {
    get(t, p) {
      if (p === 'srem') {
        return (key: string, ...members: string[]) => {
          if (key !== APPS) return t.srem(key, ...members);
          reach();
          const done = gate.then(() => t.srem(key, ...members));
          sent.push(done.catch(() => {}));
          return done;
        };
      }
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return { cmd, reached, release, landed: () => Promise.all(sent) };
}

describe('the list of app ids (lp:apps) under concurrent creates and deletes', () => {
  let redis: TestRedis;
  const conns: Redis[] = [];
  const stores: RedisStore[] = [];
  const conn = (): Redis => {
    const c = new Redis(redis.url);
    conns.push(c);
    return c;
  };
  const store = async (): Promise<RedisStore> => {
    const s = await RedisStore.connect(redis.url);
    stores.push(s);
    return s;
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const s of stores) await s.close();
    for (const c of conns) c.disconnect();
    await redis.close();
  });

  test("a delete's unlisting that lands after another node made the app again leaves the new app listed (a node started later loads it)", async () => {
    const r = conn();
    await r.flushall();
    const held = holdingSrem(conn());
    const x = new RedisStore(held.cmd, conn(), { nodeId: 'x' });
    stores.push(x);
    const y = await store();
    await y.putApp(app('a'));
    // x deletes a: its compare-and-set lands, its SREM of lp:apps waits
    const del = x.deleteApp('a');
    await held.reached;
    assert.equal(await r.exists(appConfig('a')), 0, "x's delete landed");
    // y makes a again meanwhile (it reads no record: a create)
    await y.putApp(app('a'));
    held.release();
    await del;
    await held.landed();
    assert.equal(await r.exists(appConfig('a')), 1, 'the record y made is there');
    assert.equal(await r.sismember(APPS, 'a'), 1, 'and listed');
    const later = await store();
    const snap = await later.load();
    assert.deepEqual(
      snap.apps.map((a) => a.id),
      ['a'],
      'a node started later loads it',
    );
  });

  test('load() unlists an id without a record, but never a record made while it does', async () => {
    const r = conn();
    await r.flushall();
    // an id listed by a create that never wrote its record (its node died between the two)
    await r.sadd(APPS, 'ghost');
    const plain = await store();
    assert.deepEqual((await plain.load()).apps, [], 'the id without a record is skipped');
    assert.equal(await r.sismember(APPS, 'ghost'), 0, 'and unlisted');

    // the same cleanup, its SREM landing after another node made the app
    await r.sadd(APPS, 'b');
    const held = holdingSrem(conn());
    const x = new RedisStore(held.cmd, conn(), { nodeId: 'x2' });
    stores.push(x);
    const loading = x.load();
    await held.reached;
    const y = await store();
    await y.putApp(app('b'));
    held.release();
    const snap = await loading;
    await held.landed();
    assert.deepEqual(snap.apps, [], 'x read the list before b had a record');
    assert.equal(await r.sismember(APPS, 'b'), 1, 'b, made meanwhile, is listed');
    const later = await store();
    assert.deepEqual(
      (await later.load()).apps.map((a) => a.id),
      ['b'],
      'a node started later loads it',
    );
  });
});

describe("a deleted app's field of the cluster's counts, re-added by a late batch", () => {
  let redis: TestRedis;
  let r: Redis;
  const stores: RedisStore[] = [];
  before(async () => {
    redis = await startRedis();
    r = new Redis(redis.url);
    defineScripts(r);
  });
  after(async () => {
    for (const s of stores) await s.close();
    r.disconnect();
    await redis.close();
  });

  /** A batch of node `node` adding `lines` lines to app `id`, as cluster/counts.ts sends it. */
  const lateBatch = (id: string, node: string, batch: number, lines: number): Promise<number> =>
    (r as unknown as Scripts).lpAddCounts(appCounts(countShard(id)), nodeCountsSeq(countShard(id), node), batch, 60_000, id, String(lines), String(lines * 100), '0');

  test('is taken out once the lines routed meanwhile are in (the second delete), and an app made again under the name starts from 0', async () => {
    await r.flushall();
    const x = await RedisStore.connect(redis.url, { nodeId: 'x', lingerMs: 300 });
    stores.push(x);
    await x.putApp(app('c'));
    await lateBatch('c', 'n1', 1, 5);
    await x.deleteApp('c');
    // the deleting node's own forget: its next write deletes the field
    await r.hdel(appCounts(countShard('c')), 'c');
    // node n2 had not heard of the delete: its batch lands after it, then n2 dies
    assert.equal(await lateBatch('c', 'n2', 1, 7), 1);
    assert.equal(await r.hget(appCounts(countShard('c')), 'c'), '7,700,0', 'the late batch re-added the field');
    const deadline = Date.now() + 10_000;
    while ((await r.hexists(appCounts(countShard('c')), 'c')) === 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    assert.equal(await r.hexists(appCounts(countShard('c')), 'c'), 0, "the deleted app's field is gone after the linger");

    // the late batch landing after the linger (a node cut off longer): the app made again does not inherit it
    await r.flushall();
    await x.putApp(app('d'));
    await x.deleteApp('d');
    await new Promise((res) => setTimeout(res, 600)); // past the linger
    await lateBatch('d', 'n3', 1, 9);
    await x.putApp(app('d'));
    assert.equal(await r.hexists(appCounts(countShard('d')), 'd'), 0, 'the app made again starts from 0');
  });
});
