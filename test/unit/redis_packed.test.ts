// The Redis batch's packed lines (cluster/packed.ts, cluster/pending.ts):
// lines handed over inside an ingest batch or as Buffers come out of the
// append's blob byte for byte, in order, with their seqs, whatever their
// length, across segments; a loss notice first is marked in the header.
// In a node the batch copies a tick's lines out of the app's ring
// (Ring.copyNewest): routed lines, short and long, more of them between two
// ticks than the ring holds, still all come out, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineFrom, seqOf } from '../../src/line.js';
import { decodeChunk, encodeLossNotice } from '../../src/cluster/batch.js';
import { AppBatch, Chunk, blobOf, chunkOf } from '../../src/cluster/pending.js';
import { App } from '../../src/apps.js';
import { route, routeFrom } from '../../src/router.js';

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
  const segs = b.take();
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

test('routed lines are taken out of the app ring: short and long, across pages, more between two takes than the ring holds', () => {
  // a ring of 30 lines and chunks of at most 50: the batch copies out every 30 lines, before the ring drops any
  const app = new App({ id: 'ringed', uuid: 'u', createdAt: '', updatedAt: '', tokens: [], drains: [] }, 30);
  const b = new AppBatch('ringed', { nodeId: 'n1', chunkLines: 50, mark() {} }, app.ring);
  app.addSink(b);
  const sent: Buffer[] = [];
  const take = (): Buffer[] => {
    const segs = b.take();
    assert.ok(segs.every((s) => s.count <= 30), 'a segment holds at most what the ring holds');
    if (segs.length === 0) return [];
    return decodeChunk(blobOf(new Chunk(b, segs, 1)), 1)!.recs.map((r) => Buffer.from(r));
  };
  const got: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    // short lines fill pages; every 13th is longer than a page's share (a ring line of its own past 4 KiB)
    const msg = i % 13 === 0 ? 'L'.repeat(i % 2 === 0 ? 5000 + i : 1500 + i) : `line ${i} ${'m'.repeat(i % 90)}`;
    const rec = lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg, seq: 0 });
    if (i % 2 === 0) route(app, rec);
    else {
      // inside an "ingest batch" at an unaligned offset, as the ingest workers hand lines over
      const src = Buffer.concat([Buffer.alloc(5), rec]);
      routeFrom(app, new DataView(src.buffer, src.byteOffset, src.length), 5, rec.length, 0);
    }
    const kept = Buffer.from(rec);
    kept.writeDoubleLE(app.seq, 0);
    sent.push(kept);
    // takes at uneven points: after 7 lines, after 95 (three ring-fulls in between), ...
    if (i === 6 || i === 101 || i === 150 || i === 151) got.push(...take());
  }
  got.push(...take());
  assert.equal(got.length, 200, 'every routed line, none dropped by the ring');
  for (let i = 0; i < 200; i++) assert.deepEqual(got[i], sent[i], `line ${i} byte for byte, seq stamped`);
  assert.deepEqual(take(), [], 'nothing twice');
});

test('an app deleted with lines not taken: they go nowhere, and its next lines start clean', () => {
  const app = new App({ id: 'gone', uuid: 'u', createdAt: '', updatedAt: '', tokens: [], drains: [] }, 10);
  const b = new AppBatch('gone', { nodeId: 'n1', chunkLines: 50, mark() {} }, app.ring);
  app.addSink(b);
  const line = (msg: string): Buffer => lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg, seq: 0 });
  for (let i = 0; i < 25; i++) route(app, line(`old ${i}`));
  app.ring.clear();
  b.discard();
  route(app, line('new'));
  const segs = b.take();
  const recs = decodeChunk(blobOf(new Chunk(b, segs, 1)), 1)!.recs;
  assert.deepEqual(recs.map((r) => r.subarray(r.length - 3).toString()), ['new']);
});

test('a ring of one line: each routed line is copied out as it comes, none lost', () => {
  const app = new App({ id: 'one', uuid: 'u', createdAt: '', updatedAt: '', tokens: [], drains: [] }, 1);
  const b = new AppBatch('one', { nodeId: 'n1', chunkLines: 50, mark() {} }, app.ring);
  app.addSink(b);
  for (let i = 0; i < 5; i++) route(app, lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `only ${i}`, seq: 0 }));
  const segs = b.take();
  assert.equal(segs.length, 5);
  const recs = decodeChunk(blobOf(new Chunk(b, segs, 1)), 1)!.recs;
  assert.deepEqual(recs.map((r) => r.subarray(r.length - 6).toString()), ['only 0', 'only 1', 'only 2', 'only 3', 'only 4']);
});
