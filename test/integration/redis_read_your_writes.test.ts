// Every node serves every request (SPEC 9): once a change is answered 2xx by
// node A, the next request on node B (a load balancer's round robin) sees
// it, also before B has heard of the change. B here reaches Redis through a
// proxy that hands it every reply 300 ms late, so it hears of A's changes
// (Redis pub/sub) that late: what B answers must come from Redis, not from
// its copy (Registry.current). docs/reliability.md says what is guaranteed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, startNode, type Node } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/** How late node B gets Redis's replies, its pub/sub messages included. */
const LATE_MS = 300;

describe('a change answered on one node is seen by the next request on another', () => {
  let redis: TestRedis;
  let proxy: TcpProxy;
  let a: Node;
  let b: Node;
  before(async () => {
    redis = await startRedis();
    proxy = await startTcpProxy(redis.port);
    a = await startNode(redis.url);
    b = await startNode(proxy.url);
    proxy.delayReplies(LATE_MS);
  });
  after(async () => {
    await Promise.all([a, b].map((n) => n?.close()));
    await proxy?.close();
    await redis?.close();
  });

  /** PUT the channel on A (a new one), then the request on B: its status. */
  async function afterCreateOnA(app: string, method: string, path: string, body?: unknown): Promise<number> {
    assert.equal((await api(a.url, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).status, 201);
    const r = await api(b.url, method, path, body);
    return r.status;
  }

  test('reads: GET of the channel, its history, its drains, the Platform app', async () => {
    const got = {
      channel: await afterCreateOnA('r1', 'GET', '/v3/channels/r1'),
      history: await afterCreateOnA('r2', 'GET', '/v3/channels/r2/logs?num=1'),
      drains: await afterCreateOnA('r3', 'GET', '/v3/channels/r3/drains'),
      platform: await afterCreateOnA('r4', 'GET', '/apps/r4'),
    };
    assert.deepEqual(got, { channel: 200, history: 200, drains: 200, platform: 200 });
  });

  test('writes: DELETE, a token, a drain, a session', async () => {
    const got = {
      delete: await afterCreateOnA('w1', 'DELETE', '/v3/channels/w1'),
      token: await afterCreateOnA('w2', 'POST', '/v3/channels/w2/tokens', { name: 'web' }),
      drain: await afterCreateOnA('w3', 'POST', '/v3/channels/w3/drains', { url: 'https://example.com/d' }),
      session: await afterCreateOnA('w4', 'POST', '/v3/sessions', { channel_id: 'w4' }),
    };
    assert.deepEqual(got, { delete: 204, token: 200, drain: 201, session: 201 });
  });

  test('a channel deleted on A is gone on B; a token made on A is in B\'s answer', async () => {
    assert.equal((await api(a.url, 'PUT', '/v3/channels/gone', { tokens: ['app'] })).status, 201);
    assert.equal((await api(b.url, 'GET', '/v3/channels/gone')).status, 200);
    assert.equal((await api(a.url, 'DELETE', '/v3/channels/gone')).status, 204);
    assert.equal((await api(b.url, 'GET', '/v3/channels/gone')).status, 404, 'deleted on A: not found on B');
    const made = await api(a.url, 'POST', '/v3/channels/r1/tokens', { name: 'late' });
    assert.equal(made.status, 200);
    assert.equal((await api(b.url, 'GET', '/v3/channels/r1')).json.tokens.late, made.json.token);
  });

  test('a drain added on A is read, changed and removed on B', async () => {
    assert.equal((await api(a.url, 'PUT', '/v3/channels/dr', { tokens: ['app'] })).status, 201);
    const added = await api(a.url, 'POST', '/v3/channels/dr/drains', { url: 'https://example.com/one' });
    assert.equal(added.status, 201);
    assert.equal((await api(b.url, 'GET', `/v3/channels/dr/drains/${added.json.id}`)).status, 200);
    const moved = await api(a.url, 'PUT', `/v3/channels/dr/drains/${added.json.id}`, { url: 'https://example.com/two' });
    assert.equal(moved.status, 200);
    assert.equal((await api(b.url, 'GET', `/v3/channels/dr/drains/${added.json.id}`)).json.url, 'https://example.com/two');
    assert.equal((await api(b.url, 'DELETE', `/v3/channels/dr/drains/${added.json.id}`)).status, 204);
  });
});
