// Drain health in numbers (SPEC 16): the latency buckets, the 5-minute
// latency window and the one-hour drop window, on a manual clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketUpperMs, DROP_SLOT_MS, DROP_WINDOW_MS, DropWindow, LATENCY_BUCKETS, LATENCY_METRIC_BOUNDS, LATENCY_SLOT_MS, LATENCY_WINDOW_MS, latencyBucket, LatencyWindow } from '../../src/drains/health.js';

test('every latency falls in a bucket whose bounds hold it, at most 25% wide', () => {
  let prev = 0;
  for (let ms = 0; ms < 4_194_304; ms += ms < 5000 ? 1 : 997) {
    const i = latencyBucket(ms);
    assert.ok(i >= prev, `monotonic at ${ms}`);
    prev = i;
    const up = bucketUpperMs(i);
    const lo = i === 0 ? 0 : bucketUpperMs(i - 1);
    assert.ok(ms >= lo && ms < up, `${ms} ms in [${lo}, ${up})`);
    if (ms >= 4) assert.ok(up - lo <= lo / 4 + 1e-9, `${ms}: bucket [${lo}, ${up}) too wide`);
  }
  assert.equal(latencyBucket(-5), 0);
  assert.equal(latencyBucket(1e12), LATENCY_BUCKETS - 1);
  // the metric's bounds are bucket edges, so the metric's counts are exact
  const uppers = new Set(Array.from({ length: LATENCY_BUCKETS }, (_, i) => bucketUpperMs(i) / 1000));
  for (const b of LATENCY_METRIC_BOUNDS) assert.ok(uppers.has(b), `${b} s is a bucket edge`);
});

test('latency p50 and p99 cover the last 5 minutes only, and count into the metric', () => {
  const metric = { counts: new Float64Array(LATENCY_METRIC_BOUNDS.length + 1), sum: 0 };
  const w = new LatencyWindow(metric);
  let now = 1_700_000_000_000;
  assert.deepEqual(w.latency(now), { p50: null, p99: null });
  w.at(now);
  for (let i = 0; i < 98; i++) w.observe(10);
  w.observe(3000);
  w.observe(3000);
  assert.deepEqual(w.latency(now), { p50: 12, p99: 3072 }, '10 ms is in [10, 12)');
  assert.equal(metric.counts.reduce((a, b) => a + b, 0), 100);
  assert.ok(Math.abs(metric.sum - (98 * 0.01 + 6)) < 1e-9);
  // 3 minutes on: a faster minute; the old samples still count
  now += 3 * 60_000;
  w.at(now);
  for (let i = 0; i < 100; i++) w.observe(1);
  assert.deepEqual(w.latency(now), { p50: 2, p99: 12 });
  // 5 minutes and a slot after the first samples they are gone
  now += 2 * 60_000 + LATENCY_SLOT_MS;
  assert.deepEqual(w.latency(now), { p50: 2, p99: 2 });
  now += 10 * 60_000;
  assert.deepEqual(w.latency(now), { p50: null, p99: null });
});

test('dropped_1h counts the drops of the last 60 minutes', () => {
  const d = new DropWindow();
  let now = 1_700_000_000_000;
  d.add(5, now);
  now += 30 * 60_000;
  d.add(7, now);
  assert.equal(d.lastHour(now), 12);
  now += 29 * 60_000;
  assert.equal(d.lastHour(now), 12);
  now += 2 * 60_000;
  assert.equal(d.lastHour(now), 7, 'the first 5 are over an hour old');
  now += 3 * 3600_000;
  assert.equal(d.lastHour(now), 0);
});

// The windows at their edges, for a sample at the start, the middle and the
// last millisecond of a slot: it counts for the whole window, and is gone
// once its slot is wholly out of it (less than one slot later).
const T0 = 1_700_000_000_000;
function edges(slotMs: number, windowMs: number): { at: number; gone: number }[] {
  const start = T0 - (T0 % slotMs) + slotMs;
  return [start, start + Math.floor(slotMs / 2) + 7, start + slotMs - 1].map((at) => ({ at, gone: start + slotMs + windowMs }));
}

test('latency_ms window: a delivery counts for the full 5 minutes, and is gone less than 5 min 30 s after it', () => {
  for (const { at, gone } of edges(LATENCY_SLOT_MS, LATENCY_WINDOW_MS)) {
    const w = new LatencyWindow(null);
    w.at(at);
    w.observe(10);
    const one = { p50: 12, p99: 12 };
    assert.deepEqual(w.latency(at), one);
    assert.deepEqual(w.latency(at + LATENCY_WINDOW_MS - 1), one, `${at}: 1 ms short of 5 minutes`);
    assert.deepEqual(w.latency(at + LATENCY_WINDOW_MS), one, `${at}: 5 minutes on, still counted`);
    assert.deepEqual(w.latency(gone - 1), one);
    assert.deepEqual(w.latency(gone), { p50: null, p99: null }, `${at}: gone with its slot`);
    assert.ok(gone - at > LATENCY_WINDOW_MS && gone - at <= LATENCY_WINDOW_MS + LATENCY_SLOT_MS);
    // its slot is reused one ring later: the old sample does not come back
    const again = at + LATENCY_WINDOW_MS + LATENCY_SLOT_MS;
    w.at(again);
    w.observe(1000);
    assert.deepEqual(w.latency(again), { p50: 1024, p99: 1024 });
  }
});

test('dropped_1h window: a drop counts for the full hour, and is gone less than 61 minutes after it', () => {
  for (const { at, gone } of edges(DROP_SLOT_MS, DROP_WINDOW_MS)) {
    const d = new DropWindow();
    d.add(3, at);
    d.add(4, at + DROP_WINDOW_MS - 1); // a later drop, in another slot
    assert.equal(d.lastHour(at + DROP_WINDOW_MS - 1), 7, `${at}: 1 ms short of an hour`);
    assert.equal(d.lastHour(at + DROP_WINDOW_MS), 7, `${at}: an hour on, still counted`);
    assert.equal(d.lastHour(gone - 1), 7);
    assert.equal(d.lastHour(gone), 4, `${at}: gone with its slot`);
    assert.ok(gone - at > DROP_WINDOW_MS && gone - at <= DROP_WINDOW_MS + DROP_SLOT_MS);
    // its slot is reused one ring later: it starts from zero
    const again = at + DROP_WINDOW_MS + DROP_SLOT_MS;
    d.add(1, again);
    assert.equal(d.lastHour(again), 5, 'the 4 and the new 1');
  }
});
