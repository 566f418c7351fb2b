// Redis loses its last writes and counts on from an older total (SPEC 9, 15):
// a Redis Cluster master fails over to a replica that lagged, or one Redis
// restarts from a snapshot older than its last writes. The app's next lines
// get ordinals the followers and the drain's cursor already passed; they
// must still reach the drain and every tail (they used to be skipped as
// re-sends: redis/scripts.ts, EPOCH_LUA, and cluster/follow.ts), and the
// lines the history lost are counted (logplane_redis_lines_dropped_total
// {reason="rewound"}). Here every follower had every lost line before the
// failover, so no drain or tail is told of a loss (its own L10 or gap would
// be false); the loss a follower that missed some gets is in
// test/unit/cluster_follow.test.ts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { appChunks, appMeta } from '../../src/redis/keys.js';
import { slotOf } from '../../src/redis/slots.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { api, fastCluster, historyOn, metricMatch, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { HttpReceiver, l10Count, msgText } from '../support/drain-receivers.js';
import { WsClient } from '../support/tail.js';
import { until } from '../support/wait.js';

const ENV = { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_BACKOFF_BASE_MS: '5', LOGPLANE_DRAIN_BACKOFF_MAX_MS: '100' };
const range = (p: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${p}-${i}`);

/** Two nodes, an app with an HTTP drain and a live tail on b: lines posted to a. */
class Scene {
  readonly a: Node;
  readonly b: Node;
  readonly rec: HttpReceiver;
  readonly app: string;
  token = '';
  tail: WsClient | null = null;

  constructor(a: Node, b: Node, rec: HttpReceiver, app: string) {
    this.a = a;
    this.b = b;
    this.rec = rec;
    this.app = app;
  }

  async setUp(): Promise<void> {
    const put = await api(this.a.url, 'PUT', `/v3/channels/${this.app}`, { tokens: ['app'] });
    assert.equal(put.status, 201);
    this.token = put.json.tokens.app as string;
    await until('the app on both nodes', () => this.a.server.ctx.registry.get(this.app) && this.b.server.ctx.registry.get(this.app));
    const d = await api(this.a.url, 'POST', `/v3/channels/${this.app}/drains`, { url: this.rec.url() });
    assert.equal(d.status, 201);
    await until('the drain delivered by a node', () => [this.a, this.b].some((n) => n.server.cluster!.feed(d.json.id as string)?.live), 20_000);
    const s = await api(this.b.url, 'POST', '/v3/sessions', { channel_id: this.app, tail: true, num: 0 });
    this.tail = new WsClient(`${this.b.url}/sessions/${(s.json.url as string).split('/sessions/')[1]}`);
    await this.tail.opened;
    await until('hello', () => this.tail!.frames.length > 0);
  }

  async send(msgs: readonly string[]): Promise<void> {
    for (let i = 0; i < msgs.length; i += 25) assert.equal(await postLogs(this.a.url, this.token, msgs.slice(i, i + 25).map((m) => syslog(m))), 204);
  }

  drained(): string[] {
    return this.rec.messages().map((f) => msgText('http', f));
  }

  tailed(): string[] {
    return this.tail!.lines().map((x: any) => x.msg as string);
  }

  async delivered(what: string, msgs: readonly string[]): Promise<void> {
    const n = msgs.length;
    await until(`${what}: the drain and the tail on b have ${n} lines`, () => this.drained().length >= n && this.tailed().length >= n, 30_000).catch((e: Error) => {
      throw new Error(`${e.message}: drain ${this.drained().length}, tail ${this.tailed().length}`);
    });
  }

  /** After the rewind: every line once, in order, at the drain and the tail; no loss told; the lost lines counted. */
  async check(pre: string[], lag: string[], post: string[]): Promise<void> {
    const all = [...pre, ...lag, ...post];
    await this.delivered('after the rewind', all);
    const drained = this.drained();
    assert.deepEqual(drained.filter((m) => l10Count(m) !== null), [], 'no L10: the drain had every line the history lost');
    assert.deepEqual(drained, all, 'the drain: every line once, in order, the new ones too');
    assert.deepEqual(this.tailed(), all, 'the tail on b: every line once, in order, the new ones too');
    assert.deepEqual(this.tail!.json().filter((m) => m.type === 'gap'), [], 'no gap');
    assert.deepEqual(await historyOn(this.b, this.app, 1000), [...pre, ...post], 'the history: what Redis kept, then the new lines');
    assert.equal(await metricMatch(this.a.url, /^logplane_redis_lines_dropped_total\{reason="rewound"\} (\d+)$/m), lag.length, 'the lines the history lost are counted');
  }
}

describe('a Redis Cluster master fails over to a replica that lagged', () => {
  let rc: TestRedisCluster;
  const nodes: Node[] = [];
  let rec: HttpReceiver;
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await rec?.close();
    await rc?.close();
  });

  test("the app's next lines reach the drain and the tails though their ordinals were passed; the lost ones are counted", async () => {
    rc = await startRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
    rec = await HttpReceiver.start(false);
    nodes.push(await startNode(rc.url, fastCluster, ENV), await startNode(rc.url, fastCluster, ENV));
    const s = new Scene(nodes[0]!, nodes[1]!, rec, 'lagged');
    await s.setUp();
    const pre = range('pre', 50);
    const lag = range('lag', 100);
    const post = range('post', 150);
    await s.send(pre);
    await s.delivered('before', pre);

    // the master of the app's slot and its replica; the replica frozen, so it misses what comes next
    const master = await rc.ownerOf(slotOf(appChunks(s.app)));
    const masterId = ((await rc.client(master).cluster('MYID')) as string).trim();
    const nodesText = (await rc.client(master).cluster('NODES')) as string;
    const replicaLine = nodesText.split('\n').find((l) => l.includes(`slave ${masterId}`));
    assert.ok(replicaLine, 'the master has a replica');
    const replica = rc.nodes.find((x) => replicaLine.includes(`:${x.port}@`))!;
    await until('the replica has the first lines', async () => (await rc.client(replica.port).hget(appMeta(s.app), 'total').catch(() => null)) === '50', 10_000).catch(async () => {
      // (a read on a replica answers MOVED without READONLY: ask the master to wait for it instead)
      assert.equal(Number(await rc.client(master).call('WAIT', '1', '5000')), 1);
    });
    replica.pause();
    await rc.client(master).call('CLIENT', 'KILL', 'TYPE', 'replica');
    await s.send(lag);
    await s.delivered('the lines the replica missed', [...pre, ...lag]);
    assert.equal(await rc.client(master).hget(appMeta(s.app), 'total'), '150');

    // the master dies; the replica, 100 lines behind, takes over
    const m = rc.nodes.find((x) => x.port === master)!;
    await m.kill(true);
    replica.resume();
    await until('the replica takes over', async () => {
      await rc.client(replica.port).cluster('FAILOVER', 'TAKEOVER').catch(() => {});
      return (await rc.client(replica.port).info('replication')).includes('role:master');
    }, 30_000, 250);
    assert.equal(await rc.client(replica.port).hget(appMeta(s.app), 'total'), '50', "the app's total went back");

    await s.send(post);
    await s.check(pre, lag, post);
    assert.equal(Number(await rc.client(replica.port).hget(appMeta(s.app), 'total')), 200);
    s.tail!.ws.close();
  });
});

describe('one Redis restarts from a snapshot older than its last writes', () => {
  let redis: TestRedis;
  const nodes: Node[] = [];
  let rec: HttpReceiver;
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await rec?.close();
    await redis?.close();
  });

  test("the app's next lines reach the drain and the tails though their ordinals were passed; the lost ones are counted", async () => {
    redis = await startRedis(); // no AOF: a restart loads the last snapshot (SAVE below)
    rec = await HttpReceiver.start(false);
    nodes.push(await startNode(redis.url, fastCluster, ENV), await startNode(redis.url, fastCluster, ENV));
    const s = new Scene(nodes[0]!, nodes[1]!, rec, 'snapshot');
    await s.setUp();
    const pre = range('pre', 50);
    const lag = range('lag', 100);
    const post = range('post', 150);
    await s.send(pre);
    await s.delivered('before', pre);
    await until('written to Redis', () => nodes.every((n) => n.server.cluster!.history.pendingLines === 0));
    const admin = new Redis(redis.url);
    admin.on('error', () => {});
    await admin.save();
    await s.send(lag);
    await s.delivered('the lines after the snapshot', [...pre, ...lag]);
    await until('written to Redis', () => nodes.every((n) => n.server.cluster!.history.pendingLines === 0));

    // a crash: Redis comes back with the snapshot, 100 lines behind
    await redis.stop({ hard: true });
    await redis.restart();
    await until('the nodes write again', async () => nodes.every((n) => n.server.cluster!.history.up) && (await admin.hget(appMeta(s.app), 'total').catch(() => null)) === '50', 20_000);

    await s.send(post);
    await s.check(pre, lag, post);
    s.tail!.ws.close();
    admin.disconnect();
  });
});
