// The append round of one endpoint written as Redis protocol (RESP) by hand:
// one EVALSHA of the append script per chunk, all of them in one pooled
// buffer, each chunk's packed segments copied straight into it (the only
// copy of a line's bytes between the ingest worker's batch and the socket:
// no blob, and none of ioredis' copies, redis/prebuilt.ts). The bytes are
// exactly those ioredis would send for
// `lpAppend(chunks, firsts, meta, sent, lines, cap, channel, publish, id, blob, highestSeq, layout)`.
import type { Redis } from 'ioredis';
import { APPEND_SHA } from '../redis/scripts.js';
import { sendPrebuilt } from '../redis/prebuilt.js';
import { giveBuffer, takeBuffer } from './packed.js';
import { blobBytesOf, writeBlob, type AppBatch, type Chunk } from './pending.js';

function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

/** The fixed start of an app's appends: command, script, keys, cap, channel, publish. */
function headOf(b: AppBatch, cap: number, publish: string): Buffer {
  const key = `${cap}:${publish}`;
  if (b.wireHead !== null && b.wireHeadKey === key) return b.wireHead;
  const s = `*15\r\n$7\r\nevalsha\r\n${bulk(APPEND_SHA)}$1\r\n5\r\n` + [b.chunksKey, b.firstsKey, b.metaKey, b.sentKey, b.linesKey, String(cap), b.channel, publish].map(bulk).join('');
  b.wireHead = Buffer.from(s, 'utf8');
  b.wireHeadKey = key;
  return b.wireHead;
}

/** Send one append per chunk (ids given), in order: each one's [error, reply], as a pipeline resolves. */
export async function sendAppends(r: Redis, chunks: readonly Chunk[], cap: number, publish: string, layout: '1' | '2'): Promise<Array<[Error | null, unknown]>> {
  const { pooled, wires } = appendWires(chunks, cap, publish, layout);
  const results = await sendPrebuilt(r, 'evalsha', wires);
  // reused only when Redis answered every command (it has read all these bytes); after a timeout or a dropped connection the socket may still hold some
  if (results.every(([err]) => err === null || err.name === 'ReplyError')) giveBuffer(pooled);
  return results;
}

/** The appends' commands, one slice each of one pooled buffer. */
export function appendWires(chunks: readonly Chunk[], cap: number, publish: string, layout: '1' | '2'): { pooled: ReturnType<typeof takeBuffer>; wires: Buffer[] } {
  let bytes = 0;
  for (const c of chunks) {
    bytes += headOf(c.batch, cap, publish).length + blobBytesOf(c) + 96;
  }
  const pooled = takeBuffer(bytes);
  const buf = pooled.buf;
  const wires: Buffer[] = [];
  let p = 0;
  for (const c of chunks) {
    const start = p;
    p += headOf(c.batch, cap, publish).copy(buf, p);
    p += buf.write(bulk(String(c.id)), p, 'latin1');
    p += buf.write(`$${blobBytesOf(c)}\r\n`, p, 'latin1');
    p = writeBlob(c, buf, p);
    p += buf.write(`\r\n${bulk(String(c.lastSeq()))}${bulk(layout)}`, p, 'latin1');
    wires.push(buf.subarray(start, p));
  }
  return { pooled, wires };
}
