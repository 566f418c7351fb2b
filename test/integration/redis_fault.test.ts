// Redis down for 10 s under load (SPEC 9): ingest keeps answering, local
// tails keep flowing, /readyz says not ready, what could not be written is
// queued (bounded: the oldest beyond the bound are dropped and counted
// exactly), and every node recovers by itself: the queued lines reach the
// shared history, and the lines of other nodes that a tail could not get in
// order are reported to it as a gap (nothing lost silently).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../support/redis.js';
import { api, fastCluster, frameMessages, postLogs, startNode, syslog, metricMatch, type Node } from '../support/cluster.js';
import { WsClient } from '../support/tail.js';
import { HttpReceiver, l10Count, msgText } from '../support/drain-receivers.js';
import { originOf } from '../../src/basics/seq.js';
import { settled, until } from '../support/wait.js';

const OUTAGE_MS = 10_000;
const HISTORY = '20000';

describe('Redis stopped for 10 s under load, then started again', () => {
  let redis: TestRedis;
  let a: Node;
  let b: Node;
  let c: Node;
  let receiver: HttpReceiver;

  before(async () => {
    redis = await startRedis({ persist: true });
    const env = { LOGPLANE_HISTORY_LINES: HISTORY, LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' };
    [a, b] = await Promise.all([startNode(redis.url, fastCluster, env), startNode(redis.url, fastCluster, env)]);
    // c queues at most 500 lines while Redis is away
    c = await startNode(redis.url, { ...fastCluster, maxPendingLines: 500 }, env);
  });
  after(async () => {
    await Promise.all([a, b, c].map((n) => n?.close()));
    await receiver?.close();
    await redis.close();
  });

  test('ingest answers, local tails flow, readiness and metrics report it, everything recovers', async () => {
    const token = (await api(a.url, 'PUT', '/v3/channels/load', { tokens: ['app'] })).json.tokens.app as string;
    const ctoken = (await api(a.url, 'PUT', '/v3/channels/overflow', { tokens: ['app'] })).json.tokens.app as string;
    await until('apps everywhere', () => [a, b, c].every((n) => n.server.ctx.registry.get('load') && n.server.ctx.registry.get('overflow')));
    // a drain of the app only c writes to, wherever its lease lands
    receiver = await HttpReceiver.start(false);
    const drainId = (await api(b.url, 'POST', '/v3/channels/overflow/drains', { url: receiver.url() })).json.id as string;
    await until('drain live', () => [a, b, c].some((n) => n.server.cluster!.feed(drainId)?.live), 20_000);
    const firstOwner = [a, b, c].findIndex((n) => n.server.cluster!.feed(drainId));
    const s = await api(a.url, 'POST', '/v3/sessions', { channel_id: 'load', tail: true, num: 0 });
    const id = (s.json.url as string).split('/sessions/')[1]!;
    const tailA = new WsClient(`${a.url}/sessions/${id}`);
    const tailB = new WsClient(`${b.url}/sessions/${id}`);
    // a tail on a of the app only c writes to
    const so = await api(a.url, 'POST', '/v3/sessions', { channel_id: 'overflow', tail: true, num: 0 });
    const tailO = new WsClient(`${a.url}/sessions/${(so.json.url as string).split('/sessions/')[1]}`);
    await Promise.all([tailA.opened, tailB.opened, tailO.opened]);
    // the node indexes a and b stamp their seqs with: an outage longer than an index claim lives may
    // make a node claim a new one (SPEC 9), so each may have two
    const indexes = { a: new Set([a.server.cluster!.nodes.index]), b: new Set([b.server.cluster!.nodes.index]) };
    a.server.cluster!.nodes.on('index', (i: number) => indexes.a.add(i));
    b.server.cluster!.nodes.on('index', (i: number) => indexes.b.add(i));
    await until('hellos', () => tailA.frames.length > 0 && tailB.frames.length > 0 && tailO.frames.length > 0);

    // load: 10 lines every 20 ms on each of a and b (~1,000 lines/s in all)
    const sent = { a: [] as string[], b: [] as string[] };
    const statuses: number[] = [];
    let running = true;
    const loop = async (n: Node, name: 'a' | 'b') => {
      let k = 0;
      while (running) {
        const msgs = Array.from({ length: 10 }, () => `${name}-${k++}`);
        sent[name].push(...msgs);
        statuses.push(await postLogs(n.url, token, msgs.map((m) => syslog(m))));
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const loops = Promise.all([loop(a, 'a'), loop(b, 'b')]);
    const fromA = (t: WsClient) => t.lines().filter((l: any) => l.msg.startsWith('a-')).length;

    await until('load running', () => statuses.length >= 50);
    const writeFailures0 = await metricMatch(a.url, /^logplane_redis_write_failures_total (\d+)$/m);
    await redis.stop();
    const downAt = Date.now();
    await until('a not ready', async () => (await fetch(`${a.url}/readyz`)).status === 503, 20_000);
    const ready = await (await fetch(`${a.url}/readyz`)).json();
    assert.match(ready.problems.join(' '), /redis/);

    // local tail keeps flowing while Redis is away
    const early = fromA(tailA);
    await until('lines ingested on a reach the tail on a while Redis is down', () => fromA(tailA) > early + 100);
    assert.equal(await metricMatch(a.url, /^logplane_redis_up (\d+)$/m), 0);
    assert.ok((await metricMatch(a.url, /^logplane_redis_pending_lines (\d+)$/m)) > 0);

    // c: 2,000 lines in 20 requests while down; only the newest 500 can wait
    const cmsgs: string[] = [];
    for (let r = 0; r < 20; r++) {
      const msgs = Array.from({ length: 100 }, (_, i) => `c-${r * 100 + i}`);
      cmsgs.push(...msgs);
      assert.equal(await postLogs(c.url, ctoken, msgs.map((m) => syslog(m))), 204);
    }
    await until('c dropped 1500', async () => (await metricMatch(c.url, /^logplane_redis_lines_dropped_total\{reason="overflow"\} (\d+)$/m)) === 1500, 20_000);

    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
    await redis.restart();
    await until('ready again', async () => (await Promise.all([a, b, c].map((n) => fetch(`${n.url}/readyz`)))).every((r) => r.status === 200), 30_000);
    await until('queues written', () => [a, b, c].every((n) => n.server.cluster!.history.pendingLines === 0), 30_000);
    // a little more load after recovery, then stop
    const atRecovery = statuses.length;
    await until('load after recovery', () => statuses.length >= atRecovery + 50 && statuses.length > 500);
    running = false;
    await loops;
    assert.ok(statuses.length > 500);
    assert.ok(statuses.every((st) => st === 204), 'ingest answered 204 throughout');

    // the shared history holds every line of a and b (none were dropped: their queues never filled)
    const total = sent.a.length + sent.b.length;
    let got: string[] = [];
    await until('history complete', async () => {
      const h = await fetch(`${b.url}/v3/channels/load/logs?num=${HISTORY}`, { headers: { authorization: `Bearer ${b.server.apiKey}` } });
      got = frameMessages(Buffer.from(await h.arrayBuffer()));
      return new Set(got).size === total;
    }, 30_000);
    assert.deepEqual(new Set(got), new Set([...sent.a, ...sent.b]));
    assert.ok(got.length - total <= 20, `at most a pipeline's worth written twice (${got.length - total})`);
    assert.equal(await metricMatch(a.url, /^logplane_redis_lines_dropped_total\{reason="overflow"\} (\d+)$/m), 0);
    assert.ok((await metricMatch(a.url, /^logplane_redis_write_failures_total (\d+)$/m)) > writeFailures0, 'the outage counted write failures');

    // c: exactly its newest 500 lines are in the history
    const hc = await fetch(`${a.url}/v3/channels/overflow/logs?num=${HISTORY}`, { headers: { authorization: `Bearer ${a.server.apiKey}` } });
    assert.deepEqual(frameMessages(Buffer.from(await hc.arrayBuffer())), cmsgs.slice(-500));

    // the tail on a got c's 500 surviving lines, and a gap for exactly the 1,500 c could not write
    await until('overflow tail', () => tailO.lines().length >= 500 && tailO.json().some((m) => m.type === 'gap'), 20_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${tailO.lines().length} lines, gaps ${JSON.stringify(tailO.json().filter((m) => m.type === 'gap'))}`);
    });
    assert.deepEqual(tailO.lines().map((l: any) => l.msg), cmsgs.slice(-500));
    assert.equal(tailO.json().filter((m) => m.type === 'gap').reduce((n, g) => n + g.dropped, 0), 1500);
    tailO.ws.close();

    // the drain: every one of c's 2,000 lines delivered or counted in an L10, exactly (its owner got c's lines
    // directly if it is c, else the 500 written plus one L10 for the 1,500 c could not write)
    const account = () => {
      const msgs = receiver.messages().map((f) => msgText('http', f));
      const l10s = msgs.map(l10Count).filter((n): n is number => n !== null);
      const lines = msgs.filter((m) => l10Count(m) === null);
      return { lines: lines.length, unique: new Set(lines).size, l10s, owner: [a, b, c].findIndex((n) => n.server.cluster!.feed(drainId)) };
    };
    await until('drain accounted', () => {
      const x = account();
      return x.lines + x.l10s.reduce((n, k) => n + k, 0) === 2000;
    }, 20_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(account())}, first owner ${firstOwner}`);
    });

    // every tail: its own node's lines all arrived; the other node's lines arrived or were reported in gaps
    // (wait until that holds and the tails are quiet, then check exactly)
    const accounted = (t: WsClient, other: 'a' | 'b') =>
      new Set(t.lines().filter((l: any) => l.msg.startsWith(`${other}-`)).map((l: any) => l.msg)).size + t.json().filter((m) => m.type === 'gap').reduce((n, g) => n + g.dropped, 0) >= sent[other].length;
    const missing = (t: WsClient, other: 'a' | 'b') => {
      const got = new Set(t.lines().filter((l: any) => l.msg.startsWith(`${other}-`)).map((l: any) => l.msg));
      const lost = sent[other].filter((m) => !got.has(m));
      const gaps = t.json().filter((m) => m.type === 'gap');
      return `${other} on a tail: ${got.size} of ${sent[other].length} delivered, gaps ${JSON.stringify(gaps)}, not delivered ${lost.length} (${lost.slice(0, 3)}..${lost.slice(-3)})`;
    };
    await until('tails accounted', () => accounted(tailA, 'b') && accounted(tailB, 'a')).catch((e: Error) => {
      throw new Error(`${e.message}: ${missing(tailA, 'b')}; ${missing(tailB, 'a')}; indexes a ${[...indexes.a]} b ${[...indexes.b]}`);
    });
    await settled('the tails', () => [tailA.frames.length, tailB.frames.length], 1000);
    for (const [t, own, other] of [[tailA, 'a', 'b'], [tailB, 'b', 'a']] as const) {
      const lines = t.lines();
      const seqs = lines.map((l: any) => l.seq);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], 'in seq order');
      const mine = new Set(lines.filter((l: any) => l.msg.startsWith(`${own}-`)).map((l: any) => l.msg));
      assert.equal(mine.size, sent[own].length, `all of ${own}'s lines on its own tail`);
      const theirs = new Set(lines.filter((l: any) => l.msg.startsWith(`${other}-`)).map((l: any) => l.msg)).size;
      const gaps = t.json().filter((m) => m.type === 'gap');
      const reported = gaps.reduce((n, g) => n + g.dropped, 0);
      assert.equal(theirs + reported, sent[other].length, `${other}'s lines on ${own}'s tail: delivered ${theirs} + reported ${reported}`);
      // a gap spans only the other node's lines (from and to: seqs of its, under any index it held)
      for (const g of gaps) {
        assert.ok(g.from <= g.to, `gap from ${g.from} to ${g.to}`);
        for (const end of [g.from, g.to]) assert.ok(indexes[other].has(originOf(end)), `a gap on ${own}'s tail names index ${originOf(end)}, not one of ${other}'s (${[...indexes[other]]}): ${JSON.stringify(g)}`);
      }
    }
    tailA.ws.close();
    tailB.ws.close();
  });

  test('a node stops promptly while Redis is away, and a node cannot start without it', async () => {
    const d = await startNode(redis.url);
    await redis.stop();
    const t0 = Date.now();
    await d.close();
    // a close that waited on the absent Redis would never end (its client retries forever); the
    // bound is generous for a loaded machine
    assert.ok(Date.now() - t0 < 20_000, `closed in ${Date.now() - t0} ms`);
    await assert.rejects(startNode(redis.url, { ...fastCluster, connectTimeoutMs: 500 }), /cannot reach Redis/);
    await redis.restart();
  });
});
