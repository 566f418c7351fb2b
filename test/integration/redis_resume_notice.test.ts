// A loss notice appended while a reader was away, and its resume (SPEC 5.3
// "Loss is explicit", SPEC 9). A reader resumes with `after` (WebSocket
// `?after=`, SSE Last-Event-ID, `logplane logs` reconnecting); a node that
// could not write lines to Redis announced them with a loss notice in the
// app's stream while that reader was not connected. Regression: a resume
// replayed the lines after its point but never the notices among them, so a
// reader away when a notice was appended lost those lines silently. Now a
// notice appended after the line the reader resumes from is reported (a gap,
// the L11 line). docs/tail.md, "Loss is explicit".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cutPair, fastCluster, historyOn as historyOnNode, metricMatch, postRange, sessionOn, type CutPair, type Node } from '../support/cluster.js';
import { WsClient, seen } from '../support/tail.js';
import { settled, until } from '../support/wait.js';

const range = (prefix: string, from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

describe('a reader away while a node that was cut off from Redis announced its lost lines', () => {
  const APP = 'away';
  let pair: CutPair;
  let a: Node;
  let b: Node;
  let token: string;
  /** The session read from b (a tail), and the seqs it saw. */
  let url: string;
  let seqOf: Map<string, number>;
  /** A session read from a while it was cut off: it had a's lines live. */
  let onA: { url: string; seqOf: Map<string, number> };

  before(async () => {
    // a keeps at most 5 lines for Redis while it cannot reach it: older ones are lost, announced once it is back
    pair = await cutPair(APP, {}, { ...fastCluster, maxPendingLines: 5 });
    ({ a, b, token } = pair);
    url = await sessionOn(b, APP, { num: 0, tail: true });
    const reader = new WsClient(url);
    onA = { url: await sessionOn(a, APP, { num: 0, tail: true }), seqOf: new Map() };
    const readerOnA = new WsClient(onA.url);
    await Promise.all([reader.opened, readerOnA.opened]);
    await until('both tails started', () => reader.json().length > 0 && readerOnA.json().length > 0, 10_000);

    pair.proxy.cut();
    await until('a sees Redis down', () => !a.server.cluster!.history.up, 10_000);
    // a takes y0..y7 while cut off: y0..y2 are dropped from its queue (lost), y3..y7 wait
    await postRange(a, token, 'y', 0, 8);
    await until('y0..y2 lost', async () => (await metricMatch(a.url, /^logplane_redis_lines_dropped_total\{reason="overflow"\} (\d+)$/m)) === 3, 10_000);
    // then b takes c0..c2 (newer seqs than a's): the reader on b sees them, then goes away
    await postRange(b, token, 'c', 0, 3);
    await until('c0..c2 read on b', () => seen(reader).items.includes('c2'), 10_000);
    await until('y0..y7 read on a', () => seen(readerOnA).items.includes('y7'), 10_000);
    assert.deepEqual(seen(reader).items, range('c', 0, 3), 'the reader on b: no notice yet, a is still cut off');
    seqOf = seen(reader).seqOf;
    onA.seqOf = seen(readerOnA).seqOf;
    reader.release();
    readerOnA.release();
    await until('both readers gone', () => b.server.tails.tailCount === 0 && a.server.tails.tailCount === 0, 10_000);

    // a is back: its notice of the 3 lost lines, then y3..y7, reach the shared history while nobody reads
    pair.proxy.restore();
    await until('y3..y7 written', async () => (await historyOnNode(b, APP, 1000)).includes('y7'), 20_000);
    await postRange(b, token, 'c', 3, 4);
    await until('c3 written', async () => (await historyOnNode(a, APP, 1000)).includes('c3'), 10_000);
  });
  after(() => pair?.close());

  test('resuming after the last line it saw, on either node: the gap, with the notice\'s count, before the lines after its point', async () => {
    for (const x of [b, a]) {
      const ws = new WsClient(`${url.replace(b.url, x.url)}?after=${seqOf.get('c2')}`);
      await until('c3', () => seen(ws).items.includes('c3'), 10_000);
      const { items, gaps } = await settled('the resumed tail', () => seen(ws));
      ws.release();
      // (y3..y7 are older than c2, the resume point: a resume sends the lines after it only; docs/tail.md)
      assert.deepEqual(items, ['gap', 'c3']);
      assert.deepEqual(Object.keys(gaps[0]), ['type', 'dropped', 'since', 'from', 'to'], 'the gap frame of SPEC 5.3');
      assert.equal(gaps[0].dropped, 3, 'y0..y2');
      // its lines' place is before the resume point: the gap comes first, after what the reader had
      assert.equal(gaps[0].from, seqOf.get('c2')! + 1);
      assert.equal(gaps[0].to, gaps[0].from);
    }
  });

  test('a reader that read from the node that lost the lines, resuming after a line appended after the notice: nothing reported', async () => {
    // y7 went to Redis behind the notice: the reader that had y7 was reading when the lines were routed (it had them live)
    const ws = new WsClient(`${onA.url}?after=${onA.seqOf.get('y7')}`);
    await until('c3', () => seen(ws).items.includes('c3'), 10_000);
    const { items } = await settled('the resumed tail', () => seen(ws));
    ws.release();
    assert.deepEqual(items, range('c', 0, 4));
  });
});
