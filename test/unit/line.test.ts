// The cooked line: fields in, the same fields out of one Buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADER, MAX_FIELD, cook, cookIntoView, dynoOf, lineFrom, msgOf, priOf, receivedOf, rfc3339, seqOf, setSeq, sourceOf, tsOf, viewOf, type LineParts } from '../../src/line.js';

/** The parts of a line, in the order of a cooked line's fields (source aside). */
function parts(pri: number, tsBuf: Buffer, tsStart: number, tsEnd: number, dynoBuf: Buffer, dynoStart: number, dynoEnd: number, msgBuf: Buffer, msgStart: number, msgEnd: number, receivedMs: number): LineParts {
  return { pri, tsBuf, tsStart, tsEnd, dynoBuf, dynoStart, dynoEnd, msgBuf, msgStart, msgEnd, receivedMs };
}

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
  const rec = cook(parts(13, buf, 2, 4, buf, 6, 10, buf, 12, 19, 7), Buffer.from('src'));
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

test('cookIntoView writes the same bytes as cook, for every message length across the copy methods', () => {
  // fields inside one chunk (copied by words) or in buffers of their own (by bytes)
  const chunk = Buffer.alloc(600);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 131 + 7) & 0xff;
  for (let i = 0; i < chunk.length; i++) if (chunk[i] === 0x0a) chunk[i] = 0x0b; // no LF: one line either way
  const ownTs = Buffer.from('2026-01-02T03:04:05.678901+00:00', 'latin1');
  const ownDyno = Buffer.from('web.12', 'latin1');
  const out = Buffer.alloc(2048);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  for (const source of [Buffer.from('app'), Buffer.alloc(0), Buffer.from('x'.repeat(MAX_FIELD))]) {
    for (const sameBuf of [true, false]) {
      for (let n = 0; n <= 300; n += n < 20 || (n > 180 && n < 200) ? 1 : 7) {
        for (const [pos, whole] of [[0, false], [3, true]] as const) {
          const ts: [Buffer, number, number] = sameBuf ? [chunk, 5, 37] : [ownTs, 0, ownTs.length];
          const dyno: [Buffer, number, number] = sameBuf ? [chunk, 40, 45] : [ownDyno, 0, ownDyno.length];
          const ms = 1_700_000_000_123.5 + n;
          const want = cook(parts(189, ...ts, ...dyno, chunk, 50 + pos, 50 + pos + n, ms), source);
          out.fill(0xee);
          const end = cookIntoView(out, view, pos, parts(189, ...ts, ...dyno, chunk, 50 + pos, 50 + pos + n, ms), source, whole);
          assert.equal(end - pos, want.length, `length, n=${n}`);
          assert.deepEqual(out.subarray(pos + 8, end), want.subarray(8), `n=${n} pos=${pos} sameBuf=${sameBuf} source=${source.length}`);
          assert.ok(out.subarray(end).every((x) => x === 0xee), 'nothing written past the line');
          assert.ok(out.subarray(0, pos).every((x) => x === 0xee), 'nothing written before the line');
        }
      }
    }
  }
  assert.throws(() => cookIntoView(out, view, 0, parts(1, chunk, 0, MAX_FIELD + 1, chunk, 0, 1, chunk, 0, 1, 0), Buffer.from('a'), false), RangeError);
});

test('cookIntoView wholeOnly: an LF anywhere in the message, first byte to last, at every length across the copy methods, gives -1', () => {
  const out = Buffer.alloc(2048);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  const src = Buffer.from('app');
  for (let n = 1; n <= 300; n += n < 20 || (n > 180 && n < 200) || n > 250 ? 1 : 5) {
    const chunk = Buffer.alloc(64 + n + 16, 0x61);
    chunk.write('2026-01-02T03:04:05.678901+00:00 web.1 ', 0, 'latin1'); // ts [0, 32), dyno [33, 38)
    // LFs just outside the message must not count
    chunk[63] = 0x0a;
    chunk[64 + n] = 0x0a;
    const ms = 5;
    const end = cookIntoView(out, view, 1, parts(14, chunk, 0, 32, chunk, 33, 38, chunk, 64, 64 + n, ms), src, true);
    assert.deepEqual(out.subarray(9, end), cook(parts(14, chunk, 0, 32, chunk, 33, 38, chunk, 64, 64 + n, ms), src).subarray(8), `no LF, n=${n}`);
    for (let at = 64; at < 64 + n; at++) {
      chunk[at] = 0x0a;
      assert.equal(cookIntoView(out, view, 1, parts(14, chunk, 0, 32, chunk, 33, 38, chunk, 64, 64 + n, ms), src, true), -1, `n=${n} LF at ${at - 64}`);
      // without wholeOnly the LF is copied as any byte (cookMessage never hands one in)
      assert.notEqual(cookIntoView(out, view, 1, parts(14, chunk, 0, 32, chunk, 33, 38, chunk, 64, 64 + n, ms), src, false), -1);
      chunk[at] = 0x61;
    }
  }
});
