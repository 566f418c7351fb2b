// RateLimitedLog: a warning repeated without end writes at most one line per
// key per interval, and the next line says how many were held back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimitedLog } from '../../src/obs/log.js';
import { ManualClock } from '../support/clock.js';
import { captureLog } from '../support/log.js';

test('RateLimitedLog: one line per key per interval, then one with the count held back', () => {
  const { log, lines } = captureLog();
  const clock = new ManualClock();
  const limited = new RateLimitedLog(log, { intervalMs: 10_000, timers: clock });
  for (let i = 1; i <= 500; i++) limited.warn('a', { at: 'x.a', n: i }, 'event a');
  limited.warn('b', { at: 'x.b', n: 1 }, 'event b');
  // the first of each key at once, nothing else yet
  assert.deepEqual(lines.map((l) => [l.at, l.n, l.suppressed, l.level]), [['x.a', 1, 0, 40], ['x.b', 1, 0, 40]]);
  assert.equal(clock.timers.length, 2);
  // interval over: key a had 499 held back, reported with the last one's fields; b had none
  assert.equal(clock.fire(), 10_000);
  clock.fire();
  assert.equal(lines.length, 3);
  assert.deepEqual([lines[2]!.at, lines[2]!.n, lines[2]!.suppressed], ['x.a', 500, 499]);
  assert.match(lines[2]!.msg, /^event a \(499 not logged since the last line\)$/);
  // a reports in a new interval; b is quiet again, so its next event is written at once
  limited.warn('a', { at: 'x.a', n: 501 }, 'event a');
  limited.warn('b', { at: 'x.b', n: 2 }, 'event b');
  assert.equal(lines.length, 4);
  assert.deepEqual([lines[3]!.at, lines[3]!.n, lines[3]!.suppressed], ['x.b', 2, 0]);
  // close() writes what is held and stops the timers
  limited.close();
  assert.deepEqual([lines[4]!.at, lines[4]!.n, lines[4]!.suppressed], ['x.a', 501, 1]);
  assert.equal(lines.length, 5);
  assert.equal(clock.timers.length, 0);
});
