// A drain's keys in Redis live as long as the drain: removing it deletes its
// checkpoint (`lp:{app}:drain:<id>`) and lease in the same step as the
// config change, deleting its app deletes them with the app's other keys,
// and the owner's last save (its cursor and status, written as it lets the
// drain go, after the delete) brings nothing back. While the drain exists
// its checkpoint carries a TTL its owner keeps renewing (a backstop).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { closeClient, commandClient, connectOrThrow, redisTarget } from '../../src/redis/connection.js';
import { appConfig, drainLease, drainState } from '../../src/redis/keys.js';
import { CHECKPOINT_TTL_MS } from '../../src/redis/scripts.js';
import { redisBackends, serverClients } from '../support/redis-backends.js';
import { api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { HttpReceiver } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

const ENV = { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of redisBackends) describe(`a drain's keys in Redis${backend.suffix}`, () => {
  let redis: { url: string; close(): Promise<void> };
  let nodes: Node[];
  let rc: Redis;
  let rec: HttpReceiver;

  before(async () => {
    redis = await backend.start();
    nodes = await Promise.all([0, 1].map(() => startNode(redis.url, fastCluster, ENV)));
    rc = commandClient(redisTarget(redis.url), 'test-drain-cleanup');
    rc.on('error', () => {});
    await connectOrThrow(rc, 10_000);
    rec = await HttpReceiver.start(false);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await closeClient(rc);
    await rec.close();
    await redis.close();
  });

  /** Every key of the app on every server, with its TTL (ms; -1: none). */
  async function keysOf(app: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const s of serverClients(redis.url)) {
      try {
        for (const k of await s.keys(`lp:{${app}}*`)) out.set(k, await s.pttl(k));
      } finally {
        s.disconnect();
      }
    }
    return out;
  }
  const owner = (id: string): Node | undefined => nodes.find((n) => n.server.cluster?.drains.owns(id));
  const fed = (id: string): boolean => nodes.some((n) => n.server.cluster?.feed(id) !== undefined);

  /** A drain of the app added through node `via`, delivering: its id once its owner has saved a checkpoint past 5 lines. */
  async function deliveringDrain(app: string, token: string, via: Node, path: string): Promise<string> {
    const d = await api(via.url, 'POST', `/v3/channels/${app}/drains`, { url: rec.url(path) });
    assert.equal(d.status, 201, d.text);
    const id = d.json.id as string;
    await until('an owner, live', () => owner(id)?.server.cluster?.feed(id)?.live, 15_000);
    const before = rec.messages().length;
    for (let i = 0; i < 5; i++) assert.equal(await postLogs(nodes[i % 2]!.url, token, [syslog(`${path}-${i}`)]), 204);
    await until('delivered', () => rec.messages().length >= before + 5, 20_000);
    await until('checkpointed', async () => Number(await rc.hget(drainState(app, id), 'cursor')) >= 5, 10_000);
    return id;
  }

  test('removing a drain, then deleting its app, leaves none of its keys behind, whatever its owner saves last', async () => {
    const put = await api(nodes[0]!.url, 'PUT', '/v3/channels/leaky', { tokens: ['app'] });
    assert.equal(put.status, 201, put.text);
    const token = put.json.tokens.app as string;
    await until('the app on every node', () => nodes.every((n) => n.server.ctx.registry.get('leaky')));

    const first = await deliveringDrain('leaky', token, nodes[1]!, '/one');
    // while the drain exists, its checkpoint expires unless its owner saves it again (about once a second)
    const ttl = await rc.pttl(drainState('leaky', first));
    assert.ok(ttl > CHECKPOINT_TTL_MS - 60_000 && ttl <= CHECKPOINT_TTL_MS, `the checkpoint has its TTL (${ttl})`);
    // removed through the node that does not deliver it, so its owner hears of it by pub/sub and saves last
    const other = nodes.find((n) => n !== owner(first))!;
    assert.equal((await api(other.url, 'DELETE', `/v3/channels/leaky/drains/${first}`)).status, 204);
    assert.equal(await rc.exists(drainState('leaky', first)), 0, 'the checkpoint went with the config change');
    await until('the owner let it go', () => !fed(first), 10_000);
    await sleep(1000); // its last save, and a few checkpoint rounds
    assert.equal(await rc.exists(drainState('leaky', first)), 0, 'not brought back by its last save');

    const second = await deliveringDrain('leaky', token, nodes[0]!, '/two');
    const via = nodes.find((n) => n !== owner(second))!;
    assert.equal((await api(via.url, 'DELETE', '/v3/channels/leaky')).status, 204);
    await until('the owner let it go', () => !fed(second), 10_000);
    await sleep(2500); // its last save, and the delete's second pass (2 s)
    assert.equal(await rc.exists(appConfig('leaky'), drainState('leaky', first), drainState('leaky', second)), 0, 'no checkpoint came back');
    // what is left expires by itself: the nodes' last chunk ids (for re-sends) and a lease renewed before its owner heard of the delete
    const left = await keysOf('leaky');
    for (const [k, pttl] of left) {
      assert.ok(k.includes(':sent:') || k === drainLease('leaky', second) || k === drainLease('leaky', first), `only expiring keys are left: ${k}`);
      assert.ok(pttl > 0, `${k} expires`);
    }
  });
});
