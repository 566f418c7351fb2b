// A drain's status read on a node that does not deliver it (distributed mode):
// the answer is the delivering node's status as it last wrote it to Redis
// (every second), read at the time of the request: right on the first read,
// never what an earlier read fetched; when Redis does not answer, the last
// status this node read, without waiting for Redis.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { HttpReceiver } from '../support/drain-receivers.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { until } from '../support/wait.js';
import { drainState } from '../../src/redis/keys.js';

const APP = 'statusapp';
let redis: TestRedis;
let reader: Redis;
let nodes: Node[];
let rx: HttpReceiver;
let token: string;
let id: string;
let owner: Node;
let other: Node;

before(async () => {
  redis = await startRedis();
  reader = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: false });
  // leases and node records that outlive the 8 s CLIENT PAUSE below: the drain keeps its owner
  const cluster = { ...fastCluster, nodeTtlMs: 12_000, leaseTtlMs: 12_000 };
  nodes = await Promise.all([0, 1].map(() => startNode(redis.url, cluster, { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' })));
  rx = await HttpReceiver.start(false);
  token = (await api(nodes[0]!.url, 'PUT', `/v3/channels/${APP}`, { tokens: ['app'] })).json.tokens.app as string;
  await until('app on both nodes', () => nodes.every((n) => n.server.ctx.registry.get(APP)));
  const r = await api(nodes[0]!.url, 'POST', `/v3/channels/${APP}/drains`, { url: rx.url() });
  assert.equal(r.status, 201, r.text);
  id = r.json.id as string;
  const owners = () => nodes.filter((n) => n.server.cluster?.drains.owns(id));
  await until('one owner, its feed live', () => owners().length === 1 && owners()[0]!.server.cluster?.feed(id)?.live);
  await until('the drain on both nodes', () => nodes.every((n) => n.server.ctx.registry.get(APP)?.record.drains.some((d) => d.id === id)), 10_000);
  owner = owners()[0]!;
  other = nodes.find((n) => n !== owner)!;
});

after(async () => {
  reader.disconnect();
  await Promise.all(nodes.map((n) => n.close()));
  await rx.close();
  await redis.close();
});

/** Send n lines (through the node that does not deliver the drain); wait until the owner delivered `total` and wrote that to Redis. */
async function deliver(n: number, total: number): Promise<void> {
  await postLogs(other.url, token, Array.from({ length: n }, (_, i) => syslog(`line ${total - n + i}`)));
  await until('delivered by the owner', () => owner.server.drains.drain(APP, id)?.status().delivered === total);
  // the owner writes its status every second: wait for that write, not for the other node
  await until('the owner wrote it', async () => {
    const v = await reader.hget(drainState(APP, id), 'status');
    return v !== null && (JSON.parse(v) as { delivered: number }).delivered === total;
  }, 10_000, 20);
}

const statusOn = async (n: Node, path = `/v3/channels/${APP}/drains/${id}`): Promise<any> => {
  assert.ok(!n.server.cluster?.drains.owns(id), 'asked a node that does not deliver the drain');
  const r = await api(n.url, 'GET', path);
  assert.equal(r.status, 200, r.text);
  return r.json.status ?? r.json[0].status;
};

test('the first status read on a node that does not deliver the drain is the owner\'s status from Redis, not the default', async () => {
  await deliver(20, 20);
  const s = await statusOn(other);
  assert.equal(s.delivered, 20, 'the owner\'s count, on the first read');
  assert.notEqual(s.state, 'connecting');
  assert.equal(typeof s.latency_ms.p50, 'number');
  assert.equal(s.dropped_1h, 0);
});

test('a later read answers what the owner last wrote, not what the previous read fetched', async () => {
  await deliver(15, 35);
  assert.equal((await statusOn(other)).delivered, 35, 'GET .../drains/:id');
  await deliver(5, 40);
  assert.equal((await statusOn(other, `/v3/channels/${APP}/drains`)).delivered, 40, 'GET .../drains');
  const stats = await api(other.url, 'GET', `/v3/channels/${APP}/stats`);
  assert.equal(stats.json.drains.delivered, 40, 'the console\'s stats');
});

test('with Redis not answering or gone, the read answers soon with the last status read, not the default', async () => {
  // Redis holds every command for 8 s: the read gives up after its bound (0.5 s). The pause is long, and
  // lifted as soon as the answer came, so that a loaded machine's slow answer still tells the two apart
  await reader.call('CLIENT', 'PAUSE', '8000', 'ALL');
  let t0 = Date.now();
  let s = await statusOn(other);
  const paused = Date.now() - t0;
  assert.equal(s.delivered, 40);
  assert.ok(paused < 5000, `answered in ${paused} ms, before Redis did`);
  await reader.call('CLIENT', 'UNPAUSE');
  // Redis stopped: the read fails at once (a node waiting for Redis would not answer before the restart below)
  await redis.stop();
  try {
    t0 = Date.now();
    s = await statusOn(other);
    assert.equal(s.delivered, 40);
    assert.ok(Date.now() - t0 < 5000, `answered in ${Date.now() - t0} ms`);
  } finally {
    await redis.restart();
  }
});
