// The append rounds written as Redis protocol by hand (cluster/append-wire.ts)
// must be the very bytes ioredis sends for the same commands (the append
// transaction, or the append script's EVALSHA with the chunk's blob): a byte
// out of place and Redis refuses the command (or, worse, reads the next one
// wrong) and the lines never reach the history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'ioredis';
import { lineFrom } from '../../src/line.js';
import { decodeLossNotice, encodeLossNotice } from '../../src/cluster/batch.js';
import { AppBatch, Chunk, blobOf, chunkOf } from '../../src/cluster/pending.js';
import { appendWires, transactionResult } from '../../src/cluster/append-wire.js';
import { APPEND_META_LUA, APPEND_META_SHA, APPEND_SHA } from '../../src/redis/scripts.js';

function commandBytes(name: string, args: Array<string | number | Buffer>): Buffer {
  const cmd = new Command(name, args.map((a) => (Buffer.isBuffer(a) ? a : String(a))));
  (cmd as unknown as { bufferMode: boolean }).bufferMode = true;
  const w = cmd.toWritable({} as never);
  return Buffer.isBuffer(w) ? Buffer.from(w) : Buffer.from(w, 'utf8');
}

/** The n of the loss notice leading c, as the bookkeeping is given it ('' when a line leads). */
function noticeN(c: Chunk): string {
  const first = c.records()[0]!;
  const n = decodeLossNotice(first);
  return n === null ? '' : String(n.n);
}

function ioredisBytes(b: AppBatch, c: Chunk, cap: number, publish: string, layout: '1' | '2'): Buffer {
  if (layout !== '2') {
    return commandBytes('evalsha', [APPEND_SHA, 7, b.chunksKey, b.firstsKey, b.metaKey, b.sentKey, b.linesKey, b.trimsKey, b.configKey, cap, b.channel, publish, c.id, blobOf(c), c.lastSeq(), layout]);
  }
  const blob = blobOf(c);
  const own = b.listened;
  const keysArgs = [7, b.chunksKey, b.firstsKey, b.metaKey, b.sentKey, b.linesKey, b.trimsKey, b.configKey, cap, b.channel, publish, c.id, c.count, c.lastSeq(), c.origin, noticeN(c), own ? '1' : '0', b.floor.epoch === 0 ? '' : b.floor.epoch, b.floor.total];
  return Buffer.concat([
    commandBytes('MULTI', []),
    commandBytes('RPUSH', [b.chunksKey, blob]),
    // the bookkeeping by its text while the node publishes, by its SHA while nobody listens
    own ? commandBytes('EVAL', [APPEND_META_LUA, ...keysArgs]) : commandBytes('EVALSHA', [APPEND_META_SHA, ...keysArgs]),
    ...(own ? [commandBytes(publish, [b.channel, blob])] : []),
    commandBytes('EXEC', []),
  ]);
}

test('each append of a round is byte for byte what ioredis would send: a transaction per chunk in layout 2 (a loss notice first too), the script in layout 1 (lines across segments, unicode app ids)', () => {
  const apps = ['app', 'ünïcødé-app', 'x'.repeat(100)].map((id) => new AppBatch(id, { nodeId: 'n1', chunkLines: 40, mark() {} }));
  const chunks: Chunk[] = [];
  apps.forEach((b, k) => {
    for (let i = 0; i < 100; i++) {
      const rec = lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: i % 9 === 0 ? 'y'.repeat(2000 + i) : `line ${k} ${i} ✓`, seq: 0 });
      rec.writeDoubleLE(123456789 + i, 0);
      b.offer(rec);
    }
    const c = new Chunk(b, b.take(), 4 + k);
    c.id = 1000 * (k + 1);
    chunks.push(c);
  });
  const withNotice = chunkOf(apps[0]!, [encodeLossNotice(2, 17, 1700000000000), lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: 'after', seq: 9 })], 2);
  withNotice.id = 7;
  chunks.push(withNotice);
  // a tick's lines copied out of an app's ring in one segment: the blob is sent from that segment, written in place
  const ringed = new AppBatch('ringed', { nodeId: 'n1', chunkLines: 40, mark() {} });
  for (let i = 0; i < 30; i++) {
    const rec = lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: i % 11 === 0 ? 'z'.repeat(4500 + i) : `ringed ${i}`, seq: 0 });
    rec.writeDoubleLE(5550000 + i, 0);
    ringed.offer(rec);
  }
  const single = new Chunk(ringed, ringed.take(), 9);
  single.id = 77;
  assert.equal(single.segs.length, 1);
  assert.ok(single.blobInPlace() !== null, 'one segment with room for the header: sent in place');
  chunks.push(single);
  // the second app had no listener at its last append: its transaction leaves PUBLISH out
  apps[1]!.listened = false;
  // what the node knows of an app's stream goes with its appends (redis/scripts.ts, EPOCH_LUA)
  apps[0]!.floor = { epoch: 1714567890123456, total: 42 };
  for (const [cap, publish, layout] of [[1500, 'PUBLISH', '2'], [20, 'SPUBLISH', '1']] as const) {
    const { wires } = appendWires(chunks, cap, publish, layout);
    assert.equal(wires.length, chunks.length);
    chunks.forEach((c, i) => {
      // one part per reply Redis gives: five for a transaction (MULTI, three QUEUED, EXEC), four without PUBLISH, one for the script
      assert.equal(wires[i]!.length, layout === '2' ? (c.batch.listened ? 5 : 4) : 1, `append ${i}: parts`);
      assert.deepEqual(Buffer.concat(wires[i]!), ioredisBytes(c.batch, c, cap, publish, layout), `append ${i} (cap ${cap}, ${publish}, layout ${layout})`);
    });
    // the loss notice's n goes to the bookkeeping as its own argument (the script never reads the blob)
    if (layout === '2') assert.ok(Buffer.concat(wires[chunks.length - 2]!).includes(Buffer.from('$2\r\n17\r\n')), "the notice's n (17) is an argument");
    // the in-place blob is the segment's own memory (not a copy in the round's buffer), and it is all of the blob
    if (layout === '2') assert.equal(wires[chunks.length - 1]![1]!.buffer, single.segs[0]!.buf.buffer);
  }
});

test("a transaction's outcome: its bookkeeping's reply when EXEC ran, else the first refusal (a redirect stays a redirect), else EXEC's own error", () => {
  const ok: [Error | null, unknown] = [null, 'OK'];
  const queued: [Error | null, unknown] = [null, 'QUEUED'];
  const replyError = (m: string): Error => Object.assign(new Error(m), { name: 'ReplyError' });
  // ran: what the bookkeeping returned ({total, subscribers}), after RPUSH's reply
  assert.deepEqual(transactionResult([ok, queued, queued, queued, [null, [3, [1500, 2], 0]]], 0), [null, [1500, 2]]);
  // ran without PUBLISH: four replies
  assert.deepEqual(transactionResult([ok, queued, queued, [null, [3, [1500, 0]]]], 0, 4), [null, [1500, 0]]);
  assert.deepEqual(transactionResult([ok, queued, queued, [null, [3, [1500, 0]]], ok, queued, queued, queued, [null, [3, [2000, 1], 0]]], 4), [null, [2000, 1]]);
  // ran, offset in a round of several
  assert.deepEqual(transactionResult([[null, 7], ok, queued, queued, queued, [null, [4, -1, 0]]], 1), [null, -1]);
  // the bookkeeping failed inside EXEC: that error (a script Redis does not hold fails there too, after the RPUSH ran)
  const wrongType = replyError('WRONGTYPE Operation against a key holding the wrong kind of value');
  assert.deepEqual(transactionResult([ok, queued, queued, queued, [null, [3, wrongType, 0]]], 0), [wrongType, null]);
  const noScript = replyError('NOSCRIPT No matching script. Please use EVAL.');
  assert.deepEqual(transactionResult([ok, queued, queued, [null, [3, noScript]]], 0, 4), [noScript, null]);
  // refused when queued (a slot moved): the MOVED, not the EXECABORT that follows
  const moved = replyError('MOVED 1234 127.0.0.1:7001');
  const execAbort = replyError('EXECABORT Transaction discarded because of previous errors.');
  assert.deepEqual(transactionResult([ok, [moved, null], [moved, null], [moved, null], [execAbort, null]], 0), [moved, null]);
  // the connection dropped: every reply is the connection's error
  const gone = new Error('Connection is closed.');
  assert.deepEqual(transactionResult([[gone, null], [gone, null], [gone, null], [gone, null], [gone, null]], 0), [gone, null]);
  // EXEC alone failed (OOM checked at EXEC)
  const oom = replyError("OOM command not allowed when used memory > 'maxmemory'.");
  assert.deepEqual(transactionResult([ok, queued, queued, queued, [oom, null]], 0), [oom, null]);
});
