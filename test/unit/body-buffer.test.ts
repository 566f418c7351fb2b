// The lean HTTP front's body buffer (src/ingest/http-front.ts): it grows as bytes
// arrive, never beyond twice what arrived (or BODY_START), and ends as the body exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BODY_START, BodyBuffer } from '../../src/ingest/http-front.js';

test('a body read in small pieces reserves at most twice what arrived (or BODY_START), and ends as the body exactly', () => {
  const want = randomBytes(1_000_003);
  const b = new BodyBuffer(want.length);
  for (let at = 0; at < want.length; at += 997) {
    b.add(want.subarray(at, at + 997));
    assert.ok(b.reserved <= Math.max(2 * b.got, BODY_START), `${b.reserved} reserved for ${b.got} arrived`);
  }
  assert.equal(b.got, want.length);
  assert.deepEqual(b.body, want);
  // a buffer of its own: handed to a worker without a copy
  assert.equal(b.body.byteOffset, 0);
  assert.equal(b.body.buffer.byteLength, want.length);
});

test('a declared size that has not arrived reserves BODY_START at most; a small body just its size', () => {
  const big = new BodyBuffer(8 * 1024 * 1024);
  big.add(Buffer.from('x'));
  assert.equal(big.reserved, BODY_START);
  const small = new BodyBuffer(100);
  small.add(Buffer.alloc(60));
  small.add(Buffer.alloc(40));
  assert.equal(small.reserved, 100);
  assert.equal(small.body.length, 100);
});

test('a body in one piece, or two, is allocated once', () => {
  const one = new BodyBuffer(300_000);
  one.add(Buffer.alloc(300_000, 1));
  assert.equal(one.reserved, 300_000);
  const two = new BodyBuffer(120_000);
  two.add(Buffer.alloc(65_000, 1));
  assert.equal(two.reserved, 120_000);
});

test('bytes past the declared size are counted, not stored (the request is then a mismatch)', () => {
  const b = new BodyBuffer(10);
  b.add(Buffer.alloc(8));
  b.add(Buffer.alloc(8));
  assert.equal(b.got, 16);
  assert.ok(b.reserved <= 10);
});
