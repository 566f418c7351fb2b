// The failed-authentication throttle (SPEC 12: after 20 failures in a minute
// from one address, 429 with Retry-After, counted in metrics):
//   - in distributed mode the count is every node's: the shared count in a
//     real redis-server never lets more than the limit through in any
//     window, from one node or two (clock injected, so minutes pass at once);
//     two real nodes refuse the 21st wrong key whichever node gets it;
//   - a node whose Redis is away counts alone, as in embedded mode;
//   - wrong /metrics keys (LOGPLANE_METRICS_KEY) are throttled and counted
//     as every other route's.
// The tests' requests come from 127.0.0.1: the servers throttle loopback too
// (LOGPLANE_AUTH_THROTTLE_LOOPBACK=1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { AuthThrottle } from '../../src/access/throttle.js';
import { RedisAuthFailures } from '../../src/cluster/auth-failures.js';
import { defineScripts } from '../../src/redis/scripts.js';
import { api, type ApiResponse } from '../support/api.js';
import { AUTH, fastCluster, startNode, type Node } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startServer } from '../support/server.js';
import { attackSchedules, mostInAWindow } from '../support/throttle.js';

const LOOPBACK = { LOGPLANE_AUTH_THROTTLE_LOOPBACK: '1' };
const WRONG = 'Bearer wrong-key-0123456789abcdef';

function assertThrottled(r: ApiResponse, what: string): void {
  assert.equal(r.status, 429, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json.id, 'too_many_failures');
  const wait = Number(r.headers.get('retry-after'));
  assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 61, `${what}: Retry-After ${r.headers.get('retry-after')}`);
}

describe('the shared count in Redis', () => {
  let redis: TestRedis;
  const clients: Redis[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis.close();
  });

  /** A throttle as a node builds it in distributed mode, on its own connection, with the clock given. */
  async function nodeThrottle(clock: { now(): number }): Promise<AuthThrottle> {
    const c = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    defineScripts(c);
    await c.connect();
    clients.push(c);
    return new AuthThrottle({ limit: 20, windowMs: 60_000, clock, shared: new RedisAuthFailures(c), sharedTimeoutMs: 5000 });
  }

  test('never more than 20 wrong keys let through in any minute, from one node or two in turn', async () => {
    let now = 0;
    const clock = { now: () => now };
    const set = (ms: number) => (now = 1_700_000_000_000 + ms);
    const one = [await nodeThrottle(clock)];
    const two = [await nodeThrottle(clock), await nodeThrottle(clock)];
    for (const nodes of [one, two]) {
      for (const at of attackSchedules()) {
        await clients[0]!.flushall();
        // each node's own count starts empty too
        const fresh = await Promise.all(nodes.map(() => nodeThrottle(clock)));
        const { admitted, most } = await mostInAWindow(fresh, at, set, 60_000);
        assert.ok(most <= 20, `${most} let through in one minute (${nodes.length} node(s))`);
        assert.ok(admitted.length >= 20);
      }
    }
    // the address's hash expires with its window
    assert.ok((await clients[0]!.pttl('lp:authfail:{10.1.2.3}')) <= 61_000);
  });
});

describe('two nodes on one redis-server', () => {
  let redis: TestRedis;
  let nodes: Node[];
  before(async () => {
    redis = await startRedis();
    nodes = await Promise.all([0, 1].map(() => startNode(redis.url, fastCluster, LOOPBACK)));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test('20 wrong keys in a minute over both nodes, then 429 with Retry-After on either, whatever key comes', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await api({ url: nodes[i % 2]!.url, auth: WRONG }, 'GET', '/v3/channels');
      assert.equal(r.status, 401, `failure ${i + 1}: ${r.text}`);
    }
    for (let i = 0; i < 4; i++) assertThrottled(await api({ url: nodes[i % 2]!.url, auth: WRONG }, 'GET', '/v3/channels'), `failure ${21 + i}`);
    for (const n of nodes) assertThrottled(await api({ url: n.url, auth: AUTH }, 'GET', '/v3/channels'), 'the admin key from that address');
    const count = (f: (n: Node) => number) => nodes.reduce((sum, n) => sum + f(n), 0);
    assert.equal(count((n) => n.server.ctx.access.authFailures.value), 20, 'failures counted (401s)');
    assert.equal(count((n) => n.server.ctx.access.authThrottled.value), 6, 'throttled requests counted (429s)');
  });
});

test('a node whose Redis is away counts failures alone, and answers at once', async () => {
  const redis = await startRedis();
  const node = await startNode(redis.url, fastCluster, { ...LOOPBACK, LOGPLANE_AUTH_FAILURE_LIMIT: '5' });
  try {
    await redis.stop();
    for (let i = 0; i < 6; i++) {
      const t0 = Date.now();
      const r = await api({ url: node.url, auth: WRONG }, 'GET', '/v3/channels');
      if (i < 5) assert.equal(r.status, 401, `failure ${i + 1}: ${r.text}`);
      else assertThrottled(r, 'failure 6');
      assert.ok(Date.now() - t0 < 2000, `answered after ${Date.now() - t0} ms`);
    }
    assert.equal(node.server.ctx.access.authFailures.value, 5);
  } finally {
    await node.close();
    await redis.close();
  }
});

test('wrong /metrics keys are throttled and counted like every route’s', async () => {
  const ts = await startServer({ ...LOOPBACK, LOGPLANE_METRICS_KEY: 'metrics-key-0123456789', LOGPLANE_AUTH_FAILURE_LIMIT: '3' });
  try {
    const scrape = (auth?: string) => api({ url: ts.url, ...(auth ? { auth } : {}) }, 'GET', '/metrics');
    assert.equal((await scrape('Bearer metrics-key-0123456789')).status, 200);
    assert.equal((await scrape()).status, 401);
    for (let i = 0; i < 2; i++) assert.equal((await scrape(WRONG)).status, 401);
    assertThrottled(await scrape(WRONG), 'the 4th wrong key');
    assertThrottled(await scrape('Bearer metrics-key-0123456789'), 'the right key from that address');
    assertThrottled(await api(ts, 'GET', '/v3/channels'), 'the admin key on the API from that address');
    const text = await ts.server.ctx.metrics.registry.render();
    assert.match(text, /^logplane_api_auth_failures_total 3$/m);
    assert.match(text, /^logplane_api_auth_throttled_total 3$/m);
  } finally {
    await ts.close();
  }
});
