// The per-app rate limit in distributed mode (SPEC 17 with SPEC 9): two nodes
// on one real redis-server hold an app to its limit together, not each
// (which admitted 2x), and an app whose lines all reach one node still gets
// the whole limit there (not limit / nodes). Nodes share each app's lines/s
// once a second (cluster/limit-share.ts, in each node's stats write), so the
// figures are taken over a window after the first exchanges. What each node
// dropped is read from its /metrics (the tests' apps flood one at a time):
// the API's rate_limited is the app's count over the cluster.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
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

  /** Lines the node's rate limit dropped since it started (POST /logs: transport http), from its /metrics. */
  const dropped = async (n: Node): Promise<number> => sample(await (await fetch(`${n.url}/metrics`)).text(), 'logplane_ingest_dropped_total', { transport: 'http', reason: 'rate_limited' });

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
  });

  test('lines of an app sent to one node only get the whole limit there, not limit / nodes', async (t) => {
    const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/one', { tokens: ['app'] })).json.tokens.app as string;
    await until(() => nodes.every((n) => n.server.ctx.registry.get('one')));
    const { admitted, seconds } = await flood('one', token, [nodes[1]!]);
    const perSec = admitted / seconds;
    t.diagnostic(`admitted ${admitted} lines in ${seconds.toFixed(1)} s = ${perSec.toFixed(1)}/s (limit ${LIMIT}/s)`);
    assert.ok(Math.abs(perSec - LIMIT) <= TOLERANCE * LIMIT, `admitted ${admitted} lines in ${seconds.toFixed(1)} s = ${perSec.toFixed(1)}/s; the limit is ${LIMIT}/s`);
  });
});

async function until(ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
