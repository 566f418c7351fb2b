// The count of what a shared history no longer holds (cluster/gone.ts), for a
// drain replay's notice: dropped chunks from two nodes whose seqs interleave,
// loss notices, dropped chunks the trims list no longer remembers. Every
// count is exact or a lower bound, never above the truth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedGone, parseDropped, type GoneInput } from '../../src/cluster/gone.js';

/** A seq at time t of node o (the low 8 bits: basics/seq.ts). */
const s = (t: number, o: number): number => t * 256 + o;

// ordinals 1-3: node 1 at t 1, 2, 3; 4-5: node 2 at t 2, 4; 6-7: node 1 at t 5, 6; 8: node 2 at t 7; held from 9
const dropped = [
  { first: 1, last: 3, high: s(3, 1) },
  { first: 4, last: 5, high: s(4, 2) },
  { first: 6, last: 7, high: s(6, 1) },
  { first: 8, last: 8, high: s(7, 2) },
];
const truth = [s(1, 1), s(2, 1), s(3, 1), s(2, 2), s(4, 2), s(5, 1), s(6, 1), s(7, 2)];
const base: GoneInput = { total: 18, noticesEver: 0, notices: [], dropped, readFrom: 9, droppedSeq: s(7, 2), readNotices: 0, knownGone: [], unwritten: 0 };

test('dropped chunks of two nodes: exact where a chunk lies wholly on one side of after, a lower bound inside one', () => {
  const g = sharedGone(base);
  assert.deepEqual(g.ever(), { lo: 18, hi: 18 });
  assert.deepEqual(g.after(0), { lo: 8, hi: 8 });
  for (const after of [s(3, 1), s(4, 2), s(6, 1), s(7, 2), s(9, 0), s(3, 1) + 1, s(1, 1) - 1]) {
    const n = g.after(after);
    const real = truth.filter((x) => x > after).length;
    assert.ok(n.lo <= real && real <= n.hi, `after ${after}: ${real} in ${JSON.stringify(n)}`);
  }
  // wholly known: node 1's second chunk starts above its first's highest seq
  assert.deepEqual(g.after(s(3, 1)), { lo: 4, hi: 5 }, 'node 2 t 2, 4 straddles: 1 or 2');
  assert.deepEqual(g.after(s(7, 2)), { lo: 0, hi: 0 });
  // one-line chunks are always exact
  const ones = sharedGone({ ...base, dropped: truth.map((high, i) => ({ first: i + 1, last: i + 1, high })) });
  for (const after of [0, ...truth, ...truth.map((x) => x + 1)]) {
    const real = truth.filter((x) => x > after).length;
    assert.deepEqual(ones.after(after), { lo: real, hi: real }, `after ${after}`);
  }
});

test('loss notices are records, not lines', () => {
  // a notice leads the chunk at ordinal 4 (then one line), one more is held
  const g = sharedGone({ ...base, noticesEver: 2, notices: [{ ordinal: 4, origin: 2, n: 7 }, { ordinal: 12, origin: 1, n: 3 }], readNotices: 1 });
  assert.deepEqual(g.ever(), { lo: 16, hi: 16 });
  assert.deepEqual(g.after(0), { lo: 7, hi: 7 });
  // a chunk that is a notice alone (highest seq -1)
  const alone = sharedGone({ ...base, noticesEver: 1, notices: [{ ordinal: 9, origin: 1, n: 1 }], dropped: [...dropped, { first: 9, last: 9, high: -1 }], readFrom: 10 });
  assert.deepEqual(alone.after(0), { lo: 8, hi: 8 });
  assert.deepEqual(alone.ever(), { lo: 17, hi: 17 });
});

test('dropped chunks the trims list no longer holds: exact for after 0 or past them, else a lower bound', () => {
  // the list lost ordinals 1-5 (two chunks): they count as a whole
  const g = sharedGone({ ...base, dropped: dropped.slice(2) });
  assert.deepEqual(g.after(0), { lo: 8, hi: 8 });
  assert.deepEqual(g.after(s(7, 2)), { lo: 0, hi: 0 });
  const mid = g.after(s(3, 1));
  assert.ok(mid.lo <= 4 && mid.hi >= 4 && mid.lo < mid.hi, JSON.stringify(mid));
  // a gap in the list (chunks dropped by a previous release's node): the ones below it count as unrecorded too
  const gap = sharedGone({ ...base, dropped: [dropped[0]!, dropped[2]!, dropped[3]!] });
  assert.deepEqual(gap.after(0), { lo: 8, hi: 8 });
  assert.ok(gap.after(s(3, 1)).lo <= 4);
  // notices from before nn was kept: exact while the list is complete, else a range
  const old = sharedGone({ ...base, noticesEver: null, notices: Array.from({ length: 100 }, (_, i) => ({ ordinal: 50 + i, origin: 1, n: 1 })), total: 200 });
  assert.deepEqual(old.ever(), { lo: 200 - 149, hi: 100 });
});

test('the lines read but not held count exactly, and this node\'s unwritten lines are lines ever', () => {
  const g = sharedGone({ ...base, knownGone: [s(8, 1), s(8, 2)], unwritten: 3 });
  assert.deepEqual(g.ever(), { lo: 21, hi: 21 });
  assert.deepEqual(g.after(s(7, 2)), { lo: 2, hi: 2 });
  assert.deepEqual(g.after(0), { lo: 10, hi: 10 });
});

test('the trims list elements parse as first:high:last', () => {
  assert.deepEqual(parseDropped(['1:769:3', '4:-1:4', 'junk']), [{ first: 1, last: 3, high: 769 }, { first: 4, last: 4, high: -1 }]);
});
