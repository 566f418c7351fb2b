// The cooked line: fields in, the same fields out of one Buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADER, MAX_FIELD, cook, dynoOf, lineFrom, msgOf, priOf, receivedOf, rfc3339, seqOf, setSeq, sourceOf, tsOf, viewOf } from '../../src/line.js';

test('lineFrom / accessors round trip', () => {
  const msg = Buffer.from([0xff, 0x00, 0x0a, 0xc3, 0xa9]);
  const rec = lineFrom({ pri: 191, ts: '2026-01-02T03:04:05Z', source: 'heroku', dyno: 'router', msg, receivedMs: 1234.5, seq: 42 });
  assert.equal(rec.length, HEADER + 20 + 6 + 6 + 5);
  assert.equal(seqOf(rec), 42);
  assert.equal(receivedOf(rec), 1234.5);
  assert.equal(priOf(rec), 191);
  assert.equal(tsOf(rec), '2026-01-02T03:04:05Z');
  assert.equal(sourceOf(rec), 'heroku');
  assert.equal(dynoOf(rec), 'router');
  assert.deepEqual(msgOf(rec), msg);
  setSeq(rec, 2 ** 40);
  assert.equal(seqOf(rec), 2 ** 40);
  assert.deepEqual(viewOf(lineFrom({ pri: 0, ts: '', source: 'app', dyno: '', msg: 'héllo', receivedMs: 0, seq: 1 })), { seq: 1, ts: '', source: 'app', dyno: '', pri: 0, msg: 'héllo' });
});

test('cook copies byte ranges out of bigger buffers', () => {
  const buf = Buffer.from('xxTSxxDYNOxxMESSAGExx', 'latin1');
  const rec = cook(13, buf, 2, 4, Buffer.from('src'), buf, 6, 10, buf, 12, 19, 7);
  buf.fill(0);
  assert.deepEqual(viewOf(rec), { seq: 0, ts: 'TS', source: 'src', dyno: 'DYNO', pri: 13, msg: 'MESSAGE' });
});

test('fields up to 255 bytes fit; longer ones are refused instead of corrupting the layout', () => {
  const f = 'f'.repeat(MAX_FIELD);
  const rec = lineFrom({ pri: 1, ts: f, source: f, dyno: f, msg: 'm' });
  assert.equal(tsOf(rec), f);
  assert.equal(sourceOf(rec), f);
  assert.equal(dynoOf(rec), f);
  assert.equal(msgOf(rec).toString(), 'm');
  for (const k of ['ts', 'source', 'dyno'] as const) {
    assert.throws(() => lineFrom({ pri: 1, ts: 't', source: 's', dyno: 'd', msg: 'm', [k]: `${f}x` }), RangeError);
  }
});

test('rfc3339: microseconds and +00:00', () => {
  assert.equal(rfc3339(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), '2026-01-02T03:04:05.006000+00:00');
});
