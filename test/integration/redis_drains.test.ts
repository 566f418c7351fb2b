// Drains in distributed mode: each drain is delivered by exactly one node
// (its lease holder), which receives every node's lines, so each line reaches
// each drain exactly once; a node that stops gracefully hands its drains over
// with nothing lost or repeated.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { redisBackends } from '../support/redis-backends.js';
import { api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { HttpReceiver, l10Count, msgText } from '../support/drain-receivers.js';
import { settled, until } from '../support/wait.js';

const DRAIN_ENV = {
  LOGPLANE_DRAIN_ALLOW_PRIVATE: '1',
  LOGPLANE_DRAIN_RETRIES: '3',
  LOGPLANE_DRAIN_BACKOFF_BASE_MS: '5',
  LOGPLANE_DRAIN_BACKOFF_MAX_MS: '40',
  LOGPLANE_DRAIN_FLUSH_TIMEOUT_MS: '2000',
  // a takeover replays what accumulated since the last checkpoint: room for a busy test machine's backlog
  LOGPLANE_DRAIN_QUEUE_BYTES: String(8 << 20),
};

function received(r: HttpReceiver): string[] {
  return r.messages().map((f) => msgText('http', f));
}

for (const backend of redisBackends) describe(`drains across three nodes${backend.suffix}`, () => {
  let redis: { url: string; close(): Promise<void> };
  let nodes: Node[];
  const receivers: HttpReceiver[] = [];

  before(async () => {
    redis = await backend.start();
    nodes = await Promise.all([0, 1, 2].map(() => startNode(redis.url, fastCluster, DRAIN_ENV)));
    for (let i = 0; i < 3; i++) receivers.push(await HttpReceiver.start(false));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    for (const r of receivers) await r.close();
    await redis.close();
  });

  const owners = (drainId: string) => nodes.filter((n) => n.server.cluster?.drains.owns(drainId));
  const feedLive = (drainId: string) => nodes.some((n) => n.server.cluster?.feed(drainId)?.live);

  test('each line reaches each drain exactly once, whichever node ingested it', async () => {
    const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/drained', { tokens: ['app'] })).json.tokens.app as string;
    await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get('drained')));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await api(nodes[i]!.url, 'POST', '/v3/channels/drained/drains', { url: receivers[i]!.url() });
      assert.equal(r.status, 201, r.text);
      ids.push(r.json.id as string);
    }
    // every drain gets exactly one owner, and its feed goes live
    await until('one owner each', () => ids.every((id) => owners(id).length === 1 && feedLive(id)));
    // the drain list is the same on every node (each learns the others' drains by pub/sub, within milliseconds;
    // on a Redis Cluster the message crosses the cluster bus first)
    await until('every drain on every node', () => nodes.every((n) => ids.every((id) => n.server.ctx.registry.get('drained')?.record.drains.some((d) => d.id === id))), 10_000);
    const lists = await Promise.all(nodes.map((n) => api(n.url, 'GET', '/v3/channels/drained/drains')));
    for (const l of lists) assert.deepEqual(l.json.map((d: any) => d.id).sort(), ids.slice().sort());

    const sent: string[] = [];
    for (let round = 0; round < 5; round++) {
      await Promise.all(nodes.map((n, k) => {
        const msgs = Array.from({ length: 40 }, (_, i) => `d${k}-${round}-${i}`);
        sent.push(...msgs);
        return postLogs(n.url, token, msgs.map((m) => syslog(m)));
      }));
    }
    for (const r of receivers) await until('all delivered', () => r.messages().length >= sent.length);
    // quiesced: every drain holds nothing, and nothing more arrives (a late duplicate would)
    await until('drains idle', () => ids.every((id) => owners(id).every((n) => n.server.drains.drain('drained', id)?.idle)));
    await settled('the receivers', () => receivers.map((r) => r.requests.length), 1000);
    for (const r of receivers) {
      const got = received(r);
      assert.equal(got.length, sent.length, 'exactly once: no line twice');
      assert.deepEqual(new Set(got), new Set(sent));
      assert.ok(!got.some((m) => l10Count(m) !== null), 'no loss reported');
    }
    // every node shows the owner's status (written to Redis about once a second)
    await until('status everywhere', async () => {
      const lists = await Promise.all(nodes.map((n) => api(n.url, 'GET', '/v3/channels/drained/drains')));
      return lists.every((l) => l.json.every((d: any) => d.status.delivered === sent.length && d.status.state === 'idle'));
    }, 5000, 100);
  });

  // answerDelayMs 0: a fast endpoint; 150: a slow one, so that under steady ingest the old owner's
  // drain always has a batch out (it is told to take no more lines before it flushes, or its flush
  // would wait for a queue that keeps refilling, time out with a batch out, and the next owner
  // would send that batch again)
  for (const [name, answerDelayMs] of [['handover', 0], ['handover-slow', 150]] as const) test(`a node that stops gracefully hands its drains over${answerDelayMs > 0 ? ' while the endpoint answers slowly' : ''}: nothing lost, nothing twice`, async () => {
    if (nodes.length < 3) nodes.push(await startNode(redis.url, fastCluster, DRAIN_ENV));
    const token = (await api(nodes[0]!.url, 'PUT', `/v3/channels/${name}`, { tokens: ['app'] })).json.tokens.app as string;
    await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get(name)));
    const rec = await HttpReceiver.start(false);
    rec.answerDelayMs = answerDelayMs;
    receivers.push(rec);
    const id = (await api(nodes[0]!.url, 'POST', `/v3/channels/${name}/drains`, { url: rec.url() })).json.id as string;
    await until('owned', () => owners(id).length === 1 && feedLive(id));
    const owner = owners(id)[0]!;
    const others = nodes.filter((n) => n !== owner);

    const sent: string[] = [];
    let k = 0;
    let running = true;
    const load = (async () => {
      while (running) {
        const msgs = Array.from({ length: 20 }, () => `h-${k++}`);
        sent.push(...msgs);
        await postLogs(others[k % 2]!.url, token, msgs.map((m) => syslog(m)));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await until('lines flowing before the hand-over', () => rec.messages().length >= 100);
    const oldDrain = owner.server.drains.drain(name, id)!;
    const oldFeed = owner.server.cluster!.feed(id)!;
    await owner.close();
    const oldStatus = oldDrain.status();
    nodes = others;
    await until('taken over', () => owners(id).length === 1 && feedLive(id));
    const startCursor = owners(id)[0]!.server.cluster!.feed(id)!.cursor;
    const atTakeover = sent.length;
    await until('lines after the hand-over', () => sent.length >= atTakeover + 100);
    running = false;
    await load;
    await until('all delivered', () => rec.messages().length >= sent.length, 10_000).catch((e: Error) => {
      const got = received(rec);
      const have = new Set(got);
      const missing = sent.filter((m) => !have.has(m));
      const owner = nodes.findIndex((n) => n.server.cluster?.feed(id));
      const f = owner === -1 ? null : nodes[owner]!.server.cluster!.feed(id)!;
      throw new Error(`${e.message}: got ${got.length} (${have.size} unique) of ${sent.length}; missing ${missing.length} ${JSON.stringify(missing.slice(0, 3))}..${JSON.stringify(missing.slice(-3))}; owner ${owner} live ${f?.live} last ${f?.last} cursor ${f?.cursor}; requests ${rec.requests.length} ${JSON.stringify(rec.requests.slice(-3).map((r) => r.status))}; old drain ${JSON.stringify(oldStatus)} old cursor ${oldFeed.cursor} old last ${oldFeed.last}; new start ${startCursor}`);
    });
    await until('the new owner idle', () => owners(id).every((n) => n.server.drains.drain(name, id)?.idle));
    await settled('the receiver', () => rec.requests.length, 1000);
    const got = received(rec);
    assert.deepEqual(new Set(got), new Set(sent));
    const seen = new Set<string>();
    const twice = got.filter((m) => seen.has(m) || !seen.add(m));
    assert.equal(got.length, sent.length, `nothing delivered twice across the hand-over: ${twice.length} twice, ${JSON.stringify(twice.slice(0, 2))}..${JSON.stringify(twice.slice(-2))}; old drain ${JSON.stringify(oldStatus)} old cursor ${oldFeed.cursor} old last ${oldFeed.last}; new start ${startCursor}; requests ${rec.requests.length}`);
  });
});
