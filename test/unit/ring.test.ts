// Ring (per-app history): every read is compared against a plain array model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAGE } from '../../src/buffer/pages.js';
import { Ring } from '../../src/buffer/ring.js';
import { lineFrom, msgOf, seqOf } from '../../src/line.js';

/** Small deterministic PRNG (mulberry32). */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

/** A line whose message bytes depend on its seq, so a mix-up cannot go unseen. */
function line(seq: number, msgLen: number): Buffer {
  const msg = Buffer.allocUnsafe(msgLen);
  for (let i = 0; i < msgLen; i++) msg[i] = (seq * 31 + i * 7) & 0xff;
  return lineFrom({ pri: 190, ts: '2026-01-02T03:04:05.000000+00:00', source: 'app', dyno: 'web.1', msg, seq, receivedMs: 1 });
}

class Model {
  readonly lines: Buffer[] = [];
  constructor(readonly capacity: number) {}
  push(rec: Buffer): void {
    this.lines.push(Buffer.from(rec));
    if (this.lines.length > this.capacity) this.lines.shift();
  }
}

function check(ring: Ring, model: Model, what: string): void {
  const m = model.lines;
  assert.equal(ring.count, m.length, `${what}: count`);
  let bytes = 0;
  for (let i = 0; i < m.length; i++) {
    bytes += m[i]!.length;
    if (!ring.at(i).equals(m[i]!)) assert.fail(`${what}: line ${i} of ${m.length} (seq ${seqOf(m[i]!)}) differs`);
  }
  assert.equal(ring.liveBytes, bytes, `${what}: liveBytes`);
  if (m.length > 0) {
    assert.equal(ring.firstSeq, seqOf(m[0]!), `${what}: firstSeq`);
    assert.equal(ring.lastSeq, seqOf(m[m.length - 1]!), `${what}: lastSeq`);
  }
}

test('empty ring', () => {
  const r = new Ring(5);
  assert.equal(r.count, 0);
  assert.equal(r.lastSeq, 0);
  assert.equal(r.firstSeq, 1);
  assert.equal(r.indexAfter(0), 0);
  assert.equal(r.indexAfter(10), 0);
  assert.deepEqual(r.tail(3), []);
  assert.equal(r.liveBytes, 0);
  r.lastSeq = 41;
  assert.equal(r.lastSeq, 41);
  assert.equal(r.firstSeq, 42);
});

test('bad capacity and oversized records are refused', () => {
  for (const c of [0, -1, 1.5, Number.NaN]) assert.throws(() => new Ring(c), RangeError);
  const r = new Ring(3);
  assert.throws(() => r.push(Buffer.alloc(0x10000)), RangeError);
  assert.equal(r.count, 0);
});

test('capacity bound: the oldest drop out, the count is exact', () => {
  const r = new Ring(3);
  const model = new Model(3);
  for (let seq = 1; seq <= 10; seq++) {
    const rec = line(seq, 5);
    r.push(rec);
    model.push(rec);
    assert.equal(r.count, Math.min(seq, 3));
    check(r, model, `after seq ${seq}`);
  }
  assert.equal(r.firstSeq, 8);
  assert.equal(r.lastSeq, 10);
  assert.deepEqual([0, 1, 2].map((i) => seqOf(r.at(i))), [8, 9, 10]);
});

test('indexAfter: consecutive and gapped seqs', () => {
  const r = new Ring(3);
  for (let seq = 1; seq <= 10; seq++) r.push(line(seq, 3));
  assert.deepEqual([0, 5, 7, 8, 9, 10, 11, 1e9].map((s) => r.indexAfter(s)), [0, 0, 0, 1, 2, 3, 3, 3]);

  const g = new Ring(100);
  for (let seq = 2; seq <= 40; seq += 2) g.push(line(seq, 3)); // 2, 4, ..., 40
  for (let after = 0; after <= 45; after++) {
    const want = after < 2 ? 0 : Math.min(20, Math.floor(after / 2));
    assert.equal(g.indexAfter(after), want, `after ${after}`);
  }
});

test('tail(n) returns copies, oldest first, that survive later pushes', () => {
  const r = new Ring(4);
  for (let seq = 1; seq <= 6; seq++) r.push(line(seq, 10 + seq));
  const t = r.tail(2);
  const all = r.tail(100);
  assert.deepEqual(t.map(seqOf), [5, 6]);
  assert.deepEqual(all.map(seqOf), [3, 4, 5, 6]);
  assert.deepEqual(r.tail(0), []);
  const want = t.map((b) => Buffer.from(b));
  // overwrite every slot several times, with bigger lines to force resizes
  for (let seq = 7; seq <= 40; seq++) r.push(line(seq, seq * 50));
  assert.deepEqual(t, want);
  assert.ok(t[0]!.equals(line(5, 15)));
  assert.ok(msgOf(t[1]!).equals(msgOf(line(6, 16))));
});

test('clear() empties the ring; it keeps working afterwards', () => {
  const r = new Ring(3);
  for (let seq = 1; seq <= 5; seq++) r.push(line(seq, 100));
  r.clear();
  assert.equal(r.count, 0);
  assert.equal(r.liveBytes, 0);
  const model = new Model(3);
  for (let seq = 6; seq <= 12; seq++) {
    const rec = line(seq, 7 * seq);
    r.push(rec);
    model.push(rec);
    check(r, model, `after clear, seq ${seq}`);
  }
});

/** Push n lines with sizes from size(); compare against the model after every push or every `every` pushes. */
function soak(capacity: number, n: number, size: (seq: number) => number, every: number, seed: string): void {
  const r = new Ring(capacity);
  const model = new Model(capacity);
  for (let seq = 1; seq <= n; seq++) {
    const rec = line(seq, size(seq));
    r.push(rec);
    model.push(rec);
    if (seq % every === 0 || seq === n) check(r, model, `${seed} cap ${capacity} seq ${seq}`);
    else {
      // the newest is always readable right after its push
      assert.ok(r.at(r.count - 1).equals(rec));
    }
  }
}

test('lines of very different sizes read back byte-identical (capacity 1, 2, 3, 64, 65)', () => {
  for (const capacity of [1, 2, 3, 64, 65]) {
    const rnd = prng(capacity);
    soak(capacity, 3000, () => (rnd(4) === 0 ? 1 + rnd(10_000) : 1 + rnd(300)), 1, `mixed-${capacity}`);
    const rnd2 = prng(capacity + 100);
    soak(capacity, 1500, () => 1 + rnd2(10_000), 1, `uniform-${capacity}`);
  }
});

test('lines of very different sizes read back byte-identical (capacity 1500, many wrap-arounds)', () => {
  const rnd = prng(1500);
  // phases: small lines, huge lines, a random mix, tiny lines again (forces growth, wraps and shrinks)
  const phase = (seq: number): number => {
    const p = Math.floor(seq / 2500) % 4;
    if (p === 0) return 1 + rnd(200);
    if (p === 1) return 5000 + rnd(5001);
    if (p === 2) return rnd(10) === 0 ? 1 + rnd(10_000) : 1 + rnd(500);
    return 1 + rnd(8);
  };
  soak(1500, 20_000, phase, 97, 'phased');
  const rnd2 = prng(7);
  soak(1500, 6000, () => (rnd2(50) === 0 ? 10_000 : 1 + rnd2(120)), 250, 'spiky');
});

test('memory stays close to the bytes held once full (similar-size lines)', () => {
  for (const [capacity, base] of [[1500, 60], [1500, 200], [1500, 1500], [100, 5000], [1500, 8]] as const) {
    const rnd = prng(capacity * base);
    const r = new Ring(capacity);
    let seq = 0;
    let worst = 0;
    for (let round = 0; round < 6; round++) {
      for (let k = 0; k < capacity; k++) {
        r.push(line(++seq, base + rnd(Math.ceil(base / 10) + 1)));
        if (round < 2) continue; // full and wrapped at least once
        // pages: at most one partly used page per ring beyond 1.3x; offsets: 8 B/line
        worst = Math.max(worst, r.memoryBytes / (1.3 * r.liveBytes + 8 * r.count + PAGE));
      }
    }
    assert.ok(worst <= 1, `capacity ${capacity}, ~${base}-byte messages: memory ${(worst * 100).toFixed(1)}% of 1.3 x live + 8 B/line + one page`);
  }
});
