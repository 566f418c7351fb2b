// SPEC 9: sessions live in Redis and every node can serve every request. A
// session created while Redis refuses its write (an outage, a Redis Cluster
// master failing over, a full Redis) is answered 201 and works on the node
// that made it; once Redis takes writes again the node stores it, so its URL
// then works on every node (a load balancer sends the GET anywhere) instead
// of answering 404 everywhere else for the session's whole life.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis, type TestRedis } from '../support/redis.js';
import { api, fastCluster, startNode, type Node } from '../support/cluster.js';
import { until } from '../support/wait.js';

describe('a session created while Redis refuses writes', () => {
  let redis: TestRedis;
  let a: Node;
  let b: Node;
  let admin: Redis;

  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
    a = await startNode(redis.url, fastCluster);
    b = await startNode(redis.url, fastCluster);
  });
  after(async () => {
    admin.disconnect();
    await a.close();
    await b.close();
    await redis.close();
  });

  const status = async (url: string): Promise<number> => {
    const ctl = new AbortController();
    const res = await fetch(url, { signal: ctl.signal });
    ctl.abort(); // a tail session streams on: its status is all this needs
    return res.status;
  };

  test('is readable on another node once Redis takes writes again', async () => {
    assert.equal((await api(a.url, 'PUT', '/v3/channels/shared-later', { tokens: ['app'] })).status, 201);
    await admin.config('SET', 'maxmemory', '1'); // every write refused (noeviction)
    let id: string;
    try {
      const s = await api(a.url, 'POST', '/v3/sessions', { channel_id: 'shared-later', tail: true, num: 0 });
      assert.equal(s.status, 201);
      id = (s.json.url as string).split('/sessions/')[1]!;
      assert.equal(await status(`${a.url}/sessions/${id}`), 200, 'works on the node that made it');
      assert.equal(await status(`${b.url}/sessions/${id}`), 404, 'not in Redis yet');
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    await until('the session readable on the other node', async () => (await status(`${b.url}/sessions/${id}`)) === 200, 10_000, 200);
  });
});
