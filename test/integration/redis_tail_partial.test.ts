// Sessions opened while Redis is unreachable (SPEC 5.3 "Loss is explicit",
// SPEC 9). Their history can hold only the lines of the node that serves
// them (the shared history cannot be read): the client is told that other
// nodes' lines may be missing, with a gap whose count is a lower bound
// (`"lower_bound":true`; the L11 line says "an unknown number"). Once Redis is
// back, the lines other nodes wrote meanwhile reach the node but can no longer
// be sent in order: a gap with their exact count (the older lines of other
// nodes, which the session never asked for, are not counted); those trimmed
// from the shared history before the node could read them: a gap with a lower
// bound. Regressions: the client was told nothing at the start; once Redis
// was back every line of other nodes in the shared history counted as lost,
// those asked for or not, and the trimmed ones were lost silently;
// `logplane logs` printed no gap at the start (it ends at the last line sent).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { logs } from '../../src/cli/tail.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { API_KEY, api, fastCluster, cutPair, historyOn as historyOnNode, postRange, refusedRange, sessionOn, startNode, type CutPair, type Node } from '../support/cluster.js';
import { HttpStream, WsClient, seen } from '../support/tail.js';
import { settled, until } from '../support/wait.js';

const APP = 'partial';

const post = postRange;
const historyOn = (x: Node): Promise<string[]> => historyOnNode(x, APP, 1000);
const session = (x: Node, body: Record<string, unknown>): Promise<string> => sessionOn(x, APP, body);

const range = (prefix: string, from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

/** A text body's lines: messages, and `L11 <what was dropped>` for each L11 line. */
function textItems(body: string): string[] {
  return body.split('\n').flatMap((l) => {
    if (l === '') return [];
    const m = /heroku\[logplex\]: Error L11 \(Tail buffer overflow\) -> This tail session dropped (.+) messages since \S+\.$/.exec(l);
    if (m) return [`L11 ${m[1]}`];
    return [l.slice(l.indexOf(']: ') + 3)];
  });
}

/** `logplane logs -a <APP> ...args` against node x (in process, no colour): its output's lines. */
async function logsCli(x: Node, args: string[]): Promise<string[]> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const code = await logs(['-a', APP, ...args], { stdout: out, stderr: out, env: { LOGPLANE_URL: x.url, LOGPLANE_API_KEY: API_KEY, NO_COLOR: '1' } });
  assert.equal(code, 0, text);
  return text.trimEnd().split('\n');
}

/** The gap of a start without the other nodes' lines. */
function assertPartialGap(gap: any, from: number, atLeast: number): void {
  assert.deepEqual(Object.keys(gap), ['type', 'dropped', 'since', 'from', 'to', 'lower_bound'], 'the gap frame of SPEC 5.3, one field added');
  assert.equal(gap.dropped, 0, 'how many is not known');
  assert.equal(gap.lower_bound, true);
  assert.equal(gap.from, from);
  assert.ok(gap.to >= atLeast, `to ${gap.to}: up to the head`);
}

describe('Redis stopped: sessions opened meanwhile, and their tails once it is back', () => {
  let redis: TestRedis;
  let a: Node;
  let b: Node;
  let token: string;

  before(async () => {
    redis = await startRedis({ persist: true });
    [a, b] = await Promise.all([startNode(redis.url), startNode(redis.url)]);
    token = (await api(a.url, 'PUT', `/v3/channels/${APP}`, { tokens: ['app'] })).json.tokens.app as string;
    await until('the app on b', () => b.server.ctx.registry.get(APP), 10_000);
    await post(b, token, 'b', 0, 3);
    await until('b0..b2 written', async () => (await historyOn(a)).length === 3, 10_000);
    // b loses 3 lines (Redis refuses the append): a loss notice in front of b3, long before the sessions' windows
    await refusedRange(redis.url, b, token, 'lost', 0, 3);
    await post(b, token, 'b', 3, 5);
    await until('b3, b4 written', async () => (await historyOn(a)).length === 5, 10_000);
    await post(a, token, 'a', 0, 5);
    await until('a0..a4 written', async () => (await historyOn(b)).length === 10, 10_000);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.close();
  });

  test('history: this node\'s lines and a gap saying other nodes\' lines may be missing; live: what other nodes wrote meanwhile, counted exactly once Redis is back', async () => {
    await redis.stop();
    await until('both nodes see Redis down', () => !a.server.cluster!.history.up && !b.server.cluster!.history.up, 10_000);

    // a session without tail (`logs -n 100`): WebSocket and text
    const ws = new WsClient(await session(a, { num: 100 }));
    assert.equal((await ws.closed).code, 1000);
    const h = seen(ws);
    assert.deepEqual(h.items, [...range('a', 0, 5), 'gap'], "a's lines only, then the gap");
    // fewer lines than asked for: other nodes' lines of any seq could have been among them
    assertPartialGap(h.gaps[0], 1, h.seqOf.get('a4')!);
    assert.equal(ws.json().at(-1).type, 'end');
    // `logplane logs -n 100`: the same, the gap in its words (its seqs end at the last line printed)
    const cli = await logsCli(a, ['-n', '100']);
    assert.deepEqual(cli.slice(0, -1).map((l) => l.slice(l.indexOf(']: ') + 3)), range('a', 0, 5));
    assert.match(cli.at(-1)!, new RegExp(`logplane\\[tail\\]: an unknown number of lines were not delivered \\(seq 1-${h.gaps[0].to}\\)$`));
    assert.equal(h.gaps[0].to, h.seqOf.get('a4'), 'the head: the last line sent');
    const text = new HttpStream(await session(a, { num: 100 }));
    await text.done;
    assert.deepEqual(textItems(text.text), [...range('a', 0, 5), 'L11 an unknown number of']);

    // tails: the newest 3 lines (a full window: other nodes' lines from its first on may be missing)
    const wsT = new WsClient(await session(a, { num: 3, tail: true }));
    const textT = new HttpStream(await session(a, { num: 100, tail: true }));
    // and live lines only: the gap starts after the history's newest line (a4)
    const wsLive = new WsClient(await session(a, { num: 0, tail: true }));
    await until('the tails started', () => seen(wsT).gaps.length === 1 && textItems(textT.text).length === 6 && seen(wsLive).gaps.length === 1, 10_000);
    const t = seen(wsT);
    assert.deepEqual(t.items, [...range('a', 2, 5), 'gap']);
    assertPartialGap(t.gaps[0], t.seqOf.get('a2')!, t.seqOf.get('a4')!);
    assertPartialGap(seen(wsLive).gaps[0], t.seqOf.get('a4')! + 1, t.seqOf.get('a4')! + 1);

    // while Redis is away: b's lines wait on b, a's go to its tails
    await post(b, token, 'b', 5, 10);
    await post(a, token, 'a', 5, 10);
    await until("a's live lines", () => seen(wsT).items.includes('a9') && textT.text.includes(': a9'), 10_000);
    await redis.restart();
    await until('both wrote their queues', () => [a, b].every((x) => x.server.cluster!.history.up && x.server.cluster!.history.pendingLines === 0), 20_000);
    const follower = () => a.server.cluster!.tailFollowers(APP)[0];
    const total = async () => {
      const r = await a.server.cluster!.history.read(APP);
      return r.trimmed + r.records.length;
    };
    const end = await total();
    await until("a's follower caught up", () => follower()?.live && follower()!.last >= end, 20_000).catch((e: Error) => {
      throw new Error(`${e.message}: total ${end}, follower live ${follower()?.live} last ${follower()?.last}`);
    });
    // a line of b after: in order, as usual
    await post(b, token, 'b', 10, 11);
    await until('b10', () => seen(wsT).items.includes('b10') && textT.text.includes(': b10') && seen(wsLive).items.includes('b10'), 10_000);
    const done = await settled('the WebSocket tail', () => seen(wsT));
    const live = seen(wsLive);
    assert.deepEqual(live.items.slice(0, 6), ['gap', ...range('a', 5, 10)]);
    assert.equal(live.items.at(-1), 'b10');
    assert.equal(live.gaps.slice(1).reduce((n, g) => n + g.dropped, 0), 5, 'live lines only: the same 5 lines of b');
    wsLive.ws.close();

    const i9 = done.items.indexOf('a9');
    assert.deepEqual(done.items.slice(0, i9 + 1), [...range('a', 2, 5), 'gap', ...range('a', 5, 10)]);
    assert.equal(done.items.at(-1), 'b10');
    // b5..b9 were written after a9 was sent, with older seqs: never sent, counted; b0..b4 and b's 3 lost lines (older than the window) not
    const late = done.gaps.slice(1);
    assert.ok(late.length >= 1 && done.items.slice(i9 + 1, -1).every((x) => x === 'gap'), 'only gaps between a9 and b10');
    assert.equal(late.reduce((n, g) => n + g.dropped, 0), 5, "b's 5 lines written while Redis was away");
    assert.ok(late.every((g) => g.lower_bound === undefined), 'an exact count');
    for (const g of late) assert.ok(g.from > done.seqOf.get('a2')! && g.to < done.seqOf.get('a9')!);

    const tt = textItems(textT.text);
    const j9 = tt.indexOf('a9');
    assert.deepEqual(tt.slice(0, j9 + 1), [...range('a', 0, 5), 'L11 an unknown number of', ...range('a', 5, 10)]);
    assert.equal(tt.at(-1), 'b10');
    const lateText = tt.slice(j9 + 1, -1);
    assert.equal(lateText.reduce((n, l) => n + Number(/^L11 (\d+)$/.exec(l)![1]), 0), 5, 'the L11 lines count the 5 lines');
    wsT.ws.close();
    textT.close();
  });
});

describe('Redis unreachable from one node: lines other nodes wrote meanwhile and Redis trimmed before the node could read them', () => {
  let pair: CutPair;
  let proxy: CutPair['proxy'];
  let a: Node;
  let b: Node;
  let token: string;

  before(async () => {
    pair = await cutPair(APP, { LOGPLANE_HISTORY_LINES: '30' });
    ({ a, b, token, proxy } = pair);
  });
  after(() => pair?.close());

  test('a gap says lines may be missing at the start, and again for the lines trimmed unread; the rest arrive in order', async () => {
    proxy.cut();
    await until('a sees Redis down', () => !a.server.cluster!.history.up, 10_000);
    const wsT = new WsClient(await session(a, { num: 3, tail: true }));
    const textT = new HttpStream(await session(a, { num: 3, tail: true }));
    await until('the tails started', () => seen(wsT).gaps.length === 1 && textItems(textT.text).length === 4, 10_000);
    // b writes 60 lines while a cannot read: Redis keeps the newest 30
    await post(b, token, 'c', 0, 60);
    await until('c0..c29 trimmed', async () => {
      const hist = await historyOn(b);
      return hist[0] === 'c30' && hist.at(-1) === 'c59';
    }, 10_000);
    proxy.restore();
    await until('c59', () => seen(wsT).items.includes('c59') && textT.text.includes(': c59'), 20_000);
    const done = await settled('the WebSocket tail', () => seen(wsT));

    assert.deepEqual(done.items, [...range('a', 2, 5), 'gap', 'gap', ...range('c', 30, 60)]);
    assertPartialGap(done.gaps[0], done.seqOf.get('a2')!, done.seqOf.get('a4')!);
    const trimmed = done.gaps[1];
    assert.deepEqual(Object.keys(trimmed), ['type', 'dropped', 'since', 'from', 'to', 'lower_bound']);
    assert.equal(trimmed.dropped, 0);
    assert.equal(trimmed.lower_bound, true);
    // after the last line sent, as the live path reports a loss
    assert.equal(trimmed.from, done.seqOf.get('a4')! + 1);
    assert.equal(trimmed.to, trimmed.from);
    assert.deepEqual(textItems(textT.text), [...range('a', 2, 5), 'L11 an unknown number of', 'L11 an unknown number of', ...range('c', 30, 60)]);
    wsT.ws.close();
    textT.close();
  });
});
