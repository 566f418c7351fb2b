// Redis restarts without its data (no persistence; docs/operations.md, "Redis
// restarts without its data"): the node keeps running and becomes ready again
// by itself; the config is gone, so a node started now has no apps; an app
// made again works on every node (the running node re-reads it on the change
// notification: the lost token is refused), its lines in the shared history.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../support/redis.js';
import { api, fastCluster, frameMessages, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { until } from '../support/wait.js';

describe('Redis restarted without its data', () => {
  let redis: TestRedis;
  const nodes: Node[] = [];
  before(async () => {
    redis = await startRedis(); // no persistence: a restart comes back empty
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test('the node recovers by itself; the lost config is gone everywhere; a re-made app works on every node', async () => {
    const a = await startNode(redis.url, fastCluster);
    nodes.push(a);
    const put = await api(a.url, 'PUT', '/v3/channels/amnesia', { tokens: ['app'] });
    assert.equal(put.status, 201);
    const oldToken = put.json.tokens.app as string;
    assert.equal(await postLogs(a.url, oldToken, [syslog('before the restart')]), 204);
    // written to Redis (not still queued on a, which would write it again after the restart)
    await until('the line in the shared history', async () => {
      const h = await fetch(`${a.url}/v3/channels/amnesia/logs?num=10`, { headers: { authorization: `Bearer ${a.server.apiKey}` } });
      return frameMessages(Buffer.from(await h.arrayBuffer())).includes('before the restart') && a.server.cluster!.history.pendingLines === 0;
    });

    await redis.stop({ hard: true });
    await until('a not ready', async () => (await fetch(`${a.url}/readyz`)).status === 503);
    await redis.restart();
    await until('a ready again', async () => (await fetch(`${a.url}/readyz`)).status === 200);
    assert.equal((await fetch(`${a.url}/healthz`)).status, 200);

    // the config is gone from Redis: a node started now knows no apps
    const b = await startNode(redis.url, fastCluster);
    nodes.push(b);
    assert.equal((await api(b.url, 'GET', '/v3/channels/amnesia')).status, 404);

    // made again, the app works everywhere, with one shared history
    const again = await api(b.url, 'PUT', '/v3/channels/amnesia', { tokens: ['app'] });
    assert.equal(again.status, 201);
    const token = again.json.tokens.app as string;
    await until('the new app on a', () => a.server.ctx.registry.get('amnesia')?.record.tokens.some((t) => t.token === token));
    // a re-read the app on the change notification: the lost token is refused there too
    assert.equal(await postLogs(a.url, oldToken, [syslog('old token')]), 401);
    assert.equal(await postLogs(a.url, token, [syslog('via a')]), 204);
    assert.equal(await postLogs(b.url, token, [syslog('via b')]), 204);
    // the admin key is b's now (Redis lost the old one's hash; b made a new one, and Redis keeps only its
    // hash: a accepts it without knowing it, docs/operations.md "The admin key in distributed mode")
    const adminKey = b.server.apiKey;
    for (const n of [a, b]) {
      let msgs: string[] = [];
      await until(`both lines in the history read on ${n === a ? 'a' : 'b'}`, async () => {
        const h = await fetch(`${n.url}/v3/channels/amnesia/logs?num=100`, { headers: { authorization: `Bearer ${adminKey}` } });
        msgs = frameMessages(Buffer.from(await h.arrayBuffer()));
        return msgs.length === 2 && msgs.includes('via a') && msgs.includes('via b');
      }).catch((e: Error) => {
        throw new Error(`${e.message}: history ${JSON.stringify(msgs)}`);
      });
    }
  });
});
