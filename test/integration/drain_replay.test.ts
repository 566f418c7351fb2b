// Drain replay (SPEC 16): POST .../drains/:id/replay {"after"} or {"num"}
// re-sends what the history still holds, in order, after an L10 line with
// the exact count of what it no longer holds; through the API and the CLI,
// refused for a failing drain, bad input a 400 naming the field; in
// distributed mode any node takes the request and the drain's owner replays.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { drainsReplay, type CliIO } from '../../src/cli/drains.js';
import { lineFrom, viewOf } from '../../src/line.js';
import { route } from '../../src/router.js';
import { api, fastCluster, postLogs, startNode, syslog } from '../support/cluster.js';
import { HttpReceiver, l10Count, msgText, startDrainServer, TS, type DrainTestServer } from '../support/drain-receivers.js';
import { startRedis } from '../support/redis.js';
import { settled, until } from '../support/wait.js';

type Json = Record<string, any>;

function send(t: DrainTestServer, app: string, n: number, from = 0, dyno = 'web.1'): void {
  const a = t.server.ctx.registry.require(app);
  for (let i = from; i < from + n; i++) route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno, msg: `line ${i}` }));
}

function received(r: HttpReceiver): string[] {
  return r.messages().map((f) => msgText('http', f));
}

const numbered = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `line ${from + i}`);

async function appWithDrain(t: DrainTestServer, app: string, r: HttpReceiver, filter?: unknown): Promise<string> {
  await t.server.ctx.registry.putApp(app, ['app']);
  const res = await t.api('POST', `/v3/channels/${app}/drains`, { url: r.url(), ...(filter ? { filter } : {}) });
  assert.equal(res.status, 201, res.text);
  return (res.json as Json).id as string;
}

describe('drain replay', () => {
  test('replay {num} re-sends the newest N lines, in order, after what the drain already has', async () => {
    const r = await HttpReceiver.start();
    const t = await startDrainServer();
    try {
      const id = await appWithDrain(t, 'rep', r);
      send(t, 'rep', 50);
      await until('50 lines', () => r.messages().length >= 50);
      const res = await t.api('POST', `/v3/channels/rep/drains/${id}/replay`, { num: 20 });
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(res.json, { replayed: 20, missing: 0 });
      await until('70 lines', () => r.messages().length >= 70);
      assert.deepEqual(received(r), [...numbered(0, 50), ...numbered(30, 50)]);
      // a string number is fine too, and lines sent after the replay follow it
      assert.equal((await t.api('POST', `/v3/channels/rep/drains/${id}/replay`, { num: '1' })).status, 202);
      send(t, 'rep', 1, 50);
      await until('72 lines', () => r.messages().length >= 72);
      assert.deepEqual(received(r).slice(70), ['line 49', 'line 50']);
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('replay announces exactly what the ring no longer holds with an L10 line before the lines it still has', async () => {
    const r = await HttpReceiver.start();
    const t = await startDrainServer({ LOGPLANE_HISTORY_LINES: '100' });
    try {
      const id = await appWithDrain(t, 'gone', r);
      send(t, 'gone', 300); // seqs 1..300; the ring keeps 201..300 (line 200..line 299)
      await until('300 lines', () => r.messages().length >= 300);
      const after = await t.api('POST', `/v3/channels/gone/drains/${id}/replay`, { after: 50 });
      assert.equal(after.status, 202, after.text);
      assert.deepEqual(after.json, { replayed: 100, missing: 150 }, 'seqs 51..200 are gone');
      await until('401 frames', () => r.messages().length >= 401);
      const got = received(r).slice(300);
      assert.equal(l10Count(got[0]!), 150);
      assert.deepEqual(got.slice(1), numbered(200, 300));
      // num beyond what the app ever had: only what it had counts as missing
      const num = await t.api('POST', `/v3/channels/gone/drains/${id}/replay`, { num: 1000 });
      assert.deepEqual(num.json, { replayed: 100, missing: 200 });
      await until('delivered (one replay at a time)', () => r.messages().length >= 401 + 101);
      // after the newest seq: nothing to send, nothing missing
      const none = await t.api('POST', `/v3/channels/gone/drains/${id}/replay`, { after: 300 });
      assert.deepEqual(none.json, { replayed: 0, missing: 0 });
      // the ring still holds seq 250: nothing missing
      const held = await t.api('POST', `/v3/channels/gone/drains/${id}/replay`, { after: 250 });
      assert.deepEqual(held.json, { replayed: 50, missing: 0 });
      await until('all of it', () => r.messages().length >= 401 + 101 + 50);
      const tail = received(r).slice(401);
      assert.equal(l10Count(tail[0]!), 200);
      assert.deepEqual(tail.slice(1), [...numbered(200, 300), ...numbered(250, 300)]);
    } finally {
      await t.close();
      await r.close();
    }
  });

  test("replay sends only the lines the drain's filter matches", async () => {
    const r = await HttpReceiver.start();
    const t = await startDrainServer();
    try {
      const id = await appWithDrain(t, 'frep', r, { dyno: 'web' });
      send(t, 'frep', 10, 0, 'web.1');
      send(t, 'frep', 10, 10, 'worker.1');
      await until('10 lines', () => r.messages().length >= 10);
      const res = await t.api('POST', `/v3/channels/frep/drains/${id}/replay`, { num: 20 });
      assert.deepEqual(res.json, { replayed: 10, missing: 0 });
      await until('20 lines', () => r.messages().length >= 20);
      assert.deepEqual(received(r), [...numbered(0, 10), ...numbered(0, 10)]);
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('bad replay requests are a 400 naming the field; unknown drains a 404', async () => {
    const r = await HttpReceiver.start();
    const t = await startDrainServer();
    try {
      const id = await appWithDrain(t, 'badrep', r);
      const cases: Array<[unknown, RegExp]> = [
        [{}, /^after or num: required/],
        [[], /^body must be a JSON object/],
        [{ after: -1 }, /^after: must be a seq/],
        [{ after: 1.5 }, /^after: must be a seq/],
        [{ after: 'ten' }, /^after: must be a seq/],
        [{ num: 0 }, /^num: must be an integer from 1/],
        [{ num: 'x' }, /^num: must be an integer from 1/],
        [{ num: 2_000_000 }, /^num: must be an integer from 1/],
        [{ num: [5] }, /^num: must be an integer from 1/],
        [{ after: 1, num: 1 }, /^after, num: give one of them/],
        [{ lines: 5 }, /^lines: unknown field/],
      ];
      for (const [body, why] of cases) {
        const res = await t.api('POST', `/v3/channels/badrep/drains/${id}/replay`, body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
        assert.match((res.json as Json).error, why);
      }
      assert.equal((await t.api('POST', '/v3/channels/badrep/drains/00000000-0000-4000-8000-000000000000/replay', { num: 1 })).status, 404);
      assert.equal((await t.api('POST', `/v3/channels/nosuchapp/drains/${id}/replay`, { num: 1 })).status, 404);
      assert.equal(r.messages().length, 0, 'nothing sent');
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('replay of a failing drain is refused with 409 and queues nothing', async () => {
    const r = await HttpReceiver.start();
    r.mode = 'fail';
    const t = await startDrainServer({ LOGPLANE_DRAIN_RETRIES: '1', LOGPLANE_DRAIN_BACKOFF_BASE_MS: '1000', LOGPLANE_DRAIN_BACKOFF_MAX_MS: '1000' });
    try {
      const id = await appWithDrain(t, 'failrep', r);
      send(t, 'failrep', 5);
      const d = t.server.drains.drain('failrep', id)!;
      await until('failing', () => d.state === 'failing');
      const depth = d.status().queueDepth;
      const res = await t.api('POST', `/v3/channels/failrep/drains/${id}/replay`, { num: 5 });
      assert.equal(res.status, 409, res.text);
      assert.equal((res.json as Json).id, 'drain_failing');
      assert.match((res.json as Json).error, /^drain is failing \(last error: HTTP 500\)/);
      assert.equal(d.status().queueDepth, depth, 'nothing queued');
      const out: string[] = [];
      const io: CliIO = { out: (x) => out.push(x), env: {}, conn: { url: t.url, key: t.server.apiKey } };
      await assert.rejects(drainsReplay([id, '-a', 'failrep', '--num', '5'], io), /drain is failing/);
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('one replay of a drain at a time (409 replay_in_progress) and LOGPLANE_DRAIN_REPLAYS_PER_MINUTE a minute (429 too_many_replays), with Retry-After; a URL change does not reset it', async () => {
    const r = await HttpReceiver.start();
    const t = await startDrainServer({ LOGPLANE_DRAIN_REPLAYS_PER_MINUTE: '2', LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '5000' });
    try {
      const id = await appWithDrain(t, 'limrep', r);
      const other = await t.api('POST', '/v3/channels/limrep/drains', { url: r.url('/other') });
      send(t, 'limrep', 5);
      await until('5 lines on each drain', () => r.messages().length >= 10);
      const replay = (drain = id) => t.api('POST', `/v3/channels/limrep/drains/${drain}/replay`, { num: 5 });
      r.answerDelayMs = 2000; // the replay's batch stays in flight
      assert.equal((await replay()).status, 202);
      const busy = await replay();
      assert.equal(busy.status, 409, busy.text);
      assert.equal((busy.json as Json).id, 'replay_in_progress');
      assert.equal(busy.headers.get('retry-after'), '1');
      // delivered: the receiver has it and the drain knows (its batch answered)
      const done = () => r.messages().length >= 15 && t.server.drains.drain('limrep', id)!.depth === 0;
      await until('the replay delivered', done);
      r.answerDelayMs = 0;
      const second = await replay();
      assert.equal(second.status, 202, `the second of the minute: ${second.text}`);
      await until('the second replay delivered', () => t.server.drains.drain('limrep', id)!.depth === 0);
      const over = await replay();
      assert.equal(over.status, 429, over.text);
      assert.equal((over.json as Json).id, 'too_many_replays');
      const wait = Number(over.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
      // a new URL is the same drain: still over
      assert.equal((await t.api('PUT', `/v3/channels/limrep/drains/${id}`, { url: r.url('/moved') })).status, 200);
      assert.equal((await replay()).status, 429);
      // another drain of the app has its own count
      assert.equal((await replay((other.json as Json).id as string)).status, 202);
    } finally {
      await t.close();
      await r.close();
    }
  });

  test('the CLI replays by id, token or URL', async () => {
    const r = await HttpReceiver.start();
    const t = await startDrainServer();
    try {
      const id = await appWithDrain(t, 'clirep', r);
      send(t, 'clirep', 5);
      await until('5 lines', () => r.messages().length >= 5);
      const out: string[] = [];
      const io: CliIO = { out: (x) => out.push(x), env: {}, conn: { url: t.url, key: t.server.apiKey } };
      await drainsReplay([id, '-a', 'clirep', '--num', '3'], io);
      assert.equal(out.join(''), `Replaying 3 lines to ${r.url()}\n`);
      await until('8 lines (one replay at a time)', () => r.messages().length >= 8);
      await drainsReplay([r.url(), '-a', 'clirep', '--after=3', '--json'], io);
      assert.deepEqual(JSON.parse(out[1]!), { replayed: 2, missing: 0 });
      await until('10 lines', () => r.messages().length >= 10);
      assert.deepEqual(received(r), [...numbered(0, 5), ...numbered(2, 5), ...numbered(3, 5)]);
      await assert.rejects(drainsReplay([id, '-a', 'clirep'], io), /give --num N .* or --after SEQ/);
      await assert.rejects(drainsReplay([id, '-a', 'clirep', '--num', '3', '--after', '1'], io), /give --num N/);
      await assert.rejects(drainsReplay([id, '-a', 'clirep', '--num', 'lots'], io), /--num must be a whole number/);
      await assert.rejects(drainsReplay(['nope', '-a', 'clirep', '--num', '1'], io), /no drain "nope" on clirep/);
    } finally {
      await t.close();
      await r.close();
    }
  });
});

test('distributed mode: a replay asked of any node is run by the owner, and the feed keeps its count', async () => {
  const redis = await startRedis();
  const env = { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_BACKOFF_BASE_MS: '5', LOGPLANE_DRAIN_BACKOFF_MAX_MS: '40' };
  const nodes = [await startNode(redis.url, fastCluster, env), await startNode(redis.url, fastCluster, env)];
  const r = await HttpReceiver.start(false);
  try {
    const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/drep', { tokens: ['app'] })).json.tokens.app as string;
    await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get('drep')));
    const res = await api(nodes[0]!.url, 'POST', '/v3/channels/drep/drains', { url: r.url() });
    const id = res.json.id as string;
    await until('owner live', () => nodes.some((n) => n.server.cluster?.feed(id)?.live));
    const owner = nodes.find((n) => n.server.cluster?.feed(id))!;
    const other = nodes.find((n) => n !== owner)!;
    const msgs = Array.from({ length: 30 }, (_, i) => `m ${i}`);
    assert.equal(await postLogs(other.url, token, msgs.map((m) => syslog(m))), 204);
    await until('30 lines', () => r.messages().length >= 30);
    // asked of the node that does not deliver the drain
    const rep = await api(other.url, 'POST', `/v3/channels/drep/drains/${id}/replay`, { num: 10 });
    assert.equal(rep.status, 202, rep.text);
    assert.deepEqual(rep.json, { replayed: 10, missing: 0 });
    await until('40 lines', () => r.messages().length >= 40);
    assert.deepEqual(received(r).slice(30), msgs.slice(20));
    // lines after the replay arrive exactly once, and the cursor reaches the end (replayed lines did not move it)
    assert.equal(await postLogs(owner.url, token, ['after 0', 'after 1'].map((m) => syslog(m))), 204);
    await until('42 lines', () => r.messages().length >= 42);
    const feed = owner.server.cluster!.feed(id)!;
    await until('cursor at the end', () => {
      feed.advance();
      return feed.cursor === feed.last;
    });
    await settled('the receiver', () => r.requests.length, 500);
    assert.deepEqual(received(r).slice(40), ['after 0', 'after 1']);
    // lines not delivered yet keep the cursor before them (the replayed lines did not count as stream lines)
    r.mode = 'hang';
    const before = feed.cursor;
    assert.equal(await postLogs(owner.url, token, ['held 0', 'held 1'].map((m) => syslog(m))), 204);
    await until('held lines in flight', () => r.hanging() > 0 && feed.last > before);
    feed.advance();
    assert.equal(feed.cursor, before, 'the cursor waits for the held lines');
    // bad input is refused on the asking node; unknown drains too
    assert.equal((await api(other.url, 'POST', `/v3/channels/drep/drains/${id}/replay`, { num: 0 })).status, 400);
    assert.equal((await api(other.url, 'POST', '/v3/channels/drep/drains/00000000-0000-4000-8000-000000000000/replay', { num: 1 })).status, 404);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    await r.close();
    await redis.close();
  }
});

test('distributed mode: the replay notice counts exactly what the shared history no longer holds, with lines from two nodes', async () => {
  const redis = await startRedis();
  // 16 replays of one drain, each delivered before the next: no limit per minute
  const env = { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_HISTORY_LINES: '10', LOGPLANE_DRAIN_REPLAYS_PER_MINUTE: '0' };
  const nodes = [await startNode(redis.url, fastCluster, env), await startNode(redis.url, fastCluster, env)];
  const r = await HttpReceiver.start(false);
  try {
    const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/xrep', { tokens: ['app'] })).json.tokens.app as string;
    await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get('xrep')));
    const id = (await api(nodes[0]!.url, 'POST', '/v3/channels/xrep/drains', { url: r.url() })).json.id as string;
    await until('owner live', () => nodes.some((n) => n.server.cluster?.feed(id)?.live));
    const owner = nodes.find((n) => n.server.cluster?.feed(id))!;
    const other = nodes.find((n) => n !== owner)!;
    // 25 lines, by turns on the two nodes, each in Redis before the next: the shared history keeps the newest 10
    const seqOfMsg = new Map<string, number>();
    for (let i = 0; i < 25; i++) {
      const n = nodes[i % 2]!;
      assert.equal(await postLogs(n.url, token, [syslog(`m ${i}`)]), 204);
      assert.equal(await n.server.cluster!.history.flush(5000), true);
      const rec = (await n.server.cluster!.history.read('xrep')).records.map(viewOf).find((v) => v.msg === `m ${i}`);
      assert.ok(rec, `m ${i} in Redis`);
      seqOfMsg.set(`m ${i}`, rec.seq);
    }
    await until('25 lines', () => r.messages().length >= 25);
    const all = [...seqOfMsg].sort((a, b) => a[1] - b[1]);
    const held = all.slice(-10);
    const view = await owner.server.cluster!.getHistory(owner.server.ctx.registry.require('xrep'));
    assert.deepEqual(view.lines.map((l) => viewOf(l).msg), held.map(([m]) => m), 'the history holds the newest 10 lines');
    const seq = (i: number): number => seqOfMsg.get(`m ${i}`)!;
    const cases: Array<[Json, number, string[]]> = [];
    for (const num of [1000, 26, 25, 12, 10, 3]) cases.push([{ num }, Math.min(num, 25) - Math.min(num, 10), held.slice(-Math.min(num, 10)).map(([m]) => m)]);
    for (const after of [0, seq(0), seq(3), seq(5) + 1, seq(13), seq(14), seq(14) + 1, seq(20), seq(24), seq(24) + 1_000_000]) {
      cases.push([{ after }, all.filter(([, s]) => s > after).length - held.filter(([, s]) => s > after).length, held.filter(([, s]) => s > after).map(([m]) => m)]);
    }
    assert.deepEqual(cases.map((c) => c[1]).slice(0, 7), [15, 15, 15, 2, 0, 0, 15], 'the counts the cases expect');
    assert.equal(cases.find(([b]) => b.after === seq(3))![1], 11);
    let seen = r.messages().length;
    for (const [i, [body, missing, lines]] of cases.entries()) {
      // asked of either node: the owner runs it
      const res = await api((i % 2 === 0 ? owner : other).url, 'POST', `/v3/channels/xrep/drains/${id}/replay`, body);
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(res.json, { replayed: lines.length, missing }, JSON.stringify(body));
      const frames = lines.length + (missing > 0 ? 1 : 0);
      await until(`replay of ${JSON.stringify(body)}`, () => r.messages().length >= seen + frames);
      const got = received(r).slice(seen, seen + frames);
      seen += frames;
      if (missing > 0) {
        assert.match(got[0]!, /^Error L10 \(output buffer overflow\): \d+ messages dropped since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\.$/);
        assert.equal(l10Count(got[0]!), missing, JSON.stringify(body));
      }
      assert.deepEqual(got.slice(missing > 0 ? 1 : 0), lines, JSON.stringify(body));
    }
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    await r.close();
    await redis.close();
  }
});

test("distributed mode: the replay limits are the owner's whichever node is asked (Retry-After carried back)", async () => {
  const redis = await startRedis();
  const env = { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_REPLAYS_PER_MINUTE: '2' };
  const nodes = [await startNode(redis.url, fastCluster, env), await startNode(redis.url, fastCluster, env)];
  const r = await HttpReceiver.start(false);
  try {
    const token = (await api(nodes[0]!.url, 'PUT', '/v3/channels/lrep', { tokens: ['app'] })).json.tokens.app as string;
    await until('app everywhere', () => nodes.every((n) => n.server.ctx.registry.get('lrep')));
    const id = (await api(nodes[0]!.url, 'POST', '/v3/channels/lrep/drains', { url: r.url() })).json.id as string;
    await until('owner live', () => nodes.some((n) => n.server.cluster?.feed(id)?.live));
    const owner = nodes.find((n) => n.server.cluster?.feed(id))!;
    const other = nodes.find((n) => n !== owner)!;
    assert.equal(await postLogs(other.url, token, ['a', 'b', 'c'].map((m) => syslog(m))), 204);
    await until('3 lines', () => r.messages().length >= 3);
    const replay = (n: typeof owner) => api(n.url, 'POST', `/v3/channels/lrep/drains/${id}/replay`, { num: 3 });
    r.answerDelayMs = 2000; // the replay's batch stays in flight
    assert.equal((await replay(owner)).status, 202);
    const busy = await replay(other);
    assert.equal(busy.status, 409, busy.text);
    assert.equal(busy.json.id, 'replay_in_progress');
    assert.equal(busy.headers.get('retry-after'), '1');
    await until('the replay delivered', () => r.messages().length >= 6 && owner.server.drains.drain('lrep', id)!.depth === 0);
    r.answerDelayMs = 0;
    assert.equal((await replay(other)).status, 202, 'the second of the minute');
    await until('the second replay delivered', () => owner.server.drains.drain('lrep', id)!.depth === 0);
    for (const n of [other, owner]) {
      const over = await replay(n);
      assert.equal(over.status, 429, over.text);
      assert.equal(over.json.id, 'too_many_replays');
      const wait = Number(over.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
    }
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    await r.close();
    await redis.close();
  }
});
