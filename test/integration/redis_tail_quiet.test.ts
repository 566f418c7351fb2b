// A tail on a quiet app, started while Redis is up (SPEC 5.3 "Loss is
// explicit"). Its node's follower of the app's stream never had a batch, so
// it knew no ordinal of the shared history; when the node was cut off from
// Redis while another node wrote more lines than the history holds, the
// follower read the stream from its oldest record once back, and the lines
// Redis trimmed before the node could read them were lost silently. Now the
// follower goes on from where the tail's start read the history: a gap with
// their exact count, then the lines still held, in order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cutPair, historyOn as historyOnNode, postRange, sessionOn, type CutPair, type Node } from '../support/cluster.js';
import { WsClient, seen } from '../support/tail.js';
import { settled, until } from '../support/wait.js';

const APP = 'quiet';

const post = postRange;
const historyOn = (x: Node): Promise<string[]> => historyOnNode(x, APP, 1000);
const session = (x: Node, body: Record<string, unknown>): Promise<string> => sessionOn(x, APP, body);

const range = (prefix: string, from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

describe('a tail on a quiet app, its node cut off from Redis while another node writes more than the history holds', () => {
  let pair: CutPair;
  let a: Node;
  let b: Node;
  let token: string;
  let proxy: CutPair['proxy'];

  before(async () => {
    pair = await cutPair(APP, { LOGPLANE_HISTORY_LINES: '20' });
    ({ a, b, token, proxy } = pair);
  });
  after(() => pair?.close());

  test('the lines trimmed before the node could read them: a gap with their count, then the lines still held', async () => {
    const ws = new WsClient(await session(a, { num: 3, tail: true }));
    await until('the tail started', () => seen(ws).items.length === 3, 10_000);
    const follower = () => a.server.cluster!.tailFollowers(APP)[0];
    assert.equal(follower()?.last, -1, 'the app is quiet: the follower never had a batch');

    proxy.cut();
    await until('a sees Redis down', () => !a.server.cluster!.history.up, 10_000);
    // b writes 60 lines while a cannot read: Redis keeps the newest 20
    await post(b, token, 'c', 0, 60);
    await until('c0..c39 trimmed', async () => {
      const hist = await historyOn(b);
      return hist[0] === 'c40' && hist.at(-1) === 'c59';
    }, 10_000);
    proxy.restore();
    await until('c59', () => seen(ws).items.includes('c59'), 20_000);
    const done = await settled('the WebSocket tail', () => seen(ws));

    assert.deepEqual(done.items, [...range('a', 2, 5), 'gap', ...range('c', 40, 60)]);
    const gap = done.gaps[0];
    assert.deepEqual(Object.keys(gap), ['type', 'dropped', 'since', 'from', 'to'], 'the gap frame of SPEC 5.3: an exact count');
    assert.equal(gap.dropped, 40, 'c0..c39, trimmed before a could read them');
    // after the last line sent, as the live path reports a loss
    assert.equal(gap.from, done.seqOf.get('a4')! + 1);
    assert.equal(gap.to, gap.from);
    ws.ws.close();
  });
});
