// The shipper's bounded buffer: what it drops while delivery fails, and that
// it counts exactly what it dropped (the L12 count).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineBuffer } from '../../src/shipper/buffer.js';

const held = (b: LineBuffer): string[] => Array.from({ length: b.count }, (_, i) => b.peek(i).toString());

test('shipper buffer: over its lines bound it drops the oldest, counted, since the first drop', () => {
  const b = new LineBuffer(3);
  for (let i = 1; i <= 5; i++) b.push(Buffer.from(`l${i}`), 1000 + i, true);
  assert.deepEqual(held(b), ['l3', 'l4', 'l5']);
  assert.equal(b.overflow.count, 2);
  assert.equal(b.overflow.since, 1004);
  b.overflow.reported(2, 2000);
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
