// The history a resumed tail is handed in distributed mode
// (MergedHistory.read with a resume point), read from a fake shared history:
// the lines appended after the line it resumes from with seqs at or below its
// point (a node cut off from Redis wrote them late) are kept as a loss at the
// first line after the point (HistoryLoss.late), so the tail counts them
// (SPEC 5.3 "Nothing is lost silently"). No Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../src/apps.js';
import { MergedHistory } from '../../src/cluster/merged-history.js';
import type { RedisHistory } from '../../src/cluster/history.js';
import { encodeLossNotice } from '../../src/cluster/batch.js';
import type { HistoryLoss } from '../../src/history/source.js';
import { lineFrom, seqOf } from '../../src/line.js';

const NOW = 1_700_000_000_000;
/** This node's index: seqs end in it (seq % 256). */
const OWN = 1;

/** A line of node `node` at time unit t: seq t * 256 + node. */
function rec(t: number, node: number): Buffer {
  return lineFrom({ pri: 190, ts: '2024-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `${t}.${node}`, seq: t * 256 + node, receivedMs: NOW + t });
}

/** An app whose ring holds `own` (this node's lines, oldest first). */
function fakeApp(own: Buffer[] = []): App {
  return { id: 'app1', ring: { count: own.length, at: (i: number) => own[i]! }, restoreSeq() {} } as unknown as App;
}

/** A MergedHistory over a shared history of these records (append order) with this highest seq ever trimmed. */
function merged(records: Buffer[], trimmedSeq = 0): MergedHistory {
  const redis = { read: async () => ({ records: records.slice(), trimmedSeq, total: records.length, trimmed: 0, trimmedNotices: [], first: 1 }) };
  return new MergedHistory(redis as unknown as RedisHistory, (o) => o === OWN, 1000);
}

const late = (losses: HistoryLoss[] | undefined): Array<{ at: number; n: number; seqs: number[] | undefined; lowerBound: boolean }> =>
  (losses ?? []).map((l) => ({ at: l.at, n: l.n, seqs: l.late?.map(seqOf), lowerBound: l.lowerBound === true }));

// node 2's lines 10, 20, 30, then node 3's 12 and 15 (written when it was back), then node 2's 40
const stream = [rec(10, 2), rec(20, 2), rec(30, 2), rec(12, 3), rec(15, 3), rec(40, 2)];

test('a resume after a line the late lines were appended after: they are kept, at the first line after the point', async () => {
  const h = merged(stream);
  // lines by seq: 10, 12, 15, 20, 30, 40
  assert.deepEqual(late((await h.read(fakeApp(), Infinity, false, 30 * 256 + 2)).losses), [{ at: 5, n: 2, seqs: [12 * 256 + 3, 15 * 256 + 3], lowerBound: false }]);
  assert.deepEqual(late((await h.read(fakeApp(), Infinity, false, 20 * 256 + 2)).losses), [{ at: 4, n: 2, seqs: [12 * 256 + 3, 15 * 256 + 3], lowerBound: false }]);
  // no line after the point: after every line
  assert.deepEqual(late((await merged(stream.slice(0, 5)).read(fakeApp(), Infinity, false, 30 * 256 + 2)).losses), [{ at: 5, n: 2, seqs: [12 * 256 + 3, 15 * 256 + 3], lowerBound: false }]);
  // the point is no line's: the line it names is the newest at or below it
  assert.deepEqual(late((await h.read(fakeApp(), Infinity, false, 25 * 256)).losses), [{ at: 4, n: 2, seqs: [12 * 256 + 3, 15 * 256 + 3], lowerBound: false }]);
});

test('a resume before the late lines, or from one of them: nothing late (they are sent, or were had)', async () => {
  const h = merged(stream);
  assert.equal((await h.read(fakeApp(), Infinity, false, 11 * 256)).losses, undefined);
  // resumed from 15 (node 3's last): the line it names is 15's, and nothing after it is at or below it
  assert.equal((await h.read(fakeApp(), Infinity, false, 15 * 256 + 3)).losses, undefined);
  // from 40, appended after them: a reader that had it was reading when they came (the live path counted them)
  assert.equal((await h.read(fakeApp(), Infinity, false, 40 * 256 + 2)).losses, undefined);
  // from 16: the newest line at or below it is 15's too
  assert.equal((await h.read(fakeApp(), Infinity, false, 16 * 256)).losses, undefined);
  // no resume (num history): never
  assert.equal((await h.read(fakeApp(), 100)).losses, undefined);
});

test('a notice and the late lines at the same place: the notice first, apart', async () => {
  const h = merged([rec(10, 2), rec(30, 2), encodeLossNotice(3, 7, NOW), rec(12, 3), rec(40, 2)]);
  const losses = (await h.read(fakeApp(), Infinity, false, 30 * 256 + 2)).losses!;
  assert.deepEqual(losses.map((l) => [l.at, l.n, l.late === undefined]), [[3, 7, true], [3, 1, false]]);
});

test('the line resumed from may have been trimmed: every line held at or below the point, and a lower bound', async () => {
  // a line of seq 25 was trimmed: the line resumed from (the newest at or below 26) may have been it, and lines appended after it trimmed too
  const h = merged([rec(30, 2), rec(12, 3), rec(15, 3), rec(40, 2)], 25 * 256 + 2);
  assert.deepEqual(late((await h.read(fakeApp(), Infinity, false, 26 * 256)).losses), [{ at: 2, n: 2, seqs: [12 * 256 + 3, 15 * 256 + 3], lowerBound: true }]);
  // none held at or below it: a lower bound of 0
  assert.deepEqual(late((await merged([rec(30, 2), rec(40, 2)], 25 * 256 + 2).read(fakeApp(), Infinity, false, 26 * 256)).losses), [{ at: 0, n: 0, seqs: [], lowerBound: true }]);
  // nothing newer than the line found was trimmed: it is held, the count exact
  assert.deepEqual(late((await merged(stream, 5 * 256 + 2).read(fakeApp(), Infinity, false, 30 * 256 + 2)).losses), [{ at: 5, n: 2, seqs: [12 * 256 + 3, 15 * 256 + 3], lowerBound: false }]);
});

test('this node\'s lines not written to the shared history yet come after what was read', async () => {
  // node 1 (this one) has 25 in its ring, not written yet: appended after 30, below it
  const h = merged(stream);
  assert.deepEqual(late((await h.read(fakeApp([rec(25, OWN)]), Infinity, false, 30 * 256 + 2)).losses), [{ at: 6, n: 3, seqs: [12 * 256 + 3, 15 * 256 + 3, 25 * 256 + OWN], lowerBound: false }]);
  // the reader resumes from one of them (it read from this node): nothing read was appended after it
  assert.equal((await h.read(fakeApp([rec(35, OWN)]), Infinity, false, 35 * 256 + OWN)).losses, undefined);
});
