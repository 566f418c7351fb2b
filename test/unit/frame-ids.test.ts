// FrameIdCache: the bounded, expiring table behind Logplex-Frame-Id dedupe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameIdCache } from '../../src/ingest/frame-ids.js';

function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('an accepted id is remembered for ttlMs, then forgotten', () => {
  const c = clock();
  const ids = new FrameIdCache({ ttlMs: 60_000, clock: c });
  const k = FrameIdCache.key('t.a', 'F1');
  assert.equal(ids.has(k), false);
  ids.add(k);
  assert.equal(ids.has(k), true);
  c.advance(59_999);
  assert.equal(ids.has(k), true);
  c.advance(1);
  assert.equal(ids.has(k), false);
});

test('ids are per token', () => {
  const ids = new FrameIdCache({ ttlMs: 60_000, clock: clock() });
  ids.add(FrameIdCache.key('t.a', 'F1'));
  assert.equal(ids.has(FrameIdCache.key('t.b', 'F1')), false);
});

test('expired entries are dropped as new ones arrive (memory follows the window)', () => {
  const c = clock();
  const ids = new FrameIdCache({ ttlMs: 1_000, clock: c });
  for (let i = 0; i < 100; i++) ids.add(`k${i}`);
  assert.equal(ids.size, 100);
  c.advance(1_000);
  ids.add('fresh');
  assert.equal(ids.size, 1);
  assert.equal(ids.has('fresh'), true);
});

test('never holds more than maxEntries: the oldest are forgotten first', () => {
  const ids = new FrameIdCache({ ttlMs: 60_000, maxEntries: 3, clock: clock() });
  for (const k of ['a', 'b', 'c', 'd']) ids.add(k);
  assert.equal(ids.size, 3);
  assert.equal(ids.has('a'), false);
  assert.deepEqual(['b', 'c', 'd'].map((k) => ids.has(k)), [true, true, true]);
});

test('re-adding an id refreshes it (it moves to the young end)', () => {
  const c = clock();
  const ids = new FrameIdCache({ ttlMs: 1_000, maxEntries: 2, clock: c });
  ids.add('a');
  c.advance(500);
  ids.add('b');
  ids.add('a');
  ids.add('c'); // evicts b, the oldest now
  assert.equal(ids.has('b'), false);
  assert.equal(ids.has('a'), true);
  c.advance(999);
  assert.equal(ids.has('a'), true);
});

test('ttlMs 0 turns deduplication off', () => {
  const ids = new FrameIdCache({ ttlMs: 0, clock: clock() });
  assert.equal(ids.enabled, false);
  ids.add('a');
  assert.equal(ids.has('a'), false);
  assert.equal(ids.size, 0);
});
