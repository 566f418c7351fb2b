// logplane_cluster_drain_lines_lost_total is a counter: it never goes down.
// Each line a drain owned here never got is counted once (the L10 line it
// was told of it with), and stays counted after the drain leaves this node
// (removed, its lease moved, the node stopping).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { drainLease } from '../../src/redis/keys.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { api, fastCluster, metricMatch, postLogs, refusedRange, startNode, syslog, type Node } from '../support/cluster.js';
import { HttpReceiver, l10Count, msgText } from '../support/drain-receivers.js';
import { settled, until } from '../support/wait.js';

const LOST = /^logplane_cluster_drain_lines_lost_total (\d+)$/m;
const ENV = { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_HISTORY_LINES: '100' };

describe('logplane_cluster_drain_lines_lost_total', () => {
  const redises: TestRedis[] = [];
  const receivers: HttpReceiver[] = [];
  after(async () => {
    for (const r of receivers) await r.close();
    for (const r of redises) await r.close();
  });

  /** The L10 counts a receiver got. */
  const l10s = (rec: HttpReceiver): number[] => rec.messages().map((f) => l10Count(msgText('http', f))).filter((n): n is number => n !== null);
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

  async function appWithDrain(nodes: Node[], app: string, rec: HttpReceiver): Promise<{ token: string; id: string }> {
    const put = await api(nodes[0]!.url, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] });
    assert.equal(put.status, 201, put.text);
    await until('the app on every node', () => nodes.every((n) => n.server.ctx.registry.get(app)));
    const d = await api(nodes[0]!.url, 'POST', `/v3/channels/${app}/drains`, { url: rec.url() });
    assert.equal(d.status, 201, d.text);
    const id = d.json.id as string;
    await until('the drain live', () => nodes.some((n) => n.server.cluster?.feed(id)?.live), 15_000);
    return { token: put.json.tokens.app as string, id };
  }

  test('lines Redis refused: counted once, as the L10 says, and still counted once the drain is removed', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const rec = await HttpReceiver.start(false);
    receivers.push(rec);
    const x = await startNode(redis.url, fastCluster, ENV);
    try {
      const { token, id } = await appWithDrain([x], 'refused', rec);
      assert.equal(await postLogs(x.url, token, [syslog('before')]), 204);
      await until('delivered', () => rec.messages().length >= 1, 10_000);
      // 20 lines the node could not write: the drain (owned here, it did not get them directly) is told with one L10
      await refusedRange(redis.url, x, token, 'refused-', 0, 20);
      await until('the L10', () => sum(l10s(rec)) === 20, 10_000);
      // the loss notice reaches the stream with the next lines: already counted, not again
      assert.equal(await postLogs(x.url, token, [syslog('after')]), 204);
      await until('delivered after', () => rec.messages().some((f) => msgText('http', f).endsWith('after')), 10_000);
      assert.equal(await metricMatch(x.url, LOST), 20, 'each lost line counted once');
      assert.equal((await api(x.url, 'DELETE', `/v3/channels/refused/drains/${id}`)).status, 204);
      await until('the drain let go', () => x.server.cluster!.feed(id) === undefined, 10_000);
      assert.equal(await metricMatch(x.url, LOST), 20, 'still counted once the drain is gone');
      assert.deepEqual(l10s(rec), [20]);
    } finally {
      await x.close();
    }
  });

  test('lines trimmed before a new owner read them: still counted on it once the drain is removed', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const rec = await HttpReceiver.start(false);
    receivers.push(rec);
    const admin = new Redis(redis.url);
    const nodes = await Promise.all([0, 1].map(() => startNode(redis.url, fastCluster, ENV)));
    try {
      const { token, id } = await appWithDrain(nodes, 'victim', rec);
      const owner = nodes.find((n) => n.server.cluster!.drains.owns(id))!;
      const other = nodes.find((n) => n !== owner)!;
      for (let i = 0; i < 5; i++) assert.equal(await postLogs(other.url, token, [syslog(`a-${i}`)]), 204);
      await until('delivered', () => rec.messages().length >= 5, 10_000);
      await until('checkpointed', async () => (await admin.hget(`lp:{victim}:drain:${id}`, 'cursor')) === '5', 10_000);
      // the owner crashes; 300 lines come to the other node, which keeps 100 of them: 200 are trimmed before it takes the drain over
      owner.server.cluster!.kill();
      for (let i = 0; i < 300; i += 50) assert.equal(await postLogs(other.url, token, Array.from({ length: 50 }, (_, k) => syslog(`b-${i + k}`))), 204);
      await until('taken over', async () => (await admin.get(drainLease('victim', id))) === other.server.cluster!.nodeId, 15_000);
      // the loss may be told in more than one L10: wait for all 200, then for nothing more to come (none counted twice)
      await until('L10s for the 200 trimmed lines', () => sum(l10s(rec)) >= 200, 15_000);
      const lost = await settled('the L10s', () => sum(l10s(rec)));
      assert.equal(lost, 200);
      assert.equal(await metricMatch(other.url, LOST), lost, 'the L10 counted');
      assert.equal((await api(other.url, 'DELETE', `/v3/channels/victim/drains/${id}`)).status, 204);
      await until('the drain let go', () => other.server.cluster!.feed(id) === undefined, 10_000);
      assert.equal(await metricMatch(other.url, LOST), lost, 'still counted once the drain is gone');
    } finally {
      admin.disconnect();
      await Promise.all(nodes.map((n) => n.close()));
    }
  });
});
