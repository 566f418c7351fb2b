// logplane on a real Redis Cluster (SPEC 15): 3 masters with a replica each.
// Apps spread over every master; a slot moved to another master while lines
// flow loses nothing and repeats nothing; a master killed under load fails
// over to its replica and the nodes carry on by themselves.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appChunks } from '../../src/redis/keys.js';
import { slotOf } from '../../src/redis/slots.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';
import { api, fastCluster, frameMessages, postLogs, startNode, syslog, metricMatch, type Node } from '../support/cluster.js';
import { WsClient } from '../support/tail.js';
import { until } from '../support/wait.js';

/** History long enough that no line is trimmed before a follower reads it (the loss counted here is the failover's only). */
const ENV = { LOGPLANE_HISTORY_LINES: '20000' };

async function historyOf(n: Node, app: string): Promise<string[]> {
  const h = await fetch(`${n.url}/v3/channels/${app}/logs?num=20000`, { headers: { authorization: `Bearer ${n.server.apiKey}` } });
  assert.equal(h.status, 200);
  return frameMessages(Buffer.from(await h.arrayBuffer()));
}

describe('logplane on a Redis Cluster (3 masters, 1 replica each)', () => {
  let rc: TestRedisCluster;
  let a: Node;
  let b: Node;

  before(async () => {
    rc = await startRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
    // tails hold other nodes' lines for a generous reorder window (a loaded test machine), see redis_cluster.test.ts
    const opts = { ...fastCluster, reorderMs: 2000 };
    [a, b] = await Promise.all([startNode(rc.url, opts, ENV), startNode(rc.url, opts, ENV)]);
  });
  after(async () => {
    await Promise.all([a, b].map((n) => n?.close()));
    await rc?.close();
  });

  /** An app id whose keys live on the given master. */
  async function appOn(master: number, prefix: string): Promise<string> {
    for (let i = 0; i < 10_000; i++) {
      const id = `${prefix}-${i}`;
      if ((await rc.ownerOf(slotOf(appChunks(id)))) === master) return id;
    }
    throw new Error(`no app id on ${master}`);
  }

  async function createApp(id: string): Promise<string> {
    const r = await api(a.url, 'PUT', `/v3/channels/${id}`, { tokens: ['app'] });
    assert.equal(r.status, 201);
    await until(`${id} on both nodes`, () => a.server.ctx.registry.get(id) && b.server.ctx.registry.get(id));
    return r.json.tokens.app as string;
  }

  /** A live tail of the app on node n. */
  async function tail(n: Node, app: string): Promise<WsClient> {
    const s = await api(n.url, 'POST', '/v3/sessions', { channel_id: app, tail: true, num: 0 });
    const t = new WsClient(`${n.url}/sessions/${(s.json.url as string).split('/sessions/')[1]}`);
    await t.opened;
    await until('hello', () => t.frames.length > 0);
    return t;
  }

  /** Loads still running (stopped when a test ends, failed or not). */
  const loads = new Set<{ stop(): Promise<void> }>();
  afterEach(async () => {
    await Promise.all([...loads].map((l) => l.stop()));
  });

  /** Post 10 lines every 20 ms to node n until stopped; returns what was sent (a refused or failed post fails stop()). */
  function load(n: Node, token: string, name: string): { sent: string[]; stop(): Promise<void> } {
    const sent: string[] = [];
    let running = true;
    const loop = (async () => {
      let k = 0;
      while (running) {
        const msgs = Array.from({ length: 10 }, () => `${name}-${k++}`);
        sent.push(...msgs);
        const st = await postLogs(n.url, token, msgs.map((m) => syslog(m)));
        if (st !== 204) throw new Error(`POST /logs answered ${st}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const l = {
      sent,
      async stop() {
        running = false;
        loads.delete(l);
        await loop;
      },
    };
    loads.add(l);
    return l;
  }

  test('apps spread over every master: each app is written on the master of its slot, read from every node', async () => {
    const masters = await rc.masters();
    assert.equal(masters.length, 3);
    const apps: Array<{ id: string; master: number; token: string }> = [];
    for (const m of masters) for (const k of [0, 1]) {
      const id = await appOn(m, `spread${k}`);
      apps.push({ id, master: m, token: await createApp(id) });
    }
    for (const x of apps) assert.equal(await postLogs(b.url, x.token, [syslog(`${x.id} one`), syslog(`${x.id} two`)]), 204);
    for (const x of apps) {
      await until(`${x.id} in the history on a`, async () => (await historyOf(a, x.id)).length === 2, 10_000);
      assert.deepEqual(await historyOf(a, x.id), [`${x.id} one`, `${x.id} two`]);
      assert.equal(await rc.client(x.master).exists(appChunks(x.id)), 1, `${x.id}'s history is on its master`);
    }
    // every master executed appends
    for (const m of masters) {
      const stats = await rc.client(m).info('commandstats');
      assert.match(stats, /^cmdstat_evalsha:calls=[1-9]/m, `master ${m} ran appends`);
    }
  });

  test('a slot moved to another master while lines flow (MOVED/ASK): nothing lost, nothing twice, tails complete', async () => {
    const [m0, m1] = await rc.masters();
    const app = await appOn(m0!, 'mover');
    const token = await createApp(app);
    const tb = await tail(b, app);
    const l = load(a, token, 'mv');
    await until('lines flowing', () => l.sent.length >= 200, 20_000);
    await rc.moveSlot(slotOf(appChunks(app)), m1!);
    assert.equal(await rc.ownerOf(slotOf(appChunks(app))), m1);
    const movedAt = l.sent.length;
    await until('lines after the move', () => l.sent.length >= movedAt + 200, 20_000);
    await l.stop();
    await until('a wrote everything', () => a.server.cluster!.history.pendingLines === 0, 20_000);
    await until('the tail on b has every line', () => tb.lines().length >= l.sent.length, 20_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${tb.lines().length} of ${l.sent.length}`);
    });
    assert.deepEqual(tb.lines().map((x: any) => x.msg), l.sent, 'the tail on b: every line once, in order');
    assert.deepEqual(tb.json().filter((m) => m.type === 'gap'), [], 'no gap');
    assert.deepEqual(await historyOf(b, app), l.sent, 'the history: every line once, in order');
    assert.equal(await rc.client(m1!).exists(appChunks(app)), 1, 'the history moved with its slot');
    assert.equal(await metricMatch(a.url, /^logplane_redis_lines_dropped_total\{reason="overflow"\} (\d+)$/m), 0);
    tb.ws.close();
  });

  test('a master killed under load: its replica takes over, what could not be written is counted and announced, the rest arrives, the nodes recover by themselves', async () => {
    const masters = await rc.masters();
    const victim = masters[2]!;
    const app = await appOn(victim, 'failover');
    const token = await createApp(app);
    // c queues at most 30 lines while it cannot write (three of its 10-line posts: it overflows even when a loaded machine slows its posts during a short failover)
    const c = await startNode(rc.url, { ...fastCluster, reorderMs: 2000, maxPendingLines: 30 }, ENV);
    try {
      await until(`${app} on c`, () => c.server.ctx.registry.get(app));
      const tb = await tail(b, app);
      const la = load(a, token, 'fa');
      const lc = load(c, token, 'fc');
      await until('lines flowing', () => la.sent.length >= 200 && lc.sent.length >= 200, 20_000);
      // Redis Cluster replicates asynchronously: a master killed right after it acknowledged a write
      // takes that write with it (Redis's limit, docs/operations.md). Killed here with every write of
      // the nodes acknowledged and replicated, lines queue on a and c until the replica took over.
      const pause = [la.stop(), lc.stop()];
      await Promise.all(pause);
      await until('nothing in flight', () => a.server.cluster!.history.pendingLines === 0 && c.server.cluster!.history.pendingLines === 0, 20_000);
      // (WAIT answers how many replicas acknowledged every write so far: the one replica, or 0 on a timeout)
      let acked = 0;
      await until('the replica acknowledged every write', async () => (acked = Number(await rc.client(victim).call('WAIT', '1', '1000'))) === 1, 30_000);
      const before = { a: la.sent.length, c: lc.sent.length };
      const histBefore = (await historyOf(b, app)).length;
      await rc.nodes.find((x) => x.port === victim)!.kill(true);
      const la2 = load(a, token, 'fa2');
      const lc2 = load(c, token, 'fc2');
      // (the cluster client holds commands for a master that is gone while it retries: a node's writes wait, queued, rather than fail)
      await until('a replica took over', async () => (await rc.masters()).length === 3 && !(await rc.masters()).includes(victim), 30_000);
      await until('a writes again', () => a.server.cluster!.history.up, 30_000);
      const upAt = la2.sent.length;
      await until('lines after the failover', () => la2.sent.length >= upAt + 200, 20_000);
      await Promise.all([la2.stop(), lc2.stop()]);
      await until('a and c wrote their queues', () => [a, c].every((n) => n.server.cluster!.history.up && n.server.cluster!.history.pendingLines === 0), 30_000);
      assert.equal((await fetch(`${a.url}/readyz`)).status, 200, 'a is ready again');
      // a lost nothing: every line of a is in the shared history, once, in order
      const fromA = [...la.sent, ...la2.sent];
      const ofA = (msgs: string[]) => msgs.filter((m) => m.startsWith('fa'));
      await until('every line of a in the history', async () => ofA(await historyOf(b, app)).length >= fromA.length, 30_000).catch(async (e: Error) => {
        const got = ofA(await historyOf(b, app));
        const have = new Set(got);
        const missing = fromA.filter((m) => !have.has(m));
        const dropped = await metricMatch(a.url, /^logplane_redis_lines_dropped_total\{reason="overflow"\} (\d+)$/m);
        const all = await historyOf(b, app);
        throw new Error(`${e.message}: ${got.length} of ${fromA.length} (${before.a} sent before the kill, WAIT said ${String(acked)}, history held ${histBefore} then, ${all.length} now, first ${JSON.stringify(all.slice(0, 2))}); missing ${missing.length}: ${JSON.stringify(missing.slice(0, 3))}..${JSON.stringify(missing.slice(-3))}; a dropped ${dropped}; a pending ${a.server.cluster!.history.pendingLines}`);
      });
      assert.deepEqual(ofA(await historyOf(b, app)), fromA, 'the history: every line of a, once, in order');
      assert.equal(await metricMatch(a.url, /^logplane_redis_lines_dropped_total\{reason="overflow"\} (\d+)$/m), 0);
      // c could keep only 30 lines: the rest were counted
      const dropped = await metricMatch(c.url, /^logplane_redis_lines_dropped_total\{reason="overflow"\} (\d+)$/m);
      assert.ok(dropped > 0, 'c dropped lines from its queue during the failover');
      // b's tail: every line of a and c delivered once in order, or reported in a gap: what c dropped, and
      // lines that came later than the tail's reorder window (the nodes' queues flushed at different times)
      const sentAll = fromA.length + lc.sent.length + lc2.sent.length;
      const gaps = () => tb.json().filter((m) => m.type === 'gap').reduce((n, g) => n + (g.dropped as number), 0);
      await until('every line delivered or reported on the tail on b', () => tb.lines().length + gaps() >= sentAll, 30_000).catch((e: Error) => {
        throw new Error(`${e.message}: delivered ${tb.lines().length} + reported ${gaps()} of ${sentAll}`);
      });
      const seqs = tb.lines().map((x: any) => x.seq as number);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, 'the tail on b: in order, once');
      assert.equal(tb.lines().length + gaps(), sentAll, 'delivered + reported = sent');
      assert.ok(gaps() >= dropped, `the gaps (${gaps()}) cover what c dropped (${dropped})`);
      assert.ok(before.a > 0 && before.c > 0);
      tb.ws.close();
    } finally {
      await Promise.all([...loads].map((l) => l.stop().catch(() => {})));
      await c.close();
    }
  });
});
