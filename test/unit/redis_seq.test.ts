// Distributed-mode building blocks, bytes in, values out: the hybrid seq
// clock, published batch decoding, rendezvous choice of a drain's owner, the
// resume-gap estimate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NODE_SLOTS, SEQ_EPOCH_MS, SEQ_PER_MS, msOfSeq, originOf, seqCeilingAt } from '../../src/basics/seq.js';
import { HybridSeq } from '../../src/cluster/seq.js';
import { MSG_HEAD, decodeBatch } from '../../src/cluster/batch.js';
import { preferredNode } from '../../src/cluster/leases.js';
import { estimateMissing } from '../../src/tail/start.js';
import { lineFrom, seqOf } from '../../src/line.js';

const T = Date.UTC(2026, 4, 1, 12, 0, 0);

test('hybrid seq: strictly increasing, carries the node, follows the clock, never collides across nodes', () => {
  const a = new HybridSeq(3);
  const b = new HybridSeq(200);
  let last = 0;
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const s = a.next(last, T + Math.floor(i / 100)); // 100 lines per ms: runs ahead of the clock, still increasing
    assert.ok(s > last);
    assert.equal(originOf(s), 3);
    assert.ok(Number.isSafeInteger(s));
    seen.add(s);
    last = s;
  }
  // another node, same app, same times: different values
  let lb = 0;
  for (let i = 0; i < 1000; i++) {
    lb = b.next(lb, T + Math.floor(i / 100));
    assert.equal(originOf(lb), 200);
    assert.ok(!seen.has(lb));
  }
  // after a quiet period the seq is back on the clock
  const later = a.next(last, T + 60_000);
  assert.equal(msOfSeq(later), T + 60_000);
  assert.ok(later <= seqCeilingAt(T + 60_000));
  // above a seq seen from another node
  const seenFromB = b.next(0, T + 120_000);
  const next = a.next(seenFromB, T + 1);
  assert.ok(next > seenFromB);
  assert.equal(originOf(next), 3);
  // exact in a double until 2060
  assert.ok(Number.isSafeInteger((Date.UTC(2060, 0, 1) - SEQ_EPOCH_MS) * SEQ_PER_MS + SEQ_PER_MS));
  assert.throws(() => new HybridSeq(NODE_SLOTS), RangeError);
});

test('published batch: decoded into views of the message; malformed is null', () => {
  const recs = [lineFrom({ pri: 190, ts: 'T', source: 'app', dyno: 'web.1', msg: 'one', seq: 11 }), lineFrom({ pri: 190, ts: 'T', source: 'app', dyno: 'web.2', msg: 'two', seq: 12 })];
  const head = Buffer.alloc(MSG_HEAD + 4);
  head.writeDoubleLE(42, 0);
  head[8] = 7;
  head.writeUInt32LE(2, 10);
  head.writeUInt16LE(recs[0]!.length, MSG_HEAD);
  head.writeUInt16LE(recs[1]!.length, MSG_HEAD + 2);
  const msg = Buffer.concat([head, ...recs]);
  const b = decodeBatch(msg)!;
  assert.equal(b.first, 42);
  assert.equal(b.origin, 7);
  assert.deepEqual(b.recs.map(seqOf), [11, 12]);
  assert.deepEqual(b.recs[1], recs[1]);
  assert.equal(b.recs[0]!.buffer, msg.buffer, 'a view, not a copy');
  assert.equal(decodeBatch(msg.subarray(0, msg.length - 1)), null);
  assert.equal(decodeBatch(Buffer.alloc(5)), null);
});

test('rendezvous: one stable owner per drain, spread over nodes, mostly unmoved when a node leaves', () => {
  const nodes = ['n-a', 'n-b', 'n-c'];
  const drains = Array.from({ length: 300 }, (_, i) => `drain-${i}`);
  const owner = new Map(drains.map((d) => [d, preferredNode(nodes, d)!]));
  const counts = new Map<string, number>();
  for (const o of owner.values()) counts.set(o, (counts.get(o) ?? 0) + 1);
  for (const n of nodes) assert.ok((counts.get(n) ?? 0) > 60, `${n} owns ${counts.get(n)}`);
  assert.equal(preferredNode([...nodes].reverse(), 'drain-1'), owner.get('drain-1'), 'order of the node list does not matter');
  const without = nodes.filter((n) => n !== 'n-b');
  for (const d of drains) if (owner.get(d) !== 'n-b') assert.equal(preferredNode(without, d), owner.get(d));
  assert.equal(preferredNode([], 'x'), undefined);
});

test('resume gap estimate: from the density of the seqs held, at least 1', () => {
  const lines = Array.from({ length: 11 }, (_, i) => lineFrom({ pri: 1, ts: 'T', source: 's', dyno: 'd', msg: 'm', seq: 1000 + i * 10 }));
  assert.equal(estimateMissing(lines, 500, 1000), 50);
  assert.equal(estimateMissing(lines, 999, 1000), 1);
  assert.equal(estimateMissing([], 1, 100), 1);
});
