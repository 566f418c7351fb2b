// The per-app rate limit in distributed mode (SPEC 17 with SPEC 9): two nodes
// on one real redis-server hold an app to its limit together, not each
// (which admitted 2x), and an app whose lines all reach one node still gets
// the whole limit there (not limit / nodes). Nodes share each app's lines/s
// once a second (cluster/limit-share.ts, in each node's stats write), so the
// figures are taken over a window after the first exchanges. What each node
// dropped is read from its /metrics (the tests' apps flood one at a time);
// the API's rate_limited is the app's count over both nodes, the same on
// either node once their counts are written. A node that stops gracefully
// adds its last counts, rate_limited too (the rate limit closes before the
// stats' last write: it read 0).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { NODES, appCounts, nodeInfo, nodeLimitShare, nodeRates } from '../../src/redis/keys.js';
import { countShard } from '../../src/redis/keys.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { sample } from '../support/limits.js';

const LIMIT = 100;
/** Lines per POST and ms between POSTs, per node: 200 lines/s, twice the limit at each node. */
const PER_POST = 20;
const EVERY_MS = 100;
/** The first seconds (burst, first exchanges) are not measured; then WINDOW_S seconds are. */
const WARMUP_S = 3;
const WINDOW_S = 4;
/** Admitted lines/s over the window may be this far from the expected figure (a loaded 2-core machine: timer jitter, shares a second late). */
const TOLERANCE = 0.3;

/** Lines the node's rate limit dropped since it started (POST /logs: transport http), from its /metrics. */
const dropped = async (n: Node): Promise<number> => sample(await (await fetch(`${n.url}/metrics`)).text(), 'logplane_ingest_dropped_total', { transport: 'http', reason: 'rate_limited' });

describe('rate limit across two nodes on one Redis', () => {
  let redis: TestRedis;
  let nodes: Node[];

  before(async () => {
    redis = await startRedis();
    const env = { LOGPLANE_APP_RATE_LINES: String(LIMIT) };
    nodes = [await startNode(redis.url, fastCluster, env), await startNode(redis.url, fastCluster, env)];
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  const rateLimited = async (n: Node, app: string): Promise<number> => (await api(n.url, 'GET', `/v3/channels/${app}/stats`)).json.rate_limited as number;

  /** Once the flood is over: both nodes answer rate_limited = every line the two nodes dropped of the app (one count over the cluster, not each node's). */
  async function rateLimitedIsTheClusters(app: string, total: () => Promise<number>): Promise<void> {
    const want = await total();
    await until(async () => (await Promise.all(nodes.map((n) => rateLimited(n, app)))).every((x) => x === want));
  }

  /** Send PER_POST lines every EVERY_MS to each of `to` for the warm-up and the window; returns the lines admitted over the window, summed over the nodes. */
  async function flood(app: string, token: string, to: Node[]): Promise<{ admitted: number; seconds: number }> {
    let sent = 0;
    let i = 0;
    let measuring = false;
    const tick = async (): Promise<void> => {
      const msgs = Array.from({ length: PER_POST }, () => syslog(`line ${i++}`));
      const statuses = await Promise.all(to.map((n) => postLogs(n.url, token, msgs)));
      for (const s of statuses) assert.equal(s, 204);
      if (measuring) sent += PER_POST * to.length;
    };
    const run = async (ms: number): Promise<void> => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const t0 = Date.now();
        await tick();
        const wait = EVERY_MS - (Date.now() - t0);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    };
    await run(WARMUP_S * 1000);
    const before = await Promise.all(nodes.map(dropped));
    const t0 = Date.now();
    measuring = true;
    await run(WINDOW_S * 1000);
    const seconds = (Date.now() - t0) / 1000;
    const afterDrops = await Promise.all(nodes.map(dropped));
    const lost = afterDrops.reduce((a, x, k) => a + x - before[k]!, 0);
    return { admitted: sent - lost, seconds };
  }

  test('lines of one app sent to both nodes (2x the limit at each) are admitted at about the limit in total, not twice it', async (t) => {
    await until(() => nodes.every((n) => n.server.cluster!.nodes.live.length === 2));
    const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/both', { tokens: ['app'] })).json.tokens.app as string;
    await until(() => nodes.every((n) => n.server.ctx.registry.get('both')));
    const { admitted, seconds } = await flood('both', token, nodes);
    const perSec = admitted / seconds;
    t.diagnostic(`admitted ${admitted} lines in ${seconds.toFixed(1)} s = ${perSec.toFixed(1)}/s (limit ${LIMIT}/s)`);
    assert.ok(Math.abs(perSec - LIMIT) <= TOLERANCE * LIMIT, `admitted ${admitted} lines in ${seconds.toFixed(1)} s = ${perSec.toFixed(1)}/s; the limit is ${LIMIT}/s (per node it was ${2 * LIMIT}/s)`);
    // the first test's app is the only one that dropped lines so far
    await rateLimitedIsTheClusters('both', async () => (await Promise.all(nodes.map(dropped))).reduce((a, x) => a + x, 0));
    // each node's report is a field of its stats record: no key of its own (no node of the previous release runs)
    const admin = new Redis(redis.url);
    for (const n of nodes) {
      const id = n.server.cluster!.nodeId;
      assert.match((await admin.hget(nodeRates(id), ':limit'))!, /^\d+\|/);
      assert.equal(await admin.exists(nodeLimitShare(id)), 0);
    }
    admin.disconnect();
  });

  test('lines of an app sent to one node only get the whole limit there, not limit / nodes', async (t) => {
    const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/one', { tokens: ['app'] })).json.tokens.app as string;
    await until(() => nodes.every((n) => n.server.ctx.registry.get('one')));
    const droppedBefore = await Promise.all(nodes.map(dropped));
    const { admitted, seconds } = await flood('one', token, [nodes[1]!]);
    const perSec = admitted / seconds;
    t.diagnostic(`admitted ${admitted} lines in ${seconds.toFixed(1)} s = ${perSec.toFixed(1)}/s (limit ${LIMIT}/s)`);
    assert.ok(Math.abs(perSec - LIMIT) <= TOLERANCE * LIMIT, `admitted ${admitted} lines in ${seconds.toFixed(1)} s = ${perSec.toFixed(1)}/s; the limit is ${LIMIT}/s`);
    // node 0 was sent none of them, and answers node 1's drops too
    await rateLimitedIsTheClusters('one', async () => (await Promise.all(nodes.map(dropped))).reduce((a, x, k) => a + x - droppedBefore[k]!, 0));
  });

  test('while a node of the previous release runs, its report (in its own key) holds the limit, and the nodes write theirs there too; once it has left, they stop', async (t) => {
    const admin = new Redis(redis.url);
    const old = 'old-node';
    // a node of the previous release: registered, its info without `stats`, its report every 500 ms as it writes it (SET PX 3 s)
    const report = () => admin.set(nodeLimitShare(old), JSON.stringify({ mixed: 1000 }), 'PX', 3000);
    await admin.zadd(NODES, Date.now() + 600_000, old);
    await admin.set(nodeInfo(old), JSON.stringify({ url: 'http://127.0.0.1:1', index: 200, pid: 1, layout: 2 }));
    await report();
    const timer = setInterval(() => void report(), 500);
    const ids = nodes.map((n) => n.server.cluster!.nodeId);
    try {
      const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/mixed', { tokens: ['app'] })).json.tokens.app as string;
      await until(() => nodes.every((n) => n.server.ctx.registry.get('mixed') && n.server.cluster!.nodes.live.includes(old)));
      const { admitted, seconds } = await flood('mixed', token, [nodes[0]!]);
      const perSec = admitted / seconds;
      // alone, node 0 would admit the whole limit; with the old node's 1,000 lines/s its share is L x 200 / (200 + 1000)
      const share = (LIMIT * 200) / 1200;
      t.diagnostic(`admitted ${admitted} lines in ${seconds.toFixed(1)} s = ${perSec.toFixed(1)}/s (share ${share.toFixed(1)}/s)`);
      assert.ok(Math.abs(perSec - share) <= 0.5 * share, `admitted ${perSec.toFixed(1)}/s; with the old node's report the share is ${share.toFixed(1)}/s (${LIMIT}/s without it)`);
      for (const id of ids) assert.notEqual(await admin.get(nodeLimitShare(id)), null, 'the report in the key the old node reads');
      assert.ok((JSON.parse((await admin.get(nodeLimitShare(ids[0]!)))!) as Record<string, number>)['mixed']! > 0);
    } finally {
      clearInterval(timer);
    }
    await admin.zrem(NODES, old);
    await admin.del(nodeInfo(old), nodeLimitShare(old));
    // gone: the nodes stop writing that key (it expires)
    await until(async () => (await Promise.all(ids.map((id) => admin.exists(nodeLimitShare(id))))).every((x) => x === 0));
    admin.disconnect();
  });
});

describe('a graceful stop with the rate limit on', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.close();
  });

  test("the node's last counts reach the app's counts in Redis as it stops, rate_limited too", async () => {
    const a = await startNode(redis.url, fastCluster, { LOGPLANE_APP_RATE_LINES: '10' });
    // its periodic writes held: the stop's last write is the only one with the app's counts
    a.server.cluster!.stats!.kill();
    const token = (await api(a.url, 'PUT', '/v3/channels/stopping', { tokens: ['app'] })).json.tokens.app as string;
    assert.equal(await postLogs(a.url, token, Array.from({ length: 100 }, (_, i) => syslog(`m${i}`))), 204);
    const limited = await dropped(a);
    assert.ok(limited >= 50, `${limited} lines over the limit (burst 20)`);
    const app = a.server.ctx.registry.get('stopping')!;
    await a.close();
    // lines: also the rate limit's last announcement, routed as it closed
    const admin = new Redis(redis.url);
    try {
      assert.equal(await admin.hget(appCounts(countShard('stopping')), 'stopping'), `${app.linesIn},${app.bytesIn},${limited}`);
    } finally {
      admin.disconnect();
    }
  });
});

async function until(ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
