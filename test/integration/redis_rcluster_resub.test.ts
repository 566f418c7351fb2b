// A master failover on a Redis Cluster moves a node's sharded subscriber
// (SSUBSCRIBE: ioredis keeps one connection per master) to the replica that
// took over. ioredis does that inside its Cluster client, without a 'ready'
// on the client: lines another node appended on the new master before the
// subscriber got there were published to nobody on this node. SPEC 9: a
// line reaches every live tail of its app on any node, and each drain
// exactly once; SPEC 15: a master failover is handled. So lines sent right
// around a failover must reach a tail and a drain on another node within a
// bounded time even when the app then goes quiet (no next line shows the
// followers a gap).
//
// b is a process of its own, so that a test can stall it (SIGSTOP, as a
// long GC pause or a starved host) across a failover: then its subscriber
// is moved only after the other node wrote the lines, every time, and only
// a catch-up on the move brings them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appChunks } from '../../src/redis/keys.js';
import { slotOf } from '../../src/redis/slots.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';
import { API_KEY, api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { killAll, spawnServer, type ServerProcess } from '../support/spawn.js';
import { HttpReceiver, msgText } from '../support/drain-receivers.js';
import { WsClient } from '../support/tail.js';
import { until } from '../support/wait.js';

const ENV = {
  LOGPLANE_HISTORY_LINES: '20000',
  LOGPLANE_DRAIN_ALLOW_PRIVATE: '1',
  LOGPLANE_DRAIN_BACKOFF_BASE_MS: '5',
  LOGPLANE_DRAIN_BACKOFF_MAX_MS: '40',
};

/** How long the lines may take to reach the tail and the drain once written (generous: a loaded machine; the product's bound is about a second). */
const DELIVERED_WITHIN_MS = 10_000;

interface Quiet {
  app: string;
  master: number;
  token: string;
  drainId: string;
  rec: HttpReceiver;
}

describe('sharded subscribers moved by a master failover (Redis Cluster)', () => {
  let rc: TestRedisCluster;
  let a: Node;
  let b: ServerProcess;
  let bDir: string;
  /** One app per failover, each on its own master, with a drain b delivers. */
  const apps: Quiet[] = [];

  /** An app id whose keys (and channel) live on the given master. */
  async function appOn(master: number, prefix: string): Promise<string> {
    for (let i = 0; i < 10_000; i++) {
      const id = `${prefix}-${i}`;
      if ((await rc.ownerOf(slotOf(appChunks(id)))) === master) return id;
    }
    throw new Error(`no app id on ${master}`);
  }

  before(async () => {
    rc = await startRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
    // b alone first: it takes the drains' leases (held leases are not moved to a newcomer)
    bDir = mkdtempSync(join(tmpdir(), 'logplane-resub-'));
    b = await spawnServer({ dataDir: bDir, env: { ...ENV, REDIS_URL: rc.url, LOGPLANE_API_KEY: API_KEY, LOGPLANE_TAIL_REORDER_MS: '2000' } });
    const masters = await rc.masters();
    for (const [i, master] of masters.entries()) {
      const app = await appOn(master, `quiet${i}`);
      const put = await api(b.url, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] });
      assert.equal(put.status, 201);
      const rec = await HttpReceiver.start(false);
      const d = await api(b.url, 'POST', `/v3/channels/${app}/drains`, { url: rec.url() });
      assert.equal(d.status, 201, d.text);
      apps.push({ app, master, token: put.json.tokens.app as string, drainId: d.json.id as string, rec });
    }
    // b delivers them: a first line reaches every drain
    for (const x of apps) assert.equal(await postLogs(b.url, x.token, [syslog('first')]), 204);
    await until('b delivers the drains', () => apps.every((x) => x.rec.messages().length === 1), 20_000);
    a = await startNode(rc.url, { ...fastCluster, reorderMs: 2000 }, ENV);
    await until('the apps on a', () => apps.every((x) => a.server.ctx.registry.get(x.app)));
  });
  after(async () => {
    b?.child.kill('SIGCONT');
    await a?.close();
    await killAll();
    if (bDir) rmSync(bDir, { recursive: true, force: true });
    for (const x of apps) await x.rec.close();
    await rc?.close();
  });

  /** The master serving a slot, as the node on `port` says. */
  async function ownerVia(port: number, slot: number): Promise<number> {
    const s = (await rc.client(port).cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
    return s.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2][1] ?? -1;
  }

  /** The replica of a master. */
  async function replicaOf(master: number): Promise<number> {
    const id = (await rc.client(master).cluster('MYID')) as string;
    const line = ((await rc.client(master).cluster('NODES')) as string).split('\n').find((l) => l.split(' ')[3] === id)!;
    return Number(/:(\d+)@/.exec(line)![1]);
  }

  /**
   * Lines sent to a while the master of x's app fails over (failover() does
   * it and resolves once the replica serves the slot), then nothing: every
   * one reaches b's tail and the drain b delivers within a bounded time.
   * stallB: b is stopped from before the failover until a wrote the lines.
   */
  async function quietAcrossFailover(x: Quiet, failover: (replica: number) => Promise<void>, stallB = false): Promise<void> {
    const s = await api(b.url, 'POST', '/v3/sessions', { channel_id: x.app, tail: true, num: 0 });
    const tb = new WsClient(`${b.url}/sessions/${(s.json.url as string).split('/sessions/')[1]}`);
    try {
      await tb.opened;
      await until('hello', () => tb.frames.length > 0);
      // (the drain had the setup's first line)
      const drained = () => x.rec.messages().map((f) => msgText('http', f)).slice(1);
      const tailed = () => tb.lines().map((l: any) => l.msg as string);
      // a line from a reaches both through b's subscription
      assert.equal(await postLogs(a.url, x.token, [syslog('warm')]), 204);
      await until('warm line on the tail and the drain', () => tailed().includes('warm') && drained().includes('warm'), 20_000);
      // every write so far is on the replica (a failover then loses nothing: Redis replicates asynchronously)
      await until('the replica has every write', async () => Number(await rc.client(x.master).call('WAIT', '1', '1000')) === 1, 30_000);
      const replica = await replicaOf(x.master);
      const sent = ['warm'];
      const send = async (msg: string): Promise<void> => {
        sent.push(msg);
        assert.equal(await postLogs(a.url, x.token, [syslog(msg)]), 204);
      };
      if (stallB) b.child.kill('SIGSTOP');
      const done = failover(replica);
      for (let i = 0; i < 3; i++) {
        await send(`around-${i}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await done;
      // and right after it (b's subscriber may not be on the new master yet)
      for (let i = 0; i < 3; i++) await send(`after-${i}`);
      await until('a wrote them', () => a.server.cluster!.history.up && a.server.cluster!.history.pendingLines === 0, 30_000);
      if (stallB) b.child.kill('SIGCONT');
      // ... and then nothing more: no next line shows b a gap
      await until('every line on the tail on b and on the drain b delivers', () => sent.every((m) => tailed().includes(m) && drained().includes(m)), DELIVERED_WITHIN_MS, 100).catch((e: Error) => {
        throw new Error(`${e.message}: the tail has ${JSON.stringify(tailed())}, the drain ${JSON.stringify(drained())} (sent ${JSON.stringify(sent)})`);
      });
      assert.deepEqual(tailed(), sent, 'the tail on b: every line once, in order');
      assert.deepEqual(drained(), sent, 'the drain: every line once, in order');
    } finally {
      b.child.kill('SIGCONT');
      tb.ws.close();
    }
  }

  test('a replica promoted by hand (CLUSTER FAILOVER): the lines around it reach the tail and the drain on the other node', async () => {
    const x = apps[0]!;
    const slot = slotOf(appChunks(x.app));
    await quietAcrossFailover(x, async (replica) => {
      assert.equal(await rc.client(replica).cluster('FAILOVER'), 'OK');
      await until('the replica serves the slot', async () => (await ownerVia(replica, slot)) === replica, 30_000, 50);
    });
  });

  test('a master killed (its replica takes over): the lines around it reach the tail and the drain on the other node', async () => {
    const x = apps[1]!;
    const slot = slotOf(appChunks(x.app));
    await quietAcrossFailover(x, async (replica) => {
      await rc.nodes.find((n) => n.port === x.master)!.kill(true);
      await until('the replica serves the slot', async () => (await ownerVia(replica, slot)) === replica, 30_000, 50);
    });
  });

  test('the other node stalled across a master failover (a long pause): the lines written meanwhile reach its tail and drain once it runs again', async () => {
    const x = apps[2]!;
    const slot = slotOf(appChunks(x.app));
    await quietAcrossFailover(x, async (replica) => {
      await rc.nodes.find((n) => n.port === x.master)!.kill(true);
      await until('the replica serves the slot', async () => (await ownerVia(replica, slot)) === replica, 30_000, 50);
    }, true);
  });
});
