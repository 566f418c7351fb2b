// A loss notice inside the history a session asks for (SPEC 5.3 "Loss is
// explicit", SPEC 9). Node a cannot write 5 of its lines to Redis (Redis
// refuses the append: over maxmemory); its next append carries a loss notice
// for them in front of its next lines. A session whose `num` history holds the
// place of the notice gets a gap there (WebSocket), the L11 line (text, SSE),
// with the notice's count, on either node. Regression: the history replay
// dropped the notices, so the lines were lost silently.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rfc3339 } from '../../src/line.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { api, historyOn as historyOnNode, postRange, refusedRange, sessionOn, startNode, type Node } from '../support/cluster.js';
import { HttpStream, WsClient, seen } from '../support/tail.js';
import { settled, until } from '../support/wait.js';

const APP = 'noticed';
/** Every line the app keeps, in seq order: h0..h14 from a (x0..x4 between h9 and h10 were lost), then b0, b1 from b. */
const KEPT = [...Array.from({ length: 15 }, (_, i) => `h${i}`), 'b0', 'b1'];

let redis: TestRedis;
let a: Node;
let b: Node;
/** When a received its first and last refused line (the notice's since lies between). */
let lostAt: { from: number; to: number };
/** The app's token. */
let token: string;

const post = postRange;
const historyOn = (x: Node): Promise<string[]> => historyOnNode(x, APP, 100);
const session = (x: Node, body: Record<string, unknown>): Promise<string> => sessionOn(x, APP, body);

/** Node x's non-tail session of the newest num lines over WebSocket, read to its end. */
async function wsHistory(x: Node, num: number): Promise<ReturnType<typeof seen>> {
  const url = await session(x, { num });
  const ws = new WsClient(url);
  const closed = await ws.closed;
  assert.equal(closed.code, 1000);
  assert.equal(ws.json().at(-1).type, 'end');
  return seen(ws);
}

/** Node x's non-tail session of the newest 100 lines read over WebSocket resuming after seq `from` (`?after=`), to its end. */
async function wsResume(x: Node, from: number): Promise<ReturnType<typeof seen>> {
  const ws = new WsClient(`${await session(x, { num: 100 })}?after=${from}`);
  const closed = await ws.closed;
  assert.equal(closed.code, 1000);
  assert.equal(ws.json().at(-1).type, 'end');
  return seen(ws);
}

/** Every line's seq, by message (from a session's full history). */
async function seqs(): Promise<Map<string, number>> {
  return (await wsHistory(b, 100)).seqOf;
}

/** The gap frame a notice of 5 lines between h9 and h10 gives: from = to = the seq after h9's. */
function assertNoticeGap(gap: any, h9: number): void {
  assert.deepEqual(Object.keys(gap), ['type', 'dropped', 'since', 'from', 'to'], 'the gap frame of SPEC 5.3, nothing more');
  assert.equal(gap.dropped, 5, "the notice's count");
  assert.equal(gap.from, h9 + 1);
  assert.equal(gap.to, h9 + 1);
  const since = Date.parse(gap.since);
  assert.ok(since >= lostAt.from && since <= lostAt.to, `since ${gap.since}: when the first lost line was received`);
}

describe('a loss notice in the history a session replays', () => {
  before(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([startNode(redis.url), startNode(redis.url)]);
    token = (await api(a.url, 'PUT', `/v3/channels/${APP}`, { tokens: ['app'] })).json.tokens.app as string;
    await until('the app on b', () => b.server.ctx.registry.get(APP), 10_000);
    await post(a, token, 'h', 0, 10);
    await until('h0..h9 written', async () => (await historyOn(b)).length === 10, 10_000);
    // Redis over its memory limit refuses a's next append: x0..x4 never reach it
    lostAt = await refusedRange(redis.url, a, token, 'x', 0, 5);
    // a's next append: the loss notice (5 lines), then h10..h14; then two lines of b
    await post(a, token, 'h', 10, 15);
    await until('h10..h14 written', async () => (await historyOn(b)).length === 15, 10_000);
    await post(b, token, 'b', 0, 2);
    await until('b0, b1 written', async () => (await historyOn(a)).length === 17, 10_000);
    assert.deepEqual(await historyOn(b), KEPT, 'the shared history: the lines, not the lost ones');
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.close();
  });

  test('WebSocket, on the other node and on the node that lost the lines: a gap where they were lost, with their count', async () => {
    for (const x of [b, a]) {
      const { items, gaps, seqOf } = await wsHistory(x, 100);
      assert.deepEqual(items, [...KEPT.slice(0, 10), 'gap', ...KEPT.slice(10)]);
      assertNoticeGap(gaps[0], seqOf.get('h9')!);
    }
  });

  test('num counts lines: the gap is reported when the window holds lines after it, not when it starts at the line after it', async () => {
    const eight = await wsHistory(b, 8);
    assert.deepEqual(eight.items, ['h9', 'gap', ...KEPT.slice(10)], '8 lines, the gap among them');
    assertNoticeGap(eight.gaps[0], eight.seqOf.get('h9')!);
    // the 7 newest lines all came after the lost ones: none of those was asked for
    assert.deepEqual((await wsHistory(b, 7)).items, KEPT.slice(10));
  });

  test('text and SSE: the L11 line where the lines were lost', async () => {
    const h9 = (await wsHistory(b, 8)).seqOf.get('h9')!;
    for (const x of [b, a]) {
      const text = new HttpStream(await session(x, { num: 100 }));
      await text.done;
      const lines = text.text.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 18);
      assert.deepEqual(lines.filter((l) => !l.includes('heroku[logplex]')).map((l) => l.split(': ')[1]), KEPT);
      const l11 = lines[10]!;
      const m = /^(\S+) heroku\[logplex\]: Error L11 \(Tail buffer overflow\) -> This tail session dropped 5 messages since (\S+)\.$/.exec(l11);
      assert.ok(m, `the L11 line after h9: ${l11}`);
      const since = Date.parse(m[2]!);
      assert.ok(since >= lostAt.from && since <= lostAt.to, `since ${m[2]}`);
      assert.ok(lines[9]!.endsWith(': h9') && lines[11]!.endsWith(': h10'));

      const sse = new HttpStream(await session(x, { num: 100 }), { Accept: 'text/event-stream' });
      await sse.done;
      const events = sse.text.split('\n\n').filter((e) => e !== '');
      assert.equal(events.length, 18);
      assert.equal(events[10], `id: ${h9 + 1}\ndata: ${events[10]!.slice(events[10]!.indexOf('data: ') + 6)}`);
      assert.match(events[10]!, new RegExp(`heroku\\[logplex\\]: Error L11 \\(Tail buffer overflow\\) -> This tail session dropped 5 messages since ${rfc3339(since).replace(/[.+]/g, '\\$&')}\\.$`));
    }
  });

  test('a resume from before the notice (WebSocket ?after=, on either node): the gap at its place among the lines replayed', async () => {
    const seq = await seqs();
    for (const x of [b, a]) {
      const h7 = await wsResume(x, seq.get('h7')!);
      assert.deepEqual(h7.items, ['h8', 'h9', 'gap', ...KEPT.slice(10)]);
      assertNoticeGap(h7.gaps[0], seq.get('h9')!);
      // resumed right at the line before it: the gap first, after the resume point
      const h9 = await wsResume(x, seq.get('h9')!);
      assert.deepEqual(h9.items, ['gap', ...KEPT.slice(10)]);
      assertNoticeGap(h9.gaps[0], seq.get('h9')!);
    }
  });

  test('a resume past the notice: not reported again', async () => {
    const seq = await seqs();
    for (const x of [b, a]) {
      assert.deepEqual((await wsResume(x, seq.get('h10')!)).items, KEPT.slice(11));
      assert.deepEqual((await wsResume(x, seq.get('b0')!)).items, ['b1']);
    }
  });

  test('SSE Last-Event-ID and text ?after=: the L11 line at its place', async () => {
    const seq = await seqs();
    const h9 = seq.get('h9')!;
    const l11 = /^\S+ heroku\[logplex\]: Error L11 \(Tail buffer overflow\) -> This tail session dropped 5 messages since (\S+)\.$/;
    for (const x of [b, a]) {
      const sse = new HttpStream(await session(x, { num: 100 }), { Accept: 'text/event-stream', 'Last-Event-ID': String(seq.get('h8')) });
      await sse.done;
      const events = sse.text.split('\n\n').filter((e) => e !== '');
      assert.equal(events.length, 9, 'h9, the L11 line, h10..h14, b0, b1');
      assert.ok(events[0]!.startsWith(`id: ${h9}\n`) && events[0]!.endsWith(': h9'));
      assert.ok(events[1]!.startsWith(`id: ${h9 + 1}\ndata: `), 'the L11 event carries the seq after h9');
      const m = l11.exec(events[1]!.slice(events[1]!.indexOf('data: ') + 6));
      assert.ok(m, `the L11 line: ${events[1]}`);
      const since = Date.parse(m[1]!);
      assert.ok(since >= lostAt.from && since <= lostAt.to, `since ${m[1]}`);
      assert.ok(events[2]!.endsWith(': h10'));

      const text = new HttpStream(`${await session(x, { num: 100 })}?after=${seq.get('h8')}`);
      await text.done;
      const lines = text.text.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 9);
      assert.ok(lines[0]!.endsWith(': h9') && l11.test(lines[1]!) && lines[2]!.endsWith(': h10'), text.text);

      // resumed past it: no L11 line
      const past = new HttpStream(await session(x, { num: 100 }), { Accept: 'text/event-stream', 'Last-Event-ID': String(seq.get('h10')) });
      await past.done;
      assert.ok(!past.text.includes('L11'), past.text);
    }
  });

  test('GET /v3/channels/:app/logs: the frames as they are, the notice\'s count in Logplane-Dropped when the lines returned hold its place', async () => {
    for (const x of [b, a]) {
      const dropped = async (num: number): Promise<string | null> => {
        const r = await api(x.url, 'GET', `/v3/channels/${APP}/logs?num=${num}`);
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('logplex-msg-count'), String(Math.min(num, KEPT.length)));
        assert.equal(r.headers.get('logplane-history'), null, 'every node read: not partial');
        return r.headers.get('logplane-dropped');
      };
      assert.equal(await dropped(100), '5');
      assert.equal(await dropped(8), '5', 'h9..b1: the notice between h9 and h10');
      assert.equal(await dropped(7), null, 'h10..b1: every line returned is newer than the lost ones');
      assert.equal(await dropped(0), null, 'no line asked for');
    }
  });

  test('a tail: the gap in its history, then live lines and nothing more', async () => {
    const url = await session(b, { num: 8, tail: true });
    const ws = new WsClient(url);
    await until('the history', () => seen(ws).items.includes('b1'), 10_000);
    await post(a, token, 'live', 0, 1);
    await until('the live line', () => seen(ws).items.includes('live0'), 10_000);
    const { items, gaps, seqOf } = await settled('the tail', () => seen(ws));
    assert.deepEqual(items, ['h9', 'gap', ...KEPT.slice(10), 'live0']);
    assertNoticeGap(gaps[0], seqOf.get('h9')!);
    ws.ws.close();
  });

  test('a resuming tail: the gap in what it replays, then live lines and nothing more', async () => {
    const seq = await seqs();
    const ws = new WsClient(`${await session(b, { num: 0, tail: true })}?after=${seq.get('h9')}`);
    await until('the history', () => seen(ws).items.includes('b1'), 10_000);
    await post(a, token, 'live', 1, 2);
    await until('the live line', () => seen(ws).items.includes('live1'), 10_000);
    const { items, gaps } = await settled('the tail', () => seen(ws));
    assert.deepEqual(items, ['gap', ...KEPT.slice(10), 'live0', 'live1'], 'live0: the previous test\'s');
    assertNoticeGap(gaps[0], seq.get('h9')!);
    ws.ws.close();
  });
});
