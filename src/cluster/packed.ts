// Lines packed back to back for Redis: what the per-tick batch holds instead
// of one Buffer per line. A line routed to the batch is copied once, into the
// app's current segment (no object per line, nothing for the garbage
// collector to promote while a pipeline is out), and the append's blob is
// made from the segments' bytes and lengths in one copy. Views of single
// lines are made only on the rare paths that need them (lines dropped or
// refused, this node's own ordinals for its stream readers).
import { WORDS_MAX, copyWords } from '../basics/bytes.js';

/** A segment's bytes grow to at most this, then the next segment starts. */
const MAX_SEGMENT_BYTES = 1 << 20;
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

/** Records back to back in one buffer, with their lengths. */
export class Segment {
  readonly buf: Buffer;
  readonly #view: DataView;
  readonly #pooled: Pooled;
  used = 0;
  readonly lens: number[] = [];

  constructor(capacity: number) {
    this.#pooled = takeBuffer(capacity);
    this.buf = this.#pooled.buf;
    this.#view = this.#pooled.view;
  }

  /** Its buffer goes back to the pool: nothing may read this segment or views of its records any more. */
  release(): void {
    giveBuffer(this.#pooled);
  }

  get count(): number {
    return this.lens.length;
  }

  /** True when a record of len bytes fits. */
  fits(len: number): boolean {
    return this.used + len <= this.buf.length;
  }

  /** Copy a record (its seq already stamped). */
  push(rec: Buffer): void {
    rec.copy(this.buf, this.used);
    this.used += rec.length;
    this.lens.push(rec.length);
  }

  /** Copy src[pos, pos + len) (a cooked line in an ingest batch), stamping seq into the copy. */
  pushFrom(src: DataView, pos: number, len: number, seq: number): void {
    const at = this.used;
    const v = this.#view;
    v.setFloat64(at, seq, true);
    if (len <= WORDS_MAX) copyWords(src, pos + 8, pos + len, v, at + 8);
    else this.buf.set(new Uint8Array(src.buffer, src.byteOffset + pos + 8, len - 8), at + 8);
    this.used = at + len;
    this.lens.push(len);
  }

  /** Seq of the last record (records start with their f64 LE seq). */
  lastSeq(): number {
    return this.#view.getFloat64(this.used - this.lens[this.lens.length - 1]!, true);
  }

  /** Seq of the first record. */
  firstSeq(): number {
    return this.#view.getFloat64(0, true);
  }

  /** Views of the records (rare paths). */
  records(out: Buffer[]): void {
    let p = 0;
    for (const len of this.lens) {
      out.push(this.buf.subarray(p, p + len));
      p += len;
    }
  }

  /** The bytes held. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.used);
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

/**
 * Where one app's lines of a tick are packed: segments of at most
 * `maxLines` records each (so a chunk of whole segments can be cut at any
 * segment boundary), sized from the previous tick's bytes.
 */
export class Packer {
  segs: Segment[] = [];
  lines = 0;
  #cur: Segment | null = null;
  #lastBytes = 0;
  readonly #maxLines: number;

  constructor(maxLines: number) {
    this.#maxLines = maxLines;
  }

  /** The segment a record of len bytes goes into. */
  room(len: number): Segment {
    const c = this.#cur;
    if (c !== null && c.fits(len) && c.lens.length < this.#maxLines) return c;
    const want = Math.max(len, c === null ? this.#lastBytes : c.buf.length * 2, MIN_SEGMENT_BYTES);
    const s = new Segment(Math.min(Math.max(want, len), Math.max(MAX_SEGMENT_BYTES, len)));
    this.segs.push(s);
    this.#cur = s;
    return s;
  }

  /** Hand the packed segments over and start again. */
  take(): Segment[] {
    const segs = this.segs;
    let bytes = 0;
    for (const s of segs) bytes += s.used;
    this.#lastBytes = bytes;
    this.segs = [];
    this.lines = 0;
    this.#cur = null;
    return segs;
  }
}
