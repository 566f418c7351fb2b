// The shipper's bounded buffer: what it drops while delivery fails, and that
// it counts exactly what it dropped (the L12 count).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineBuffer, Lost } from '../../src/shipper/buffer.js';

const held = (b: LineBuffer): string[] => Array.from({ length: b.count }, (_, i) => b.peek(i).toString());

test('shipper buffer: over its lines bound it drops the oldest, counted, since the first drop', () => {
  const b = new LineBuffer(3);
  for (let i = 1; i <= 5; i++) b.push(Buffer.from(`l${i}`), 1000 + i, true);
  assert.deepEqual(held(b), ['l3', 'l4', 'l5']);
  assert.equal(b.overflow.count, 2);
  assert.equal(b.overflow.since, 1004);
  b.overflow.reported(2);
  assert.equal(b.overflow.count, 0);
  assert.equal(b.overflow.total, 2);
});

test('shipper buffer: over its bytes bound (long lines) it drops the oldest too; the newest line always stays', () => {
  const b = new LineBuffer(100, 25);
  b.push(Buffer.alloc(10, 'a'), 1, true);
  b.push(Buffer.alloc(10, 'b'), 2, true);
  assert.equal(b.full, false);
  b.push(Buffer.alloc(10, 'c'), 3, true);
  assert.deepEqual(held(b).map((s) => s[0]), ['b', 'c']);
  assert.equal(b.overflow.count, 1);
  b.push(Buffer.alloc(40, 'd'), 4, true);
  assert.deepEqual(held(b).map((s) => s[0]), ['d']);
  assert.equal(b.overflow.count, 3);
  assert.equal(b.bytes, 40);
});

test('shipper buffer: while delivery works nothing is dropped past the bound (the reader pauses instead)', () => {
  const b = new LineBuffer(2);
  for (let i = 1; i <= 4; i++) b.push(Buffer.from(`l${i}`), i, false);
  assert.equal(b.full, true);
  assert.deepEqual(held(b), ['l1', 'l2', 'l3', 'l4']);
  b.trim(10);
  assert.deepEqual(held(b), ['l3', 'l4']);
  assert.equal(b.overflow.count, 2);
  assert.equal(b.overflow.since, 10);
});

// As the shipper drives it: a notice is built (seal) with count and since,
// lines keep dropping while it is out, it is taken (reported). The next
// notice's T is the first loss it counts, not when the previous one was taken.
test('shipper buffer: the next L12 notice is since its own first drop, not since the previous notice was taken', () => {
  const b = new LineBuffer(2);
  const over = b.overflow;
  for (let i = 1; i <= 4; i++) b.push(Buffer.from(`l${i}`), 1000 + i, true); // l1, l2 dropped at 1003, 1004
  assert.deepEqual([over.count, over.since], [2, 1003], 'first notice: 2 since 1003');
  over.seal();
  b.push(Buffer.from('l5'), 1500, true); // l3 dropped at 1500, while the notice is out
  b.push(Buffer.from('l6'), 1600, true); // l4 at 1600
  assert.deepEqual([over.count, over.since], [4, 1003], 'unreported: all four, the first at 1003');
  over.reported(2); // the first notice is taken (at 2000, say)
  assert.deepEqual([over.count, over.since], [2, 1500], 'second notice: 2 since 1500, the first drop it counts');
  // a notice that is not taken at once: it keeps its count; drops meanwhile wait for the next
  over.seal();
  b.push(Buffer.from('l7'), 2500, true);
  over.reported(2);
  assert.deepEqual([over.count, over.since, over.total], [1, 2500, 5]);
  over.seal();
  over.reported(1);
  assert.deepEqual([over.count, over.since], [0, 0]);
  // nothing held over: the next loss starts afresh
  b.push(Buffer.from('l8'), 3000, true);
  assert.deepEqual([over.count, over.since], [1, 3000]);
});

test('shipper L13 accounting: batches given up while a notice is out are reported since the first of them', () => {
  const failed = new Lost();
  failed.add(500, 10_000); // a batch first tried at 10 s, given up
  failed.seal(); // notice: 500 since 10 s
  failed.add(500, 40_000);
  failed.add(200, 45_000);
  failed.reported(500); // taken at 70 s
  assert.deepEqual([failed.count, failed.since], [700, 40_000]);
  // a notice built with nothing lost yet seals nothing: what comes after keeps its time
  const idle = new Lost();
  idle.seal();
  idle.add(3, 7);
  idle.reported(0);
  assert.deepEqual([idle.count, idle.since], [3, 7]);
  idle.add(1, 9);
  assert.deepEqual([idle.count, idle.since], [4, 7], 'one run: not sealed');
});
