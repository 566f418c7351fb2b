// The Redis batch's packed lines (cluster/packed.ts, cluster/pending.ts):
// lines handed over inside an ingest batch or as Buffers come out of the
// append's blob byte for byte, in order, with their seqs, whatever their
// length, across segments; a loss notice first is marked in the header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineFrom, seqOf } from '../../src/line.js';
import { decodeChunk, encodeLossNotice } from '../../src/cluster/batch.js';
import { AppBatch, Chunk, blobOf, chunkOf } from '../../src/cluster/pending.js';

function batch(): AppBatch {
  return new AppBatch('app', { nodeId: 'n1', chunkLines: 50, mark() {} });
}

test('lines offered from an ingest batch and as Buffers come out of the blob in order, seqs stamped, short and long', () => {
  const b = batch();
  const lines: Buffer[] = [];
  for (let i = 0; i < 120; i++) {
    // some lines longer than a word-by-word copy handles, some short
    const msg = i % 7 === 0 ? 'x'.repeat(3000 + i) : `line ${i}`;
    lines.push(lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg, seq: 0 }));
  }
  // half of them inside one "ingest batch" at unaligned offsets, seq given apart
  const src = Buffer.concat([Buffer.alloc(3), ...lines.slice(0, 60)]);
  const view = new DataView(src.buffer, src.byteOffset, src.length);
  let pos = 3;
  for (let i = 0; i < 60; i++) {
    b.offerFrom(view, pos, lines[i]!.length, 1000 + i);
    pos += lines[i]!.length;
  }
  for (let i = 60; i < 120; i++) {
    const rec = Buffer.from(lines[i]!);
    rec.writeDoubleLE(1000 + i, 0);
    b.offer(rec);
  }
  const segs = b.packer.take();
  assert.ok(segs.every((s) => s.count <= 50), 'a segment holds at most chunkLines lines');
  const c = new Chunk(b, segs, 7);
  assert.equal(c.count, 120);
  assert.equal(c.lastSeq(), 1119);
  const got = decodeChunk(blobOf(c), 1);
  assert.ok(got);
  assert.equal(got.origin, 7);
  assert.equal(got.recs.length, 120);
  for (let i = 0; i < 120; i++) {
    assert.equal(seqOf(got.recs[i]!), 1000 + i);
    assert.deepEqual(got.recs[i]!.subarray(8), lines[i]!.subarray(8), `line ${i} byte for byte`);
  }
  assert.deepEqual(c.records().map((r) => seqOf(r)), got.recs.map((r) => seqOf(r)));
  assert.equal(blobOf(c)[1], 0, 'no loss notice');
  assert.equal(c.lines, 120);
});

test('a loss notice first: kind 1 in the header, not counted as a line', () => {
  const b = batch();
  const notice = encodeLossNotice(3, 42, 1234);
  const line = lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: 'after', seq: 5 });
  const c = chunkOf(b, [notice, line], 3);
  assert.equal(c.firstIsNotice(), true);
  assert.equal(c.lines, 1);
  const blob = blobOf(c);
  assert.equal(blob[1], 1);
  const got = decodeChunk(blob, 10)!;
  assert.deepEqual(got.recs, [notice, line]);
});
