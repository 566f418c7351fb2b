// Distributed mode (SPEC 9): three nodes in this process on one real
// redis-server. Lines ingested on any node are in the history read from any
// node, in seq order, with strictly increasing seqs; every live tail on any
// node gets them all, in order; config changes reach every node within a
// second; sessions made on one node are read on another. One node runs an
// ingest worker thread.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { seqOf } from '../../src/line.js';
import { originOf } from '../../src/basics/seq.js';
import { redisBackends, serverClients } from '../support/redis-backends.js';
import { api, fastCluster, frameMessages, postLogs, startNode, startNodes, syslog, type Node } from '../support/cluster.js';
import { WsClient, HttpStream } from '../support/tail.js';
import { until } from '../support/wait.js';

for (const backend of redisBackends) describe(backend.suffix ? `three nodes${backend.suffix}` : 'three nodes on one Redis', () => {
  let redis: { url: string; close(): Promise<void> };
  let nodes: Node[];

  before(async () => {
    redis = await backend.start();
    // A tail holds other nodes' lines for the reorder window and drops (with a
    // gap) what arrives later than that. These nodes share one loaded 2-core
    // machine, where a node's event loop can lag past the tests' usual 50 ms:
    // the window is made generous here, because what these tests check is that
    // every line reaches every tail in order when nothing is late, not the
    // window itself.
    const opts = { ...fastCluster, reorderMs: 2000 };
    // the third node parses ingest in a worker thread (lines are routed on its main thread all the same)
    nodes = [...(await startNodes(2, redis.url, opts)), await startNode(redis.url, opts, { LOGPLANE_INGEST_WORKERS: '1' })];
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  const tokenOf = (json: any, name = 'app'): string => json.tokens[name] as string;

  test('nodes register with distinct indexes and see each other', async () => {
    const idx = new Set(nodes.map((n) => n.server.cluster!.nodes.index));
    assert.equal(idx.size, 3);
    await until('every node sees three', () => nodes.every((n) => n.server.cluster!.nodes.live.length === 3));
  });

  test('an app created on one node is known to every node within a second; a token added elsewhere too', async () => {
    // config changes are pushed (pub/sub), not polled: they arrive within milliseconds. The
    // bounds below are generous for a loaded machine; a change that is never pushed still fails.
    const r = await api(nodes[0]!.url, 'PUT', '/v3/channels/cfg1', { tokens: ['app'] });
    assert.equal(r.status, 201);
    await until('cfg1 on every node', () => nodes.every((n) => n.server.ctx.registry.get('cfg1')), 10_000);
    const t = await api(nodes[1]!.url, 'POST', '/v3/channels/cfg1/tokens', { name: 'heroku' });
    assert.equal(t.status, 200);
    await until('new token on every node', () => nodes.every((n) => n.server.ctx.registry.tokens.get(t.json.token)), 10_000);
    // the same record everywhere
    const views = await Promise.all(nodes.map((n) => api(n.url, 'GET', '/v3/channels/cfg1')));
    for (const v of views) assert.deepEqual(v.json, views[0]!.json);
    // delete on node 3: gone on every node
    assert.equal((await api(nodes[2]!.url, 'DELETE', '/v3/channels/cfg1')).status, 204);
    await until('cfg1 gone everywhere', () => nodes.every((n) => !n.server.ctx.registry.get('cfg1')));
  });

  test('lines from every node: history on every node in seq order, every tail gets all in order', async () => {
    const r = await api(nodes[0]!.url, 'PUT', '/v3/channels/shared', { tokens: ['app'] });
    const token = tokenOf(r.json);
    await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get('shared')));

    // one session made on node 1, read over WebSocket on every node (and SSE on node 3)
    const s = await api(nodes[0]!.url, 'POST', '/v3/sessions', { channel_id: 'shared', tail: true, num: 0 });
    assert.equal(s.status, 201);
    const id = (s.json.url as string).split('/sessions/')[1]!;
    const tails = nodes.map((n) => new WsClient(`${n.url}/sessions/${id}`));
    await Promise.all(tails.map((t) => t.opened));
    const sse = new HttpStream(`${nodes[2]!.url}/sessions/${id}`, { accept: 'text/event-stream' });
    await until('hello on every tail', () => tails.every((t) => t.frames.length >= 1));
    await until('sse open', () => sse.status === 200);

    const perNode = 200;
    const sent: string[] = [];
    for (let round = 0; round < 4; round++) {
      await Promise.all(nodes.map((n, k) => {
        const msgs: string[] = [];
        for (let i = 0; i < perNode / 4; i++) msgs.push(`n${k} r${round} i${i}`);
        sent.push(...msgs);
        return postLogs(n.url, token, msgs.map((m) => syslog(m))).then((st) => assert.equal(st, 204));
      }));
    }
    const total = perNode * 3;
    for (const t of tails) await until('all lines on a tail', () => t.lines().length >= total);
    for (const t of tails) {
      const lines = t.lines();
      assert.equal(lines.length, total, 'no duplicates');
      for (let i = 1; i < lines.length; i++) assert.ok(lines[i].seq > lines[i - 1].seq, `seq strictly increasing on a tail at ${i}`);
      assert.deepEqual(new Set(lines.map((l: any) => l.msg)), new Set(sent));
      assert.equal(t.json().filter((m) => m.type === 'gap').length, 0, 'no gap');
    }
    // every tail saw the same order
    const order = tails[0]!.lines().map((l: any) => l.seq);
    for (const t of tails) assert.deepEqual(t.lines().map((l: any) => l.seq), order);
    // the SSE reader too (ids are seqs)
    await until('sse lines', () => (sse.text.match(/^id: /gm) ?? []).length >= total);
    const ids = [...sse.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(ids, order);
    sse.close();

    // seqs: per node distinct origin, all distinct
    assert.equal(new Set(order).size, total);
    const origins = new Set(order.map((q: number) => originOf(q)));
    assert.equal(origins.size, 3);

    // history from any node: all lines, in seq order, identical
    const bodies: string[][] = [];
    for (const n of nodes) {
      const h = await fetch(`${n.url}/v3/channels/shared/logs?num=1500`, { headers: { authorization: `Bearer ${n.server.apiKey}` } });
      assert.equal(h.status, 200);
      assert.equal(h.headers.get('logplex-msg-count'), String(total));
      bodies.push(frameMessages(Buffer.from(await h.arrayBuffer())));
    }
    for (const b of bodies) assert.deepEqual(b, bodies[0]);
    assert.deepEqual(new Set(bodies[0]), new Set(sent));
    const hist = await nodes[1]!.server.cluster!.getHistory(nodes[1]!.server.ctx.registry.get('shared')!);
    const seqs = hist.lines.map(seqOf);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!);
    assert.deepEqual(seqs, order);
    // num is exact
    const few = await fetch(`${nodes[2]!.url}/v3/channels/shared/logs?num=7`, { headers: { authorization: `Bearer ${nodes[2]!.server.apiKey}` } });
    assert.equal(few.headers.get('logplex-msg-count'), '7');
    assert.deepEqual(frameMessages(Buffer.from(await few.arrayBuffer())), bodies[0]!.slice(-7));

    for (const t of tails) t.ws.close();
  });

  test('a session made on one node serves history on another; resume with after', async () => {
    const r = await api(nodes[1]!.url, 'PUT', '/v3/channels/hist', { tokens: ['app'] });
    const token = tokenOf(r.json);
    await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get('hist')));
    for (let k = 0; k < 3; k++) assert.equal(await postLogs(nodes[k]!.url, token, [syslog(`h${k}a`), syslog(`h${k}b`)]), 204);
    await until('six lines in Redis', async () => (await nodes[0]!.server.cluster!.history.read('hist')).records.length === 6);
    const s = await api(nodes[0]!.url, 'POST', '/v3/sessions', { channel_id: 'hist', num: 4 });
    const url = (s.json.url as string).replace(nodes[0]!.url, nodes[2]!.url);
    const text = await (await fetch(url)).text();
    const got = text.trim().split('\n').map((l) => l.slice(l.indexOf(': ') + 2));
    assert.equal(got.length, 4);
    // the newest 4 by seq
    const hist = await nodes[2]!.server.cluster!.getHistory(nodes[2]!.server.ctx.registry.get('hist')!);
    const newest = hist.lines.slice(-4).map((b) => b.toString('utf8', b.length - 3));
    assert.deepEqual(got, newest);
    // resume after the 2nd line over WebSocket on node 2: the 4 after it, then end
    const afterSeq = seqOf(hist.lines[1]!);
    const ws = new WsClient(`${nodes[1]!.url}/sessions/${(s.json.url as string).split('/sessions/')[1]}?after=${afterSeq}`);
    await ws.closed;
    assert.deepEqual(ws.lines().map((l: any) => l.seq), hist.lines.slice(2).map(seqOf));
    assert.equal(ws.json().at(-1).type, 'end');
  });

  test('a session URL answered by one node is readable on another at once (the session is in Redis before the answer)', async () => {
    const r = await api(nodes[0]!.url, 'PUT', '/v3/channels/sessnow', { tokens: ['app'] });
    assert.equal(r.status, 201);
    await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get('sessnow')));
    // Redis holds writes (reads go on) for a moment: a node that answered before its
    // session was stored hands out a URL the other nodes do not know yet.
    const admins = serverClients(redis.url);
    try {
      await Promise.all(admins.map((c) => c.call('CLIENT', 'PAUSE', '400', 'WRITE')));
      const s = await api(nodes[0]!.url, 'POST', '/v3/sessions', { channel_id: 'sessnow', num: 1 });
      assert.equal(s.status, 201);
      const url = (s.json.url as string).replace(nodes[0]!.url, nodes[1]!.url);
      const res = await fetch(url);
      await res.text();
      assert.equal(res.status, 200);
    } finally {
      for (const c of admins) c.disconnect();
    }
  });

  test('/readyz is ready and /metrics shows Redis latency and failures', async () => {
    const ready = await fetch(`${nodes[0]!.url}/readyz`);
    assert.equal(ready.status, 200);
    const m = await (await fetch(`${nodes[0]!.url}/metrics`)).text();
    assert.match(m, /^logplane_redis_up 1$/m);
    assert.match(m, /^logplane_redis_pipeline_seconds\{stat="p99"\} /m);
    assert.match(m, /^logplane_redis_write_failures_total /m);
    assert.match(m, /^logplane_redis_lines_written_total [1-9]/m);
    assert.match(m, /^logplane_cluster_nodes 3$/m);
  });
});
