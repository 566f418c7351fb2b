// The Redis write queue's overflow (cluster/pending.ts): when it drops its
// oldest records, the count it reports (logplane_redis_lines_dropped_total
// {reason="overflow"}) is of lines. A loss notice dropped with them is no
// line: its n is announced again by the next notice, so counting the notice
// too would report more lines lost than the streams' gaps ever show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineFrom } from '../../src/line.js';
import { encodeLossNotice } from '../../src/cluster/batch.js';
import { AppBatch, ChunkQueue, chunkOf } from '../../src/cluster/pending.js';

const line = (i: number): Buffer => lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `line ${i}`, seq: i + 1 });

test('the overflow counts the lines it drops, not the loss notices dropped with them', () => {
  const b = new AppBatch('app', { nodeId: 'n1', chunkLines: 100, mark() {} });
  const q = new ChunkQueue();
  // a chunk sent once (a re-send keeps it whole): a notice of 7 lines, then 3 lines
  const sent = chunkOf(b, [encodeLossNotice(1, 7, 1700000000000), line(0), line(1), line(2)], 1);
  sent.id = 5;
  q.push(sent);
  // a chunk never sent: a notice of 2 lines, then 4 lines
  q.push(chunkOf(b, [encodeLossNotice(1, 2, 1700000000000), line(3), line(4), line(5), line(6)], 1));
  const given: Buffer[][] = [];
  // the whole first chunk and the front of the second (its notice and one line) go
  const dropped = q.dropOldest(3, (_b, recs) => given.push(recs));
  assert.equal(dropped, 3 + 1, 'lines dropped: three of the first chunk, one of the second');
  assert.equal(given.flat().length, 4 + 2, 'every dropped record is handed over (the notices carry their n)');
  assert.equal(q.lines, 3);
});
