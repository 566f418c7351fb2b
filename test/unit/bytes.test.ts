// The hot-path byte helpers against plain reference loops: every length across
// the word steps (8 bytes) and the switch to native calls, every position of
// the byte sought, bytes with the high bit set (words read as negative ints),
// and neighbours of the byte sought (borrows in the word test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SEARCH_WORDS_MAX, copyWords, indexOfByte, wordView } from '../../src/basics/bytes.js';

function refIndexOf(buf: Uint8Array, b: number, start: number, end: number): number {
  for (let i = start; i < end; i++) if (buf[i] === b) return i;
  return -1;
}

test('indexOfByte: every length and position, bounded by end', () => {
  for (const [b, fill] of [
    [0x0a, 0x0b],
    [0x0a, 0x09],
    [0x20, 0xa0],
    [0x20, 0x21],
    [0x0a, 0x00],
    [0xff, 0xfe],
    [0x00, 0x01],
  ] as const) {
    for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 57, 64, SEARCH_WORDS_MAX - 1, SEARCH_WORDS_MAX, SEARCH_WORDS_MAX + 1, 300]) {
      for (const off of [0, 1, 3, 5]) {
        // the byte sought sits right after the range too: it must not be found
        const buf = Buffer.alloc(off + n + 9, fill);
        buf[off + n] = b;
        const wanted = n === 0 ? -1 : refIndexOf(buf, b, off, off + n);
        assert.equal(wanted, -1);
        assert.equal(indexOfByte(buf, b, off, off + n), -1, `none in ${n} bytes at ${off}`);
        for (let at = off; at < off + n; at++) {
          buf[at] = b;
          assert.equal(indexOfByte(buf, b, off, off + n), at, `b=${b} fill=${fill} n=${n} off=${off} at=${at}`);
          // a second one later changes nothing
          if (at + 3 < off + n) {
            buf[at + 3] = b;
            assert.equal(indexOfByte(buf, b, off, off + n), at);
            buf[at + 3] = fill;
          }
          buf[at] = fill;
        }
      }
    }
  }
});

test('indexOfByte: random bytes against a byte loop', () => {
  let seed = 12345;
  const rnd = (m: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % m;
  };
  const buf = Buffer.alloc(4096);
  for (let i = 0; i < buf.length; i++) buf[i] = rnd(3) === 0 ? 0x0a + rnd(3) - 1 : rnd(256);
  for (let k = 0; k < 20_000; k++) {
    const s = rnd(buf.length);
    const e = s + rnd(Math.min(buf.length - s, 400) + 1);
    const b = [0x0a, 0x20, 0x80, 0xff, 0x00][k % 5]!;
    assert.equal(indexOfByte(buf, b, s, e), refIndexOf(buf, b, s, e), `b=${b} [${s}, ${e})`);
  }
});

test('copyWords: every length up to 200 at odd offsets; nothing outside the range written', () => {
  const src = Buffer.alloc(400);
  for (let i = 0; i < src.length; i++) src[i] = (i * 37 + 11) & 0xff;
  for (let n = 0; n <= 200; n++) {
    for (const [s, p] of [
      [0, 0],
      [3, 1],
      [1, 6],
      [7, 5],
    ] as const) {
      const dst = Buffer.alloc(410, 0xee);
      const sv = new DataView(src.buffer, src.byteOffset, src.length);
      const dv = new DataView(dst.buffer, dst.byteOffset, dst.length);
      assert.equal(copyWords(sv, s, s + n, dv, p), n);
      assert.deepEqual(dst.subarray(p, p + n), src.subarray(s, s + n), `n=${n} s=${s} p=${p}`);
      assert.ok(dst.subarray(0, p).every((x) => x === 0xee), `before, n=${n}`);
      assert.ok(dst.subarray(p + n).every((x) => x === 0xee), `after, n=${n}`);
    }
  }
});

test('wordView: a view of exactly the buffer, renewed when the buffer changes', () => {
  const big = Buffer.from('0123456789abcdef', 'latin1');
  const a = big.subarray(4, 12);
  const va = wordView(a);
  assert.equal(wordView(a), va, 'same buffer, same view');
  assert.equal(va.byteLength, 8);
  assert.equal(va.getUint8(0), 0x34);
  const b = big.subarray(8);
  const vb = wordView(b);
  assert.notEqual(vb, va);
  assert.equal(vb.getUint8(0), 0x38);
  assert.equal(vb.byteLength, 8);
});
