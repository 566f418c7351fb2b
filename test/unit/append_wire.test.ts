// The append rounds written as Redis protocol by hand (cluster/append-wire.ts)
// must be the very bytes ioredis sends for the append script's EVALSHA with
// the chunk's blob: a byte out of place and Redis refuses the command (or,
// worse, reads the next one wrong) and the lines never reach the history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'ioredis';
import { lineFrom } from '../../src/line.js';
import { encodeLossNotice } from '../../src/cluster/batch.js';
import { AppBatch, Chunk, blobOf, chunkOf } from '../../src/cluster/pending.js';
import { appendWires } from '../../src/cluster/append-wire.js';
import { APPEND_SHA } from '../../src/redis/scripts.js';

function ioredisBytes(b: AppBatch, c: Chunk, cap: number, publish: string, layout: string): Buffer {
  const args = [APPEND_SHA, 5, b.chunksKey, b.firstsKey, b.metaKey, b.sentKey, b.linesKey, cap, b.channel, publish, c.id, blobOf(c), c.lastSeq(), layout];
  const cmd = new Command('evalsha', args.map((a) => (Buffer.isBuffer(a) ? a : String(a))));
  (cmd as unknown as { bufferMode: boolean }).bufferMode = true;
  return Buffer.from(cmd.toWritable({} as never) as Buffer);
}

test('each append of a round is byte for byte the EVALSHA ioredis would send (lines across segments, a loss notice first, unicode app ids)', () => {
  const apps = ['app', 'ünïcødé-app', 'x'.repeat(100)].map((id) => new AppBatch(id, { nodeId: 'n1', chunkLines: 40, mark() {} }));
  const chunks: Chunk[] = [];
  apps.forEach((b, k) => {
    for (let i = 0; i < 100; i++) {
      const rec = lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: i % 9 === 0 ? 'y'.repeat(2000 + i) : `line ${k} ${i} ✓`, seq: 0 });
      rec.writeDoubleLE(123456789 + i, 0);
      b.offer(rec);
    }
    const c = new Chunk(b, b.packer.take(), 4 + k);
    c.id = 1000 * (k + 1);
    chunks.push(c);
  });
  const withNotice = chunkOf(apps[0]!, [encodeLossNotice(2, 17, 1700000000000), lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: 'after', seq: 9 })], 2);
  withNotice.id = 7;
  chunks.push(withNotice);
  for (const [cap, publish, layout] of [[1500, 'PUBLISH', '2'], [20, 'SPUBLISH', '1']] as const) {
    const { wires } = appendWires(chunks, cap, publish, layout);
    assert.equal(wires.length, chunks.length);
    chunks.forEach((c, i) => assert.deepEqual(wires[i], ioredisBytes(c.batch, c, cap, publish, layout), `append ${i} (cap ${cap}, ${publish}, layout ${layout})`));
  }
});
