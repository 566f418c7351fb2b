// Ring (per-app history): every read is compared against a plain array model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAGE, PagePool, SMALL_PAGE } from '../../src/buffer/pages.js';
import { LARGE_LINE, Ring } from '../../src/buffer/ring.js';
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

/**
 * The records laid out as a worker's batch ([u32 slot][u32 len][record]...),
 * at an odd offset inside a bigger ArrayBuffer, each record's seq bytes
 * overwritten with junk (route() stamps the seq, not the worker).
 */
function batchOf(recs: Buffer[], lead: number): { batch: Buffer; view: DataView; pos: number[] } {
  const total = lead + recs.reduce((n, r) => n + 8 + r.length, 0) + 3;
  const whole = Buffer.alloc(total, 0xa5);
  const batch = whole.subarray(lead, total - 3);
  const pos: number[] = [];
  let p = 0;
  for (const r of recs) {
    batch.writeUInt32LE(7, p);
    batch.writeUInt32LE(r.length, p + 4);
    r.copy(batch, p + 8);
    batch.fill(0xff, p + 8, p + 16); // a NaN pattern where the seq goes
    pos.push(p + 8);
    p += 8 + r.length;
  }
  return { batch, view: new DataView(batch.buffer, batch.byteOffset, batch.length), pos };
}

test('pushFrom: same lines, seqs and eviction as push, across page boundaries and large lines', () => {
  for (const capacity of [1, 2, 3, 64, 65, 1500]) {
    const rnd = prng(capacity * 3 + 1);
    const viaPush = new Ring(capacity);
    const viaFrom = new Ring(capacity);
    const model = new Model(capacity);
    let seq = 0;
    for (let round = 0; round < 12; round++) {
      // a batch: mostly ~100-200-byte lines (pages fill up and change), some large ones, some at the large threshold
      const recs: Buffer[] = [];
      const n = 1 + rnd(400);
      for (let k = 0; k < n; k++) {
        const kind = rnd(40);
        const msgLen = kind === 0 ? 5000 + rnd(5001) : kind === 1 ? LARGE_LINE - 60 + rnd(8) : 60 + rnd(140);
        recs.push(line(++seq, msgLen));
      }
      const { batch, view, pos } = batchOf(recs, rnd(16));
      const before = Buffer.from(batch);
      for (let k = 0; k < recs.length; k++) {
        const rec = recs[k]!;
        viaPush.push(rec);
        viaFrom.pushFrom(view, pos[k]!, rec.length, seqOf(rec));
        model.push(rec);
        assert.equal(viaFrom.lastSeq, seqOf(rec));
        assert.ok(viaFrom.at(viaFrom.count - 1).equals(rec), `cap ${capacity} seq ${seqOf(rec)}: newest line`);
      }
      assert.ok(batch.equals(before), 'the batch is left as it was');
      check(viaFrom, model, `pushFrom cap ${capacity} round ${round}`);
      check(viaPush, model, `push cap ${capacity} round ${round}`);
      assert.equal(viaFrom.memoryBytes, viaPush.memoryBytes, `cap ${capacity}: same memory`);
    }
  }
});

test('pushFrom refuses records the ring cannot hold or stamp; the largest it can hold reads back', () => {
  const r = new Ring(3);
  const v = new DataView(new ArrayBuffer(0x10010));
  assert.throws(() => r.pushFrom(v, 0, 0x10000, 1), RangeError);
  assert.throws(() => r.pushFrom(v, 0, 7, 1), RangeError);
  assert.equal(r.count, 0);
  assert.equal(r.lastSeq, 0);
  const small = line(1, 10);
  const biggest = line(2, 0xffff - small.length + 10); // 65,535 bytes: the length fills all 16 bits of the index
  assert.equal(biggest.length, 0xffff);
  const { view, pos } = batchOf([small, biggest], 1);
  r.pushFrom(view, pos[0]!, small.length, 1);
  r.pushFrom(view, pos[1]!, biggest.length, 2);
  r.push(biggest);
  assert.ok(r.at(0).equals(small));
  assert.ok(r.at(1).equals(biggest));
  assert.ok(r.at(2).equals(biggest));
  assert.equal(r.liveBytes, small.length + 2 * 0xffff);
});

test('bytes that read as NaN doubles are copied exactly, at every alignment', () => {
  // 8-byte groups that are NaNs (signalling, quiet, V8's hole NaN) if a copy went through a double
  const nans = ['010000000000f07f', '000000000000f87f', 'fff7fffffff7ffff', 'ffffffffffffffff', '05000000000000ff', '0000000001f0ff7f'];
  const msg = Buffer.concat([Buffer.from('x'), ...nans.map((h) => Buffer.from(h, 'hex')), Buffer.from(nans[0]!, 'hex')]);
  const r = new Ring(10_000);
  const model = new Model(10_000);
  let seq = 0;
  for (let rep = 0; rep < 300; rep++) {
    // shift the message by 0..15 bytes so the NaN groups meet every alignment of source and destination
    const rec = line(++seq, 1);
    const shifted = lineFrom({ pri: 1, ts: '', source: 'a', dyno: '', msg: Buffer.concat([Buffer.alloc(rep % 16, 0x20), msg]), seq, receivedMs: 1 });
    const { view, pos } = batchOf([rec, shifted], rep % 9);
    r.pushFrom(view, pos[0]!, rec.length, seq);
    r.pushFrom(view, pos[1]!, shifted.length, seq);
    r.push(shifted);
    model.push(rec);
    model.push(shifted);
    model.push(shifted);
  }
  check(r, model, 'NaN patterns');
});

test('pages go back to the pool when their last line drops out, never earlier (rings sharing a pool)', () => {
  const pool = new PagePool();
  const rnd = prng(99);
  const rings = [1, 5, 40, 300].map((cap) => ({ r: new Ring(cap, pool), m: new Model(cap) }));
  let seq = 0;
  const held = (): number => rings.reduce((n, { r }) => n + r.pagesHeld, 0);
  /** Take every free page out of the pool (and put them back): no live line may be on one of them. */
  const checkFreePages = (what: string): void => {
    const free: number[] = [];
    while (pool.freePages > 0) free.push(pool.acquire(pool.freeSmallPages > 0));
    const freeAt = new Map<ArrayBufferLike, Array<[number, number]>>(); // block -> [start, end) of its free pages
    for (const n of free) {
      const p = pool.pages[n]!;
      if (!freeAt.has(p.buffer)) freeAt.set(p.buffer, []);
      freeAt.get(p.buffer)!.push([p.byteOffset, p.byteOffset + p.length]);
    }
    for (const n of free.reverse()) pool.release(n);
    for (const { r } of rings) {
      for (let i = 0; i < r.count; i++) {
        const v = r.at(i);
        if (freeAt.get(v.buffer)?.some(([a, b]) => v.byteOffset >= a && v.byteOffset < b)) assert.fail(`${what}: line ${i} of a ring is on a free page`);
      }
    }
  };
  for (let k = 0; k < 30_000; k++) {
    const { r, m } = rings[rnd(rings.length)]!;
    const rec = line(++seq, 50 + rnd(400));
    if (k % 2 === 0) r.push(rec);
    else r.pushFrom(new DataView(rec.buffer, rec.byteOffset, rec.length), 0, rec.length, seqOf(rec));
    m.push(rec);
    if (k % 3 === 0) checkFreePages(`push ${k}`);
    if (k % 100 === 0) {
      for (const x of rings) check(x.r, x.m, `shared pool, push ${k}`);
      assert.equal(pool.freePages + held(), pool.pages.length, 'every page is free or held by one ring');
      // a ring holds at most the pages its lines span plus the one it fills (and its small first page)
      for (const { r: x } of rings) assert.ok(x.pagesHeld <= Math.ceil(x.liveBytes / (PAGE - 450)) + 3);
    }
  }
  for (const { r } of rings) r.clear();
  assert.equal(pool.freePages, pool.pages.length, 'all pages back after clear()');
});

test('a ring starts on a small page and goes on with full ones; an app of a few lines holds 2 KiB of pages, not 16', () => {
  const pool = new PagePool();
  const r = new Ring(1500, pool);
  let seq = 0;
  for (let i = 0; i < 10; i++) r.push(line(++seq, 120));
  assert.ok(r.liveBytes <= SMALL_PAGE, `${r.liveBytes} bytes`);
  assert.equal(r.pagesHeld, 1);
  assert.equal(r.memoryBytes - 64 * 2 * 4, SMALL_PAGE, 'one small page (and the index of 64 slots)');
  // past the small page: full pages; every line still reads back
  const model = new Model(1500);
  const r2 = new Ring(1500, pool);
  for (let i = 0; i < 3000; i++) {
    const rec = line(++seq, 100 + (i % 300));
    r2.push(rec);
    model.push(rec);
  }
  check(r2, model, 'past the small page');
  // once its lines have all dropped out, the small page is back in the pool and the ring holds full pages only
  assert.ok(r2.memoryBytes - r2.liveBytes < 2 * PAGE + 1500 * 8 + SMALL_PAGE, `memory ${r2.memoryBytes} for ${r2.liveBytes} live bytes`);
  // a line longer than a small page starts a ring on a full page
  const r3 = new Ring(10, pool);
  r3.push(line(++seq, SMALL_PAGE + 100));
  assert.equal(r3.memoryBytes - 10 * 2 * 4, PAGE);
  for (const x of [r, r2, r3]) x.clear();
  assert.equal(pool.freePages, pool.pages.length, 'all pages back after clear()');
  assert.equal(pool.allocatedBytes, 2 << 20, 'one 1 MiB block of each size');
});
