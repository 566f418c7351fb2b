// A drain's URL changed in distributed mode (docs/drains.md, "Changing a
// drain's URL"), on the node that does not deliver it: the owner hands the
// drain over at its checkpoint, so the lines it held in backoff and those
// queued reach the new URL, each once, with no loss reported.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from '../support/redis.js';
import { api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { HttpReceiver, l10Count, msgText } from '../support/drain-receivers.js';
import { settled, until } from '../support/wait.js';

const DRAIN_ENV = {
  LOGPLANE_DRAIN_ALLOW_PRIVATE: '1',
  LOGPLANE_DRAIN_RETRIES: '50',
  LOGPLANE_DRAIN_BACKOFF_BASE_MS: '100',
  LOGPLANE_DRAIN_BACKOFF_MAX_MS: '200',
};

let redis: { url: string; close(): Promise<void> };
let nodes: Node[];
let r: HttpReceiver;

before(async () => {
  redis = await startRedis();
  nodes = await Promise.all([0, 1].map(() => startNode(redis.url, fastCluster, DRAIN_ENV)));
  r = await HttpReceiver.start(false);
});
after(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await r.close();
  await redis.close();
});

test('a URL change made on the other node: what the owner held in backoff and queued reaches the new URL, each line once', async () => {
  // the old URL answers 503 (retried, held in backoff), the new one 204
  r.plan = (i) => (r.requests[i]!.url === '/a' ? 503 : 204);
  const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/moving', { tokens: ['app'] })).json.tokens.app as string;
  await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get('moving')));
  const add = await api(nodes[0]!.url, 'POST', '/v3/channels/moving/drains', { url: r.url('/a') });
  assert.equal(add.status, 201, add.text);
  const id = add.json.id as string;
  const owner = async () => {
    await until('one owner', () => nodes.filter((n) => n.server.cluster?.drains.owns(id)).length === 1 && nodes.some((n) => n.server.cluster?.feed(id)?.live));
    return nodes.findIndex((n) => n.server.cluster?.drains.owns(id));
  };
  const o = await owner();
  const sent: string[] = [];
  for (let k = 0; k < 2; k++) {
    const msgs = Array.from({ length: 30 }, (_, i) => `m${k}-${i}`);
    sent.push(...msgs);
    assert.equal(await postLogs(nodes[k]!.url, token, msgs.map((m) => syslog(m))), 204);
  }
  await until('a 503 on /a', () => r.requests.some((q) => q.url === '/a' && q.status === 503), 10_000);
  const more = Array.from({ length: 20 }, (_, i) => `late-${i}`);
  sent.push(...more);
  assert.equal(await postLogs(nodes[1 - o]!.url, token, more.map((m) => syslog(m))), 204);
  // changed on the node that does not deliver the drain
  const put = await api(nodes[1 - o]!.url, 'PUT', `/v3/channels/moving/drains/${id}`, { url: r.url('/b') });
  assert.equal(put.status, 200, put.text);
  const atB = () => r.requests.filter((q) => q.url === '/b' && q.status !== null && q.status < 300).flatMap((q) => q.frames.map((f) => msgText('http', f)));
  const ours = () => atB().filter((m) => /^(m\d-|late-)/.test(m));
  await until('every line on /b', () => new Set(ours()).size === sent.length, 15_000);
  await settled('the receiver', () => r.requests.length, 1000);
  assert.equal(ours().length, sent.length, 'each line once');
  assert.deepEqual(new Set(ours()), new Set(sent));
  assert.ok(!atB().some((m) => l10Count(m) !== null), 'no loss reported: nothing was lost');
});
