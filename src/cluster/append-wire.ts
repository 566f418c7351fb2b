// The append round of one endpoint written as Redis protocol (RESP) by hand,
// in one pooled buffer: the commands, and each chunk's blob, which is sent
// from the chunk's own segment when the lines were copied out of the app's
// ring into one (the only copy of a line's bytes between the ring and the
// socket), else copied in from its segments (none of ioredis' copies,
// redis/prebuilt.ts).
//
// In layout 2 a chunk is one transaction whose blob never enters Lua
// (redis/scripts.ts, APPEND_META_LUA): MULTI, RPUSH of the blob, the
// bookkeeping (EVALSHA while nobody listens to the app; EVAL and then
// PUBLISH of the blob, its bytes written once and sent twice, while someone
// does), EXEC. In the previous release's layout (upgrades) a chunk is one
// EVALSHA of the append script, the bytes ioredis would send for
// `lpAppend(chunks, firsts, meta, sent, lines, trims, config, cap, channel, publish, id, blob, highestSeq, layout)`.
import type { Redis } from 'ioredis';
import { APPEND_META_LUA, APPEND_META_SHA, APPEND_SHA } from '../redis/scripts.js';
import { sendPrebuilt } from '../redis/prebuilt.js';
import { giveBuffer, takeBuffer } from './packed.js';
import { blobBytesOf, writeBlob, type AppBatch, type Chunk } from './pending.js';

function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

/** The fixed start of an app's appends by the script: command, script, keys, cap, channel, publish. */
function headOf(b: AppBatch, cap: number, publish: string): Buffer {
  const key = `${cap}:${publish}`;
  if (b.wireHead !== null && b.wireHeadKey === key) return b.wireHead;
  const s = `*17\r\n$7\r\nevalsha\r\n${bulk(APPEND_SHA)}$1\r\n7\r\n` + [b.chunksKey, b.firstsKey, b.metaKey, b.sentKey, b.linesKey, b.trimsKey, b.configKey, String(cap), b.channel, publish].map(bulk).join('');
  b.wireHead = Buffer.from(s, 'utf8');
  b.wireHeadKey = key;
  return b.wireHead;
}

type TxWire = NonNullable<AppBatch['txWire']>;

/** The fixed parts of an app's append transactions (around each chunk's blob, id, count, seq, origin and notice). */
function txOf(b: AppBatch, cap: number, publish: string): TxWire {
  const key = `${cap}:${publish}`;
  if (b.txWire !== null && b.txWire.key === key) return b.txWire;
  const rest = [b.chunksKey, b.firstsKey, b.metaKey, b.sentKey, b.linesKey, b.trimsKey, b.configKey, String(cap), b.channel, publish].map(bulk).join('');
  b.txWire = {
    key,
    push: Buffer.from(`*1\r\n$5\r\nMULTI\r\n*3\r\n$5\r\nRPUSH\r\n${bulk(b.chunksKey)}`, 'utf8'),
    // after the blob: the bookkeeping by SHA (nobody listens: no PUBLISH) or by its text (the node publishes)
    bySha: Buffer.from(`\r\n*21\r\n$7\r\nEVALSHA\r\n${bulk(APPEND_META_SHA)}$1\r\n7\r\n${rest}`, 'utf8'),
    byText: Buffer.from(`\r\n*21\r\n$4\r\nEVAL\r\n${bulk(APPEND_META_LUA)}$1\r\n7\r\n${rest}`, 'utf8'),
    pub: Buffer.from(`*3\r\n${bulk(publish)}${bulk(b.channel)}`, 'utf8'),
    exec: Buffer.from('*1\r\n$4\r\nEXEC\r\n', 'utf8'),
  };
  return b.txWire;
}

/** Replies a transaction gets: MULTI, three QUEUED (RPUSH, the bookkeeping, PUBLISH), EXEC; one QUEUED fewer without PUBLISH. */
const TX_REPLIES = 5;
const NOTHING = Buffer.alloc(0);

/**
 * Send each chunk's append (ids given), in order: each one's [error, reply]
 * as a pipeline resolves, the reply being the app's total after it (a
 * transaction's: its bookkeeping's, or the first error that kept it from
 * running).
 */
export async function sendAppends(r: Redis, chunks: readonly Chunk[], cap: number, publish: string, layout: '1' | '2'): Promise<Array<[Error | null, unknown]>> {
  const { pooled, wires } = appendWires(chunks, cap, publish, layout);
  const results = await sendPrebuilt(r, 'lpappend', wires);
  // reused only when Redis answered every command (it has read all these bytes); after a timeout or a dropped connection the socket may still hold some
  if (results.every(([err]) => err === null || err.name === 'ReplyError')) giveBuffer(pooled);
  const out: Array<[Error | null, unknown]> = [];
  let j = 0;
  for (let i = 0; i < wires.length; i++) {
    const w = wires[i]!;
    if (w.length === 1) out.push(results[j]!);
    else {
      const t = transactionResult(results, j, w.length);
      const c = chunks[i]!;
      if (t[0] === null && Array.isArray(t[1])) {
        // {total, subscribers[, epoch, rewound]}: the app's listeners decide whether its next append publishes
        const [total, subs, epoch, rewound] = t[1] as [unknown, unknown, unknown, unknown];
        if (epoch !== undefined) {
          c.epoch = Number(epoch);
          c.rewound = Number(rewound);
        }
        const heard = Number(subs) > 0;
        c.published = w.length === TX_REPLIES ? 'node' : heard ? 'redis' : 'none';
        c.batch.listened = heard;
        out.push([null, total]);
      } else out.push(t);
    }
    j += w.length;
  }
  return out;
}

/** One transaction's outcome from its n replies at results[j, j + n): the bookkeeping's reply, or why it did not run. */
export function transactionResult(results: ReadonlyArray<[Error | null, unknown]>, j: number, n: number = TX_REPLIES): [Error | null, unknown] {
  const [execErr, exec] = results[j + n - 1]!;
  if (execErr === null && Array.isArray(exec)) {
    // RPUSH's reply, then the bookkeeping's
    const meta: unknown = exec[1];
    return meta instanceof Error ? [meta, null] : [null, meta];
  }
  // not run: the first refusal says why (MOVED, ASK, OOM... when queued; EXECABORT only repeats it), else EXEC's own error
  for (let k = j; k < j + n - 1; k++) if (results[k]![0] !== null) return [results[k]![0], null];
  return [execErr ?? new Error('EXEC answered no transaction'), null];
}

/**
 * The appends' commands in one pooled buffer: per chunk the parts sent as
 * one command each, one reply each (one part for a script append; five for a
 * transaction, whose blob is written once and is two of its parts; four for
 * a transaction without PUBLISH, while nobody listens to the app).
 */
export function appendWires(chunks: readonly Chunk[], cap: number, publish: string, layout: '1' | '2'): { pooled: ReturnType<typeof takeBuffer>; wires: Buffer[][] } {
  let bytes = 0;
  // layout 2: a chunk of one segment copied out of a ring is sent from there (Chunk.blobInPlace), the others are copied in
  const inPlace = chunks.map((c) => (layout === '2' ? c.blobInPlace() : null));
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i]!;
    if (layout === '2') {
      const t = txOf(c.batch, cap, publish);
      const own = c.batch.listened;
      // + the per-chunk arguments (eight bulk strings, at most ~170 bytes) and the blob's two length headers
      bytes += t.push.length + (own ? t.byText.length + t.pub.length : t.bySha.length) + t.exec.length + (inPlace[i] === null ? blobBytesOf(c) : 0) + 256;
    } else {
      bytes += headOf(c.batch, cap, publish).length + blobBytesOf(c) + 96;
    }
  }
  const pooled = takeBuffer(bytes);
  const buf = pooled.buf;
  const wires: Buffer[][] = [];
  let p = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i]!;
    const start = p;
    const blobBytes = blobBytesOf(c);
    if (layout !== '2') {
      p += headOf(c.batch, cap, publish).copy(buf, p);
      p += buf.write(bulk(String(c.id)), p, 'latin1');
      p += buf.write(`$${blobBytes}\r\n`, p, 'latin1');
      p = writeBlob(c, buf, p);
      p += buf.write(`\r\n${bulk(String(c.lastSeq()))}${bulk(layout)}`, p, 'latin1');
      wires.push([buf.subarray(start, p)]);
      continue;
    }
    const t = txOf(c.batch, cap, publish);
    // nobody listened at the app's last append: no PUBLISH (the bookkeeping publishes if someone came since)
    const own = c.batch.listened;
    p += t.push.copy(buf, p);
    p += buf.write(`$${blobBytes}\r\n`, p, 'latin1');
    const head = buf.subarray(start, p);
    let blob: Buffer | null = inPlace[i] ?? null;
    if (blob === null) {
      const blobEnd = writeBlob(c, buf, p);
      blob = buf.subarray(p, blobEnd);
      p = blobEnd;
    }
    const metaStart = p;
    p += (own ? t.byText : t.bySha).copy(buf, p);
    const notice = c.noticeCount();
    const fl = c.batch.floor;
    p += buf.write(bulk(String(c.id)) + bulk(String(c.count)) + bulk(String(c.lastSeq())) + bulk(String(c.origin)) + bulk(notice === null ? '' : String(notice)) + (own ? '$1\r\n1\r\n' : '$1\r\n0\r\n') + bulk(fl.epoch === 0 ? '' : String(fl.epoch)) + bulk(String(fl.total)), p, 'latin1');
    if (!own) {
      p += t.exec.copy(buf, p);
      wires.push([head, blob, buf.subarray(metaStart, p), NOTHING]);
      continue;
    }
    p += t.pub.copy(buf, p);
    p += buf.write(`$${blobBytes}\r\n`, p, 'latin1');
    const meta = buf.subarray(metaStart, p);
    const execStart = p;
    p += buf.write('\r\n', p, 'latin1');
    p += t.exec.copy(buf, p);
    wires.push([head, blob, meta, blob, buf.subarray(execStart, p)]);
  }
  return { pooled, wires };
}
