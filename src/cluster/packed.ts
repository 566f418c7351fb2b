// Lines packed back to back for Redis: what a chunk holds instead of one
// Buffer per line. A tick's lines of an app are copied out of the app's
// ring (buffer/ring.ts copyNewest: a run of lines side by side on a ring
// page in one copy) into a segment, with their lengths (cluster/pending.ts
// AppBatch), and the append's blob is made from the segments' bytes and
// lengths in one copy. No object per line, nothing for the garbage
// collector to promote while a pipeline is out. Views of single lines are
// made only on the rare paths that need them (lines dropped or refused,
// this node's own ordinals for its stream readers).
const MIN_SEGMENT_BYTES = 4096;

/**
 * Buffers of written chunks (segments and blobs), kept for the next ones by
 * power-of-two size: allocating them afresh at ingest rates (hundreds of MB
 * a second, outside the JS heap) made V8 collect garbage for its external
 * memory, ~10% of a node's CPU. At most POOL_BYTES are kept.
 */
interface Pooled {
  buf: Buffer;
  view: DataView;
}
const POOL_BYTES = 64 << 20;
const pool: Pooled[][] = [];
let pooledBytes = 0;

function classOf(bytes: number): number {
  return 32 - Math.clz32(Math.max(bytes, MIN_SEGMENT_BYTES) - 1);
}

/** A buffer of at least `bytes` (a power of two), from the pool when one is there. */
export function takeBuffer(bytes: number): Pooled {
  const k = classOf(bytes);
  const p = pool[k]?.pop();
  if (p !== undefined) {
    pooledBytes -= p.buf.length;
    return p;
  }
  const buf = Buffer.allocUnsafeSlow(2 ** k);
  return { buf, view: new DataView(buf.buffer, buf.byteOffset, buf.length) };
}

/** Give back a buffer from takeBuffer() that nothing refers to any more. */
export function giveBuffer(p: Pooled): void {
  if (pooledBytes + p.buf.length > POOL_BYTES) return;
  (pool[classOf(p.buf.length)] ??= []).push(p);
  pooledBytes += p.buf.length;
}

/**
 * Records back to back in one buffer, with their lengths, from byte `head`
 * on: a segment made with room before its records for the append blob's
 * header (6 + 2 per record) is sent as the blob itself (Chunk.blobInPlace).
 */
export class Segment {
  readonly buf: Buffer;
  /** Bytes before the first record. */
  readonly head: number;
  readonly #view: DataView;
  readonly #pooled: Pooled;
  /** Bytes of records held (after head). */
  used = 0;
  readonly lens: number[] = [];

  constructor(capacity: number, head = 0) {
    this.#pooled = takeBuffer(head + capacity);
    this.buf = this.#pooled.buf;
    this.head = head;
    this.#view = this.#pooled.view;
  }

  /** Its buffer goes back to the pool: nothing may read this segment or views of its records any more. */
  release(): void {
    giveBuffer(this.#pooled);
  }

  get count(): number {
    return this.lens.length;
  }

  /** The records' bytes. */
  bytes(): Buffer {
    return this.buf.subarray(this.head, this.head + this.used);
  }

  /** Copy a record (its seq already stamped). */
  push(rec: Buffer): void {
    rec.copy(this.buf, this.head + this.used);
    this.used += rec.length;
    this.lens.push(rec.length);
  }

  /** Seq of the last record (records start with their f64 LE seq). */
  lastSeq(): number {
    return this.#view.getFloat64(this.head + this.used - this.lens[this.lens.length - 1]!, true);
  }

  /** Seq of the first record. */
  firstSeq(): number {
    return this.#view.getFloat64(this.head, true);
  }

  /** Views of the records (rare paths). */
  records(out: Buffer[]): void {
    let p = this.head;
    for (const len of this.lens) {
      out.push(this.buf.subarray(p, p + len));
      p += len;
    }
  }
}

/** A segment holding exactly these records. */
export function segmentOf(recs: readonly Buffer[]): Segment {
  let n = 0;
  for (const r of recs) n += r.length;
  const s = new Segment(Math.max(n, 1));
  for (const r of recs) s.push(r);
  return s;
}
