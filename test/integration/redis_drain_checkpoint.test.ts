// A drain's checkpoint in Redis moves forward only: the next owner starts
// after it, so a cursor taken back by a save that arrived late (an earlier
// periodic checkpoint, a previous owner still stopping) would make it send
// lines the drain already got; within one epoch of the app's stream, as a
// stream Redis rewound counts its ordinals from lower again (a cursor of the
// new epoch replaces the old one, a save of an epoch the app left is refused
// with OTHER_EPOCH). And it exists only while its drain does: a save or an
// init for a drain its app's record no longer lists writes nothing and
// answers NOT_CONFIGURED (a deleted checkpoint never comes back), and every
// save renews its TTL (a backstop).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { closeClient, commandClient, connectOrThrow } from '../../src/redis/connection.js';
import { appConfig, appMeta, drainState } from '../../src/redis/keys.js';
import { CHECKPOINT_TTL_MS, NOT_CONFIGURED, OTHER_EPOCH, defineScripts, type Scripts } from '../../src/redis/scripts.js';
import { startRedis, type TestRedis } from '../support/redis.js';

describe("a drain's checkpoint in Redis", () => {
  let redis: TestRedis;
  let cmd: Redis;
  let s: Scripts;
  const TTL = CHECKPOINT_TTL_MS;

  /** The app's record, listing these drains (as store/redis.ts writes it; only `drains[].id` matters here). */
  const configure = (app: string, drains: string[]): Promise<unknown> => cmd.set(appConfig(app), JSON.stringify({ id: app, uuid: 'u', tokens: [{ token: 't', name: 'app' }], drains: drains.map((id) => ({ id, url: 'https://example.com/' })) }));
  /** A save of a cursor of this epoch of the app's stream ('': none; the apps of these tests have none unless one is set in their meta). */
  const save = (app: string, drain: string, cursor: number, at: number, node: string, status = '', epoch = ''): Promise<number> => s.lpSaveCursor(drainState(app, drain), appMeta(app), appConfig(app), cursor, at, node, epoch, status, drain, TTL);
  /** [cursor, epoch] the next owner starts after. */
  const init = (app: string, drain: string): Promise<[number, string]> => s.lpInitCursor(drainState(app, drain), appMeta(app), appConfig(app), drain, TTL);

  before(async () => {
    redis = await startRedis();
    cmd = commandClient(redis.url, 'test-checkpoint');
    cmd.on('error', () => {});
    defineScripts(cmd);
    await connectOrThrow(cmd, 5000);
    s = cmd as unknown as Scripts;
  });
  after(async () => {
    if (cmd) await closeClient(cmd);
    await redis?.close();
  });

  test('a save of an older cursor arriving after a newer one leaves the newer one (with its time and node)', async () => {
    await configure('app1', ['d1', 'd2']);
    const key = drainState('app1', 'd1');
    assert.equal(await save('app1', 'd1', 100, 1000, 'node-a'), 1);
    assert.equal(await save('app1', 'd1', 250, 2000, 'node-b'), 1);
    assert.equal(await save('app1', 'd1', 180, 1500, 'node-a'), 0, 'the late save is refused');
    assert.equal(await save('app1', 'd1', 250, 2500, 'node-a'), 0, 'the same cursor again changes nothing');
    assert.deepEqual(await cmd.hgetall(key), { cursor: '250', at: '2000', node: 'node-b' });
    // the status goes with the save, whether the cursor moved or not
    assert.equal(await save('app1', 'd1', 250, 3000, 'node-b', '{"state":"delivering"}'), 0);
    assert.deepEqual(await cmd.hgetall(key), { cursor: '250', at: '2000', node: 'node-b', status: '{"state":"delivering"}' });
  });

  test('the first save of a drain and a save after the cursor was initialised at 0 are written', async () => {
    const fresh = drainState('app1', 'd2');
    assert.equal(await save('app1', 'd2', 0, 1000, 'node-a'), 1);
    assert.equal(await cmd.hget(fresh, 'cursor'), '0');
    await configure('app2', ['d3']);
    assert.deepEqual(await init('app2', 'd3'), [0, '']);
    assert.equal(await save('app2', 'd3', 7, 1000, 'node-a'), 1);
    assert.deepEqual(await init('app2', 'd3'), [7, ''], 'the next owner starts after 7');
  });

  test("a cursor of the app's new epoch replaces the one of the epoch before, even a lower one; a save of an epoch the app left is refused (its status still written)", async () => {
    // the app's stream was rewound (a failover to a replica that lagged): its ordinals count from 50 again in epoch 200
    await configure('app6', ['d1', 'd2']);
    const key = drainState('app6', 'd1');
    const meta = appMeta('app6');
    await cmd.hset(meta, 'total', '150', 'epoch', '100');
    assert.equal(await save('app6', 'd1', 150, 1000, 'node-a', '', '100'), 1);
    await cmd.hset(meta, 'total', '60', 'epoch', '200', 'rewind', '50:150');
    await cmd.pexpire(key, 10_000);
    assert.equal(await save('app6', 'd1', 160, 1100, 'node-b', '{"state":"delivering"}', '100'), OTHER_EPOCH, 'a late save of the epoch before is refused');
    assert.deepEqual(await cmd.hgetall(key), { cursor: '150', at: '1000', node: 'node-a', epoch: '100', status: '{"state":"delivering"}' }, 'the cursor not written, the status written');
    assert.ok((await cmd.pttl(key)) > TTL - 60_000, 'and the TTL renewed');
    assert.equal(await save('app6', 'd1', 55, 1200, 'node-a', '', '200'), 1, "the new epoch's cursor takes the old one back");
    assert.equal(await save('app6', 'd1', 54, 1300, 'node-a', '', '200'), 0, 'and moves forward only from there');
    assert.deepEqual(await init('app6', 'd1'), [55, '200'], 'the next owner starts after 55 of epoch 200');
    // a new drain starts at the total, in the app's epoch
    assert.deepEqual(await init('app6', 'd2'), [60, '200']);
    // a drain no longer configured: NOT_CONFIGURED, whatever its epoch, nothing written
    await configure('app6', ['d1']);
    await cmd.del(drainState('app6', 'd2'));
    assert.equal(await save('app6', 'd2', 70, 1400, 'node-a', '{"state":"idle"}', '100'), NOT_CONFIGURED);
    assert.equal(await save('app6', 'd2', 70, 1400, 'node-a', '{"state":"idle"}', '200'), NOT_CONFIGURED);
    assert.equal(await cmd.exists(drainState('app6', 'd2')), 0, 'not brought back');
  });

  test('a drain its app no longer lists (removed, or its app deleted) gets no checkpoint: a late save or init writes nothing', async () => {
    await configure('app3', ['kept', 'removed']);
    assert.deepEqual(await init('app3', 'kept'), [0, '']);
    assert.deepEqual(await init('app3', 'removed'), [0, '']);
    // the drain removed (store/redis.ts deletes its checkpoint with the config change): its owner's last save and a late init write nothing
    await configure('app3', ['kept']);
    await cmd.del(drainState('app3', 'removed'));
    assert.equal(await save('app3', 'removed', 40, 1000, 'node-a', '{"state":"idle"}'), NOT_CONFIGURED);
    assert.deepEqual(await init('app3', 'removed'), [NOT_CONFIGURED, '']);
    assert.equal(await cmd.exists(drainState('app3', 'removed')), 0, 'not brought back');
    // the app deleted (config and checkpoints gone in one step): the same
    await cmd.del(appConfig('app3'), drainState('app3', 'kept'));
    assert.equal(await save('app3', 'kept', 50, 1000, 'node-a', '{"state":"idle"}'), NOT_CONFIGURED);
    assert.deepEqual(await init('app3', 'kept'), [NOT_CONFIGURED, '']);
    assert.equal(await cmd.exists(drainState('app3', 'kept')), 0, 'not brought back');
    // a drain never configured, in a record that does not parse: nothing either
    await cmd.set(appConfig('app4'), 'not json');
    assert.deepEqual(await init('app4', 'd'), [NOT_CONFIGURED, '']);
    assert.equal(await save('app4', 'd', 1, 1, 'node-a'), NOT_CONFIGURED);
    assert.equal(await cmd.exists(drainState('app4', 'd')), 0);
  });

  test('every init and save gives the checkpoint its TTL again; one that expired while its drain is configured is made again by the next save', async () => {
    await configure('app5', ['d']);
    const key = drainState('app5', 'd');
    assert.deepEqual(await init('app5', 'd'), [0, '']);
    const ttl = await cmd.pttl(key);
    assert.ok(ttl > TTL - 60_000 && ttl <= TTL, `init sets the TTL (${ttl})`);
    await cmd.pexpire(key, 10_000);
    assert.equal(await save('app5', 'd', 3, 1000, 'node-a'), 1);
    assert.ok((await cmd.pttl(key)) > TTL - 60_000, 'a save renews it');
    await cmd.pexpire(key, 10_000);
    assert.equal(await save('app5', 'd', 3, 2000, 'node-a'), 0);
    assert.ok((await cmd.pttl(key)) > TTL - 60_000, 'a save that moves nothing renews it too');
    await cmd.del(key); // expired
    assert.equal(await save('app5', 'd', 9, 3000, 'node-a'), 1, 'made again: the drain is configured');
    assert.equal(await cmd.hget(key, 'cursor'), '9');
    assert.ok((await cmd.pttl(key)) > TTL - 60_000);
  });
});
