// The V8 heap headroom (basics/heap-tuner.ts): the growing percent it picks
// for a heap size, that it writes the flag only on a real change, and that 0
// leaves V8 alone (`logplane serve` starting it: test/e2e/heap_tuner.test.ts;
// its effect on lines per CPU-second is the bench's: bench/RESULTS.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { growingPercent, startHeapTuner } from '../../src/basics/heap-tuner.js';

const MB = 1024 * 1024;

test('the percent leaves the headroom above the live heap, capped, and V8 its own from 8x the headroom', () => {
  assert.equal(growingPercent(24 * MB, 96), 400); // 4x wanted, capped at 5x the live size
  assert.equal(growingPercent(48 * MB, 96), 200);
  assert.equal(growingPercent(96 * MB, 96), 100);
  assert.equal(growingPercent(300 * MB, 96), 32);
  assert.equal(growingPercent(767 * MB, 96), 13);
  assert.equal(growingPercent(768 * MB, 96), 0);
  assert.equal(growingPercent(0, 96), 400); // an empty heap counts as 1 MB
  assert.equal(growingPercent(24 * MB, 0), 0);
});

test('the flag is written at start and again only when the percent moves by more than a tenth', () => {
  const sets: string[] = [];
  let used = 24 * MB;
  const t = startHeapTuner(96, (f) => sets.push(f), () => used);
  try {
    assert.deepEqual(sets, ['--heap-growing-percent=400']);
    assert.equal(t.percent, 400);
  } finally {
    t.stop();
  }
  // a second tuner over a grown heap (the timer's tick is the same call)
  used = 200 * MB;
  const t2 = startHeapTuner(96, (f) => sets.push(f), () => used);
  t2.stop();
  assert.deepEqual(sets, ['--heap-growing-percent=400', '--heap-growing-percent=48']);
});

test('headroom 0 leaves V8 alone', () => {
  const sets: string[] = [];
  const t = startHeapTuner(0, (f) => sets.push(f), () => 24 * MB);
  t.stop();
  assert.deepEqual(sets, []);
  assert.equal(t.percent, 0);
});
