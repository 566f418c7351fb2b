// A drain's checkpoint in Redis moves forward only: the next owner starts
// after it, so a cursor taken back by a save that arrived late (an earlier
// periodic checkpoint, a previous owner still stopping) would make it send
// lines the drain already got.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { closeClient, commandClient, connectOrThrow } from '../../src/redis/connection.js';
import { drainState } from '../../src/redis/keys.js';
import { defineScripts, type Scripts } from '../../src/redis/scripts.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/** The app's meta (no epoch in these tests: none was ever appended). */
const META = 'lp:{app1}:meta';

describe("a drain's checkpoint in Redis", () => {
  let redis: TestRedis;
  let cmd: Redis;
  let s: Scripts;

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
    const key = drainState('app1', 'd1');
    assert.equal(await s.lpSaveCursor(key, META, 100, 1000, 'node-a', ''), 1);
    assert.equal(await s.lpSaveCursor(key, META, 250, 2000, 'node-b', ''), 1);
    assert.equal(await s.lpSaveCursor(key, META, 180, 1500, 'node-a', ''), 0, 'the late save is refused');
    assert.equal(await s.lpSaveCursor(key, META, 250, 2500, 'node-a', ''), 0, 'the same cursor again changes nothing');
    assert.deepEqual(await cmd.hgetall(key), { cursor: '250', at: '2000', node: 'node-b' });
  });

  test('the first save of a drain and a save after the cursor was initialised at 0 are written', async () => {
    const fresh = drainState('app1', 'd2');
    assert.equal(await s.lpSaveCursor(fresh, META, 0, 1000, 'node-a', ''), 1);
    assert.equal(await cmd.hget(fresh, 'cursor'), '0');
    const init = drainState('app2', 'd3');
    assert.deepEqual(await s.lpInitCursor(init, 'lp:{app2}:meta'), [0, '']);
    assert.equal(await s.lpSaveCursor(init, 'lp:{app2}:meta', 7, 1000, 'node-a', ''), 1);
    assert.deepEqual(await s.lpInitCursor(init, 'lp:{app2}:meta'), [7, ''], 'the next owner starts after 7');
  });

  test("a cursor of the app's new epoch replaces the one of the epoch before, even a lower one; a save of an epoch the app left is refused", async () => {
    // the app's stream was rewound (a failover to a replica that lagged): its ordinals count from 50 again in epoch 200
    const key = drainState('app3', 'd1');
    const meta = 'lp:{app3}:meta';
    await cmd.hset(meta, 'total', '150', 'epoch', '100');
    assert.equal(await s.lpSaveCursor(key, meta, 150, 1000, 'node-a', '100'), 1);
    await cmd.hset(meta, 'total', '60', 'epoch', '200', 'rewind', '50:150');
    assert.equal(await s.lpSaveCursor(key, meta, 160, 1100, 'node-b', '100'), -1, 'a late save of the epoch before is refused');
    assert.equal(await s.lpSaveCursor(key, meta, 55, 1200, 'node-a', '200'), 1, "the new epoch's cursor takes the old one back");
    assert.equal(await s.lpSaveCursor(key, meta, 54, 1300, 'node-a', '200'), 0, 'and moves forward only from there');
    assert.deepEqual(await s.lpInitCursor(key, meta), [55, '200'], 'the next owner starts after 55 of epoch 200');
    // a new drain starts at the total, in the app's epoch
    assert.deepEqual(await s.lpInitCursor(drainState('app3', 'd2'), meta), [60, '200']);
  });
});
