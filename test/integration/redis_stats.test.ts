// The console's lines/s in distributed mode (SPEC 13 on SPEC 9): every node
// answers GET /v3/channels/:app/stats with the lines of every live node, a
// second or so after they came in, whichever node took them in; a node that
// dies takes its counts with it once its hash's TTL runs out; with Redis
// away the answer is the node's own, marked partial. And the apps' line
// counts of GET /v3/channels (lines_in, bytes_in), the whole cluster's on
// every node: kept when a node dies or stops, partial with Redis away
// (cluster/counts.ts). On one Redis and on a Redis Cluster of 3 masters.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Redis } from 'ioredis';
import { appCounts, nodeCountsSeq, nodeRates } from '../../src/redis/keys.js';
import { countShard } from '../../src/redis/keys.js';
import { defineScripts, type Scripts } from '../../src/redis/scripts.js';
import { redisBackends } from '../support/redis-backends.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { until } from '../support/wait.js';

/** Short write period and TTL, so a dead node's counts go within the test's patience. */
const OPTS = { ...fastCluster, statsPeriodMs: 250, statsTtlMs: 1500 };

type Totals = [app: number, heroku: number, other: number];

async function stats(n: Node, app: string): Promise<any> {
  const r = await api(n.url, 'GET', `/v3/channels/${app}/stats`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/** An app's entry of GET /v3/channels on node n, and the answer's partial. */
async function listed(n: Node, app: string): Promise<{ stats: { lines_in: number; bytes_in: number; ring_lines: number; rate_limited: number }; partial: unknown }> {
  const r = await api(n.url, 'GET', '/v3/channels?limit=1000');
  assert.equal(r.status, 200, r.text);
  const e = (r.json.channels as Array<{ channel: string; stats: any }>).find((c) => c.channel === app);
  assert.ok(e, `${app} listed`);
  return { stats: e.stats, partial: r.json.partial };
}

/** The lines and bytes node n took in for app since it started (what its own figures are). */
function local(n: Node, app: string): [number, number] {
  const a = n.server.ctx.registry.get(app)!;
  return [a.linesIn, a.bytesIn];
}

function totals(s: any): Totals {
  const sum = (k: string) => (s.series.counts[k] as number[]).reduce((a, b) => a + b, 0);
  return [sum('app'), sum('heroku'), sum('other')];
}

/** A client for the key checks, on one Redis or a cluster. */
function client(url: string): Redis {
  if (!url.startsWith('redis-cluster://')) return new Redis(url);
  const seeds = url
    .slice('redis-cluster://'.length)
    .split(',')
    .map((hp) => ({ host: hp.slice(0, hp.lastIndexOf(':')), port: Number(hp.slice(hp.lastIndexOf(':') + 1)) }));
  return new Cluster(seeds) as unknown as Redis;
}

/** Create an app with tokens app, heroku and deploy on a; wait until b knows it; the tokens. */
async function createApp(a: Node, b: Node, id: string): Promise<Record<string, string>> {
  const r = await api(a.url, 'PUT', `/v3/channels/${id}`, { tokens: ['app', 'heroku', 'deploy'] });
  assert.equal(r.status, 201);
  await until(`${id} on both nodes`, () => a.server.ctx.registry.get(id) && b.server.ctx.registry.get(id));
  return r.json.tokens as Record<string, string>;
}

/** Send [app, heroku, other] lines to node n. */
async function send(n: Node, tokens: Record<string, string>, [app, heroku, other]: Totals): Promise<void> {
  const lines = (k: number, tag: string) => Array.from({ length: k }, (_, i) => syslog(`${tag} ${i}`));
  if (app) assert.equal(await postLogs(n.url, tokens['app']!, lines(app, 'app')), 204);
  if (heroku) assert.equal(await postLogs(n.url, tokens['heroku']!, lines(heroku, 'router')), 204);
  if (other) assert.equal(await postLogs(n.url, tokens['deploy']!, lines(other, 'deploy')), 204);
}

for (const backend of redisBackends) describe(`console stats of the whole cluster${backend.suffix}`, () => {
  let redis: { url: string; close(): Promise<void> };
  let a: Node;
  let b: Node;
  let r: Redis;

  before(async () => {
    redis = await backend.start();
    [a, b] = await Promise.all([startNode(redis.url, OPTS), startNode(redis.url, OPTS)]);
    r = client(redis.url);
    await until('both nodes see each other', () => a.server.cluster!.nodes.live.length === 2 && b.server.cluster!.nodes.live.length === 2);
  });
  after(async () => {
    r?.disconnect();
    await Promise.all([a, b].map((n) => n?.close()));
    await redis.close();
  });

  test('lines sent to node B only are in node A\'s stats within a couple of seconds, by source class; neither node counts them twice', async () => {
    const tokens = await createApp(a, b, 'st1');
    const sent: Totals = [40, 7, 3];
    const t0 = Date.now();
    await send(b, tokens, sent);
    await until("node A's stats show B's lines", async () => totals(await stats(a, 'st1')).join() === sent.join(), 10_000);
    const waited = Date.now() - t0;
    assert.ok(waited < 5000, `A showed B's lines after ${waited} ms`);
    const sa = await stats(a, 'st1');
    assert.equal(sa.nodes, 2);
    assert.equal(sa.partial, false);
    assert.deepEqual(totals(await stats(b, 'st1')), sent);

    // lines on both nodes: each node shows the sum, once
    await send(a, tokens, [5, 0, 1]);
    const both: Totals = [45, 7, 4];
    await until('both nodes show the sum', async () => totals(await stats(a, 'st1')).join() === both.join() && totals(await stats(b, 'st1')).join() === both.join(), 10_000);
    // and it stays the sum (no count added twice by later writes)
    await new Promise((res) => setTimeout(res, 4 * OPTS.statsPeriodMs));
    assert.deepEqual(totals(await stats(a, 'st1')), both);
    assert.deepEqual(totals(await stats(b, 'st1')), both);
    // the node's hash holds counts and app ids only, and has a TTL
    const fields = await r.hgetall(nodeRates(b.server.cluster!.nodeId));
    assert.deepEqual(Object.keys(fields).map((f) => f.split(':')[0]), ['st1']);
    for (const v of Object.values(fields)) assert.match(v, /^\d+(,\d+)*$/);
    const ttl = await r.pttl(nodeRates(b.server.cluster!.nodeId));
    assert.ok(ttl > 0 && ttl <= OPTS.statsTtlMs, `ttl ${ttl}`);
  });

  test("GET /v3/channels on either node: lines_in and bytes_in count both nodes' lines of the app, once", async () => {
    const tokens = await createApp(a, b, 'st6');
    await send(b, tokens, [40, 7, 3]);
    await send(a, tokens, [5, 0, 1]);
    const [la, ba] = local(a, 'st6');
    const [lb, bb] = local(b, 'st6');
    assert.equal(la + lb, 56);
    for (const n of [a, b]) await until("both nodes' lines listed", async () => (await listed(n, 'st6')).stats.lines_in === 56, 10_000);
    // and it stays the sum (no batch added twice by later writes)
    await new Promise((res) => setTimeout(res, 4 * OPTS.statsPeriodMs));
    for (const n of [a, b]) {
      const e = await listed(n, 'st6');
      assert.equal(e.partial, false);
      assert.equal(e.stats.lines_in, 56);
      assert.equal(e.stats.bytes_in, ba + bb);
      assert.equal(e.stats.rate_limited, 0);
    }
    // numbers only in the app's field of its shard
    assert.match((await r.hget(appCounts(countShard('st6')), 'st6'))!, /^56,\d+,0$/);
  });

  test('a batch of counts sent again (its reply lost) is added once; the next batch is added', async () => {
    defineScripts(r);
    const s = r as unknown as Scripts;
    const shard = countShard('st-once');
    const [key, applied] = [appCounts(shard), nodeCountsSeq(shard, 'test-node')];
    assert.equal(await s.lpAddCounts(key, applied, 1, 60_000, 'st-once', '3', '300', '1'), 1);
    assert.equal(await s.lpAddCounts(key, applied, 1, 60_000, 'st-once', '3', '300', '1'), 0);
    assert.equal(await r.hget(key, 'st-once'), '3,300,1');
    assert.equal(await s.lpAddCounts(key, applied, 2, 60_000, 'st-once', '2', '20', '0'), 1);
    assert.equal(await r.hget(key, 'st-once'), '5,320,1');
    await r.hdel(key, 'st-once');
  });

  test("a node that dies or stops: the app's lines_in in GET /v3/channels does not go back", async () => {
    const [c, d] = await Promise.all([startNode(redis.url, OPTS), startNode(redis.url, OPTS)]);
    const cid = c.server.cluster!.nodeId;
    const did = d.server.cluster!.nodeId;
    await until('a sees c and d', () => a.server.cluster!.nodes.live.includes(cid) && a.server.cluster!.nodes.live.includes(did));
    const tokens = await createApp(a, c, 'st7');
    await until('d knows st7', () => d.server.ctx.registry.get('st7'));
    await send(a, tokens, [1, 0, 0]);
    await send(c, tokens, [10, 0, 0]);
    await until("a lists c's lines", async () => (await listed(a, 'st7')).stats.lines_in === 11, 10_000);

    c.server.cluster!.kill(); // a crash: no last write, no deregistration
    await until('a no longer lists c as live', () => !a.server.cluster!.nodes.live.includes(cid), 10_000);
    assert.equal((await listed(a, 'st7')).stats.lines_in, 11);
    assert.equal((await listed(b, 'st7')).stats.lines_in, 11);

    // d's writer held: its lines reach Redis with the last write of its graceful stop only
    d.server.cluster!.stats!.kill();
    await send(d, tokens, [4, 0, 0]);
    await new Promise((res) => setTimeout(res, 3 * OPTS.statsPeriodMs));
    assert.equal((await listed(a, 'st7')).stats.lines_in, 11);
    await d.close();
    await until("a lists d's last lines", async () => (await listed(a, 'st7')).stats.lines_in === 15, 10_000);
    await until('a no longer lists d as live', () => !a.server.cluster!.nodes.live.includes(did), 10_000);
    assert.equal((await listed(a, 'st7')).stats.lines_in, 15);
    assert.equal((await listed(b, 'st7')).stats.lines_in, 15);
    await c.close();
  });

  /** A third node c, seen by a, that took `counts` lines (app, heroku, other) of a new app, shown in a's stats. */
  async function thirdNodeWithLines(app: string, counts: [number, number, number]): Promise<Node> {
    const c = await startNode(redis.url, OPTS);
    await until('a sees c', () => a.server.cluster!.nodes.live.includes(c.server.cluster!.nodeId));
    const tokens = await createApp(a, c, app);
    await send(c, tokens, counts);
    await until("a shows c's lines", async () => totals(await stats(a, app)).join() === counts.join(), 10_000);
    return c;
  }

  test("a node that dies takes its counts with it: gone from the others' stats and from Redis after the TTL", async () => {
    const c = await thirdNodeWithLines('st2', [9, 2, 0]);
    const key = nodeRates(c.server.cluster!.nodeId);
    assert.equal(await r.exists(key), 1);

    const killedAt = Date.now();
    c.server.cluster!.kill(); // a crash: no deregistration, no cleanup
    await until("c's lines leave a's stats", async () => totals(await stats(a, 'st2')).join() === '0,0,0', 10_000);
    await until("c's hash expires", async () => (await r.exists(key)) === 0, 10_000);
    const gone = Date.now() - killedAt;
    assert.ok(gone < OPTS.statsTtlMs + 3000, `gone after ${gone} ms`);
    // once c's registration expired too, a sums the two live nodes
    const cid = c.server.cluster!.nodeId;
    await until('a no longer lists c', () => !a.server.cluster!.nodes.live.includes(cid), 10_000);
    const s = await stats(a, 'st2');
    assert.equal(s.nodes, 2);
    assert.equal(s.partial, false);
    await c.close();
  });

  test("a deleted app's counts leave every node's hash with its next write, and its line counts leave Redis: made again, it starts from 0", async () => {
    const tokens = await createApp(a, b, 'st5');
    await send(b, tokens, [2, 0, 0]);
    const key = nodeRates(b.server.cluster!.nodeId);
    const st5 = async () => Object.keys(await r.hgetall(key)).filter((f) => f.startsWith('st5:'));
    await until("st5 in b's hash", async () => (await st5()).length > 0, 10_000);
    await until('st5 counted', async () => (await listed(a, 'st5')).stats.lines_in === 2, 10_000);
    assert.equal((await api(a.url, 'DELETE', '/v3/channels/st5')).status, 204);
    await until("st5 gone from b's hash", async () => (await st5()).length === 0, 10_000);
    await until('st5 gone from its shard', async () => (await r.hexists(appCounts(countShard('st5')), 'st5')) === 0, 10_000);
    const again = await createApp(a, b, 'st5');
    await send(a, again, [1, 0, 0]);
    await until('st5 made again counts its own line', async () => (await listed(b, 'st5')).stats.lines_in === 1, 10_000);
  });

  test("a live node whose counts stopped being written (a stuck writer) leaves the others' stats once its hash's TTL ran out", async () => {
    const c = await thirdNodeWithLines('st4', [0, 0, 6]);
    c.server.cluster!.stats!.kill();
    await until("c's lines leave a's stats", async () => totals(await stats(a, 'st4')).join() === '0,0,0', 10_000);
    // c is still registered: the TTL, not the registry, took its counts away
    assert.ok(a.server.cluster!.nodes.live.includes(c.server.cluster!.nodeId));
    assert.equal(await r.exists(nodeRates(c.server.cluster!.nodeId)), 0);
    await c.close();
  });
});

describe('console stats with Redis away', () => {
  let redis: TestRedis;
  let a: Node;
  let b: Node;

  before(async () => {
    redis = await startRedis({ persist: true });
    [a, b] = await Promise.all([startNode(redis.url, OPTS), startNode(redis.url, OPTS)]);
    await until('both nodes see each other', () => a.server.cluster!.nodes.live.length === 2 && b.server.cluster!.nodes.live.length === 2);
  });
  after(async () => {
    await Promise.all([a, b].map((n) => n?.close()));
    await redis.close();
  });

  test("a node answers with its own counts, marked partial, while Redis is away, and with every node's again once it is back", async () => {
    const tokens = await createApp(a, b, 'st3');
    await send(a, tokens, [3, 0, 0]);
    await send(b, tokens, [0, 4, 0]);
    await until('a shows both', async () => totals(await stats(a, 'st3')).join() === '3,4,0', 10_000);
    const failedBefore = await metric(a, 'logplane_cluster_rate_writes_failed_total');

    await until('a lists both', async () => (await listed(a, 'st3')).stats.lines_in === 7, 10_000);

    await redis.stop();
    const s = await stats(a, 'st3');
    assert.equal(s.partial, true);
    assert.deepEqual(totals(s), [3, 0, 0]);
    // the channel list: this node's own counts, marked partial
    const l = await listed(a, 'st3');
    assert.equal(l.partial, true);
    assert.deepEqual([l.stats.lines_in, l.stats.bytes_in], local(a, 'st3'));
    await until('a write failure counted', async () => (await metric(a, 'logplane_cluster_rate_writes_failed_total')) > failedBefore, 10_000);
    assert.ok((await metric(a, 'logplane_cluster_rate_reads_partial_total')) >= 1);

    await redis.restart(); // the nodes whose writes failed write their whole window again
    await until('a shows both again', async () => {
      const x = await stats(a, 'st3');
      return x.partial === false && totals(x).join() === '3,4,0';
    }, 15_000);
    const l2 = await listed(a, 'st3');
    assert.equal(l2.partial, false);
    assert.equal(l2.stats.lines_in, 7);
  });
});

async function metric(n: Node, name: string): Promise<number> {
  const text = await (await fetch(`${n.url}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} (\\d+)`, 'm'));
  return m ? Number(m[1]) : NaN;
}
