// Which node index a node claims when it lost its own (SPEC 9, seqs; docs/
// reliability.md, "Node index"): the free one held longest ago, never one
// another node held a moment ago. A node cut off from Redis keeps stamping
// its index until it is back; its queued lines reach Redis after that, and
// were that index another node's by then, both nodes' lines would share it
// (tails would take one node's lines for duplicates of the other's).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { NodeRegistry } from '../../src/cluster/nodes.js';
import { NODE_SLOTS_HELD, nodeSlot } from '../../src/redis/keys.js';
import { NODE_SLOTS } from '../../src/basics/seq.js';
import { silentLog } from '../../src/obs/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { until } from '../support/wait.js';

let redis: TestRedis;
let rc: Redis;
before(async () => {
  redis = await startRedis();
  rc = new Redis(redis.url);
});
after(async () => {
  rc.disconnect();
  await redis.close();
});

const registry = (client: Redis) => new NodeRegistry(client, { ttlMs: 300, heartbeatMs: 50, indexTtlMs: 2000, url: 'http://127.0.0.1:1', log: silentLog() });

test('a node that lost its index claims the free one held longest ago, not one another node held a moment ago', async () => {
  // each round: y's index was held a moment ago and is free again (y is gone); x loses its own; the only
  // other free index was never held (odd rounds) or held long ago (even rounds). A random pick would
  // take y's half the time.
  for (let round = 0; round < 6; round++) {
    await rc.flushall();
    const cx = new Redis(redis.url);
    const cy = new Redis(redis.url);
    const x = registry(cx);
    const y = registry(cy);
    try {
      await x.start();
      await y.start();
      const ix = x.index;
      const iy = y.index;
      await until('both indexes recorded as held', async () => (await rc.zscore(NODE_SLOTS_HELD, String(iy))) !== null && (await rc.zscore(NODE_SLOTS_HELD, String(ix))) !== null);
      await y.stop();
      const spare = [...Array(NODE_SLOTS).keys()].find((i) => i !== ix && i !== iy && (i * 37 + round) % 11 === 0)!;
      if (round % 2 === 0) await rc.zadd(NODE_SLOTS_HELD, Date.now() - 3_600_000, String(spare));
      // every other index is taken for the moment
      const blockers = [...Array(NODE_SLOTS).keys()].filter((i) => i !== ix && i !== iy && i !== spare);
      await Promise.all(blockers.map((i) => rc.set(nodeSlot(i), 'blocker')));
      assert.equal(await rc.exists(nodeSlot(iy)), 0, "y's index is free");

      const changed = new Promise<[number, number]>((resolve) => x.once('index', (now: number, was: number) => resolve([now, was])));
      await rc.del(nodeSlot(ix));
      const [now, was] = await changed;
      assert.equal(was, ix);
      assert.equal(now, spare, `round ${round}: x claimed ${now}; ${spare} was free and ${round % 2 === 0 ? 'held an hour ago' : 'never held'}, ${iy} held a moment ago`);
      assert.equal(await rc.get(nodeSlot(spare)), x.id);
      // and the claim is recorded as held now (operators see it too)
      await until('the new index recorded as held', async () => Number(await rc.zscore(NODE_SLOTS_HELD, String(spare))) > Date.now() - 5_000);
    } finally {
      await x.stop();
      await y.stop();
      cx.disconnect();
      cy.disconnect();
    }
  }
});

test('nodes starting together claim different indexes, all of them recorded as held', async () => {
  await rc.flushall();
  const clients = Array.from({ length: 8 }, () => new Redis(redis.url));
  const nodes = clients.map(registry);
  try {
    await Promise.all(nodes.map((n) => n.start()));
    const idx = nodes.map((n) => n.index);
    assert.equal(new Set(idx).size, nodes.length, `indexes ${idx}`);
    for (const n of nodes) assert.equal(await rc.get(nodeSlot(n.index)), n.id);
    const held = await rc.zrange(NODE_SLOTS_HELD, '0', '-1');
    assert.deepEqual(held.map(Number).sort((p, q) => p - q), idx.slice().sort((p, q) => p - q));
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const c of clients) c.disconnect();
  }
});
