// The one bounded queue (basics/queue.ts): FIFO order across growth and
// wrap-around, drop-oldest at the item bound with an exact count, the weight
// (bytes of lines) kept through every operation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedQueue } from '../../src/basics/queue.js';

const item = (i: number): Buffer => Buffer.alloc(1 + (i % 7), i & 0xff);
const ids = (xs: Buffer[]): number[] => xs.map((b) => b[0]!);

test('bounded queue: FIFO order and weight through growth and wrap-around', () => {
  const q = new BoundedQueue<Buffer>();
  let next = 0;
  let first = 0;
  let weight = 0;
  // interleave pushes and shifts so the head wraps while the ring grows past its first slots
  for (let round = 0; round < 50; round++) {
    for (let k = 0; k < 13; k++) {
      const b = item(next++);
      weight += b.length;
      assert.equal(q.push(b), undefined);
    }
    for (let k = 0; k < 7; k++) {
      const b = q.shift();
      assert.equal(b[0], first++ & 0xff);
      weight -= b.length;
    }
    assert.equal(q.count, next - first);
    assert.equal(q.weight, weight);
  }
  const out: Buffer[] = [];
  q.shiftInto(out, 5);
  assert.deepEqual(ids(out), [0, 1, 2, 3, 4].map((k) => (first + k) & 0xff));
  assert.equal(q.dropped, 0);
});

test('bounded queue: at its item bound a push drops the oldest, returns it and counts it', () => {
  const q = new BoundedQueue<Buffer>(3);
  const pushed: Buffer[] = [];
  const dropped: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const b = item(i);
    pushed.push(b);
    const old = q.push(b);
    if (old !== undefined) dropped.push(old);
  }
  assert.equal(q.count, 3);
  assert.equal(q.dropped, 197);
  assert.deepEqual(dropped, pushed.slice(0, 197));
  assert.equal(q.weight, pushed.slice(197).reduce((n, b) => n + b.length, 0));
  const out: Buffer[] = [];
  q.shiftInto(out, 10);
  assert.deepEqual(out, pushed.slice(197));
  assert.equal(q.weight, 0);
});

test('bounded queue: dropOldest counts, unshift puts back in front, clear forgets without counting', () => {
  const q = new BoundedQueue<Buffer>();
  for (let i = 0; i < 100; i++) q.push(item(i));
  assert.equal(q.dropOldest()[0], 0);
  assert.equal(q.dropOldest()[0], 1);
  assert.equal(q.dropped, 2);
  const b = q.shift();
  q.unshift(b);
  assert.equal(q.peek(), b);
  assert.equal(q.count, 98);
  q.clear();
  assert.equal(q.count, 0);
  assert.equal(q.weight, 0);
  assert.equal(q.dropped, 2);
  q.push(item(5));
  assert.equal(q.shift()[0], 5);
});
