// The per-app token bucket: integer credits on the lines' receive times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppRateBucket, rateLimitLine } from '../../src/ingest/rate-limit.js';
import { msgOf, sourceOf, dynoOf } from '../../src/line.js';

test('a bucket admits a burst of twice the rate, then the rate, and counts every line it drops', () => {
  const counter = { value: 0 };
  const first: AppRateBucket[] = [];
  const b = new AppRateBucket(10, counter, (x) => first.push(x));
  let admitted = 0;
  for (let i = 0; i < 50; i++) if (b.admit(1000)) admitted++;
  assert.equal(admitted, 20, 'burst = 2 x rate');
  assert.equal(counter.value, 30);
  assert.equal(b.dropped, 30);
  assert.equal(b.since, 1000);
  assert.equal(first.length, 1, 'told once per announcement period');
  // 1 s later: 10 more credits
  admitted = 0;
  for (let i = 0; i < 50; i++) if (b.admit(2000)) admitted++;
  assert.equal(admitted, 10);
  assert.equal(counter.value, 70);
  // 100 ms: one line
  assert.equal(b.admit(2100), true);
  assert.equal(b.admit(2100), false);
  // a clock that goes back (another thread's receive time) refills nothing
  assert.equal(b.admit(2050), false);
});

test('a steady sender at the rate loses nothing', () => {
  const counter = { value: 0 };
  const b = new AppRateBucket(1000, counter, () => {});
  for (let ms = 1; ms <= 10_000; ms++) assert.ok(b.admit(ms), `line at ${ms} ms`);
  assert.equal(counter.value, 0);
});

test('the announcement is the SPEC line from heroku[logplane]', () => {
  const rec = rateLimitLine(42, Date.UTC(2026, 0, 2, 3, 4, 5), Date.UTC(2026, 0, 2, 3, 4, 6));
  assert.equal(sourceOf(rec), 'heroku');
  assert.equal(dynoOf(rec), 'logplane');
  assert.match(msgOf(rec).toString(), /^Rate limit exceeded: 42 messages dropped since 2026-01-02T03:04:05\.000[0-9]*(Z|\+00:00)\.$/);
});
