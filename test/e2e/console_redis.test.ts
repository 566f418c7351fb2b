// The web console in distributed mode: a page served by one node shows the
// live lines ingested on another, and their lines/s, and its drain changes
// reach the cluster; opened while Redis is unreachable, it says other
// nodes' lines may be missing (regression: "0 lines skipped").
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { noBrowser, openPage, signIn } from '../support/browser.js';
import { API_KEY, api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { HttpReceiver } from '../support/drain-receivers.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { until } from '../support/wait.js';

const skip = noBrowser;
let redis: TestRedis;
let nodes: Node[];

before(async () => {
  if (skip) return;
  // kept across the stop of the last test, so the nodes close on the Redis they knew
  redis = await startRedis({ persist: true });
  // drains to the loopback receiver below
  nodes = await Promise.all([0, 1].map(() => startNode(redis.url, fastCluster, { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' })));
});
after(async () => {
  await Promise.all((nodes ?? []).map((n) => n.close()));
  await redis?.close();
});

test('distributed mode: the page on one node tails lines ingested on another and adds a drain the cluster delivers to', { skip, timeout: 120_000 }, async () => {
  const [a, b] = nodes as [Node, Node];
  const created = await api(a.url, 'PUT', '/v3/channels/spread', { tokens: ['app'] });
  assert.equal(created.status, 201);
  const token = created.json.tokens.app as string;
  const receiver = await HttpReceiver.start(false);
  const w = await openPage(a.url);
  try {
    const { page } = w;
    await signIn(page, a.url, API_KEY);
    await page.goto(`${a.url}/#/apps/spread`);
    await page.locator('.conn-live').waitFor();
    assert.equal(await postLogs(b.url, token, [syslog('ingested on the other node')]), 204);
    await page.locator('.log .row', { hasText: 'ingested on the other node' }).waitFor({ timeout: 30_000 });

    // the lines/s of lines ingested on the other node only (the stats sum every live node's)
    let sending = true;
    const load = (async () => {
      while (sending) {
        await postLogs(b.url, token, Array.from({ length: 20 }, (_, i) => syslog(`rate ${i}`)));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await page.locator('#rates-h', { hasText: /now [1-9][0-9.]*\/s/ }).waitFor({ timeout: 30_000 });
    } finally {
      sending = false;
      await load;
    }

    await page.getByLabel('Drain URL').fill(receiver.url('/spread'));
    await page.getByRole('button', { name: 'Add drain' }).click();
    await page.locator('.drain-table tr', { hasText: '/spread' }).waitFor();
    const onB = await api(b.url, 'GET', '/v3/channels/spread/drains');
    assert.equal(onB.json.length, 1, 'the drain is the cluster\'s');
    assert.equal(await postLogs(b.url, token, [syslog('after the drain was added')]), 204);
    await until('the drain delivers', () => receiver.messages().some((m) => m.toString().includes('after the drain was added')), 60_000);
    assert.deepEqual(w.outside, []);
    assert.deepEqual(w.problems, []);
  } finally {
    await w.close();
    await receiver.close();
  }
});

test("Redis unreachable: the page says an unknown number of other nodes' lines may be missing, not 0 skipped", { skip, timeout: 120_000 }, async () => {
  const a = nodes[0]!;
  const created = await api(a.url, 'PUT', '/v3/channels/unread', { tokens: ['app'] });
  assert.equal(created.status, 201);
  assert.equal(await postLogs(a.url, created.json.tokens.app as string, [syslog('a line of this node')]), 204);
  const w = await openPage(a.url);
  try {
    const { page } = w;
    await signIn(page, a.url, API_KEY);
    await redis.stop();
    await until('the node sees Redis down', () => !a.server.cluster!.history.up, 10_000);
    await page.goto(`${a.url}/#/apps/unread`);
    await page.locator('.log .row', { hasText: 'a line of this node' }).waitFor({ timeout: 30_000 });
    const gap = page.locator('.log .row.gap');
    await gap.waitFor({ timeout: 30_000 });
    assert.match((await gap.textContent())!, /^⋯ an unknown number of lines may be missing \(other nodes' lines could not be read, since \S+\)$/);
    assert.equal(await page.locator('.skipped').textContent(), 'lines may be missing');
    assert.deepEqual(w.problems, []);
  } finally {
    await w.close();
    await redis.restart();
  }
});
