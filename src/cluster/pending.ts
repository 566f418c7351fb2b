// What this node has routed for Redis and not written yet: each app's lines
// of this tick (AppBatch, the sink in app.sinks), cut into chunks of one
// append call each, queued in order (ChunkQueue) while one pipeline is in
// flight or Redis is unreachable. A chunk gets its id when first sent and
// keeps it (and its bytes) across re-sends: the append script recognises a
// re-sent chunk by it.
import type { LineSink } from '../apps.js';
import { BoundedQueue } from '../basics/queue.js';
import { appChannel, appChunks, appConfig, appFirsts, appLines, appMeta, appSent, appTrims } from '../redis/keys.js';
import { isLossNotice } from './batch.js';
import { Ring } from '../buffer/ring.js';
import { Segment, giveBuffer, segmentOf, takeBuffer } from './packed.js';

/** Where an AppBatch reports that it has lines this tick (the writer, RedisHistory). */
export interface BatchWriter {
  /** This node's id (its chunk ids are remembered per app under it). */
  readonly nodeId: string;
  /** Most lines per append (a segment holds at most this many; a batch without an app ring keeps this many). */
  readonly chunkLines: number;
  mark(b: AppBatch): void;
}

/** Bytes of a loss notice record (batch.ts), whose seq field is -1. */
const NOTICE_BYTES = 22;

/** One append call's worth of one app's lines: whole segments of packed records. */
export class Chunk {
  readonly batch: AppBatch;
  segs: Segment[];
  /** The node index stamped in the header (origin u8 | kind u8 | count u32 LE | count x u16 LE lengths); changes only for a chunk never sent, when this node's index is lost (RedisHistory.reindex). */
  origin: number;
  /** Records held (lines, and a loss notice first when there is one). */
  count = 0;
  /** Id given when first sent (0: never sent, more lines of its app may still join it); a re-send keeps it. */
  id = 0;
  /** header | records, made when first sent. */
  blob: Buffer | null = null;
  /** Who published its blob when it was written: this node's PUBLISH, Redis (a listener had just come: the bookkeeping script), or nobody (no listener). */
  published: 'node' | 'redis' | 'none' = 'node';
  /** Called once the chunk is written (a loss notice saved by a stopped node: cluster/unwritten.ts); not when it is lost. */
  onWritten: (() => void) | null = null;
  /** The app's epoch its append answered (redis/scripts.ts, EPOCH_LUA; 0: none said, a re-send or the previous layout). */
  epoch = 0;
  /** Its append began that epoch: the lines the history lost with the one before (as far as this node knew); -1 when it did not. */
  rewound = -1;
  #blobBuf: ReturnType<typeof takeBuffer> | null = null;

  constructor(batch: AppBatch, segs: Segment[], origin: number) {
    this.batch = batch;
    this.segs = segs;
    this.origin = origin;
    for (const sg of segs) this.count += sg.count;
  }

  /** Records held: a chunk weighs its lines in the queue. */
  get length(): number {
    return this.count;
  }

  /** Views of the records, in order (rare paths: lines lost or refused, own ordinals for stream readers). */
  records(): Buffer[] {
    const out: Buffer[] = [];
    for (const sg of this.segs) sg.records(out);
    return out;
  }

  /** Seq of the last record (the append script keeps it as the element's highest seq). */
  lastSeq(): number {
    return this.segs[this.segs.length - 1]!.lastSeq();
  }

  /** True when the first record is a loss notice (not a line). */
  firstIsNotice(): boolean {
    const sg = this.segs[0];
    return sg !== undefined && sg.lens[0] === NOTICE_BYTES && sg.firstSeq() === -1;
  }

  /** The n of the loss notice leading the chunk (its u32 at byte 10: cluster/batch.ts), or null when a line leads it. */
  noticeCount(): number | null {
    if (!this.firstIsNotice()) return null;
    const sg = this.segs[0]!;
    return sg.buf.readUInt32LE(sg.head + 10);
  }

  /**
   * The append blob written in place, in front of the records of the
   * chunk's one segment, when it was made with room for it (a tick's lines
   * copied out of the ring): no copy of the lines. Null otherwise (several
   * segments, a loss notice first: writeBlob() copies them).
   */
  blobInPlace(): Buffer | null {
    if (this.segs.length !== 1) return null;
    const sg = this.segs[0]!;
    if (sg.head !== blobHeadBytes(sg.count) || this.firstIsNotice()) return null;
    writeBlobHead(this, sg.buf, 0);
    return sg.buf.subarray(0, sg.head + sg.used);
  }

  /** The blob's buffer, made by blobOf(). */
  set blobBuffer(p: ReturnType<typeof takeBuffer>) {
    this.#blobBuf = p;
  }

  /**
   * Written: its buffers go back to the pool. Only for a chunk whose records
   * were never handed out (records() of a written chunk are only read for
   * their seqs).
   */
  release(): void {
    for (const sg of this.segs) sg.release();
    this.segs = [];
    if (this.#blobBuf !== null) giveBuffer(this.#blobBuf);
    this.#blobBuf = null;
    this.blob = null;
  }

  /** Lines held (the loss notice is not one). */
  get lines(): number {
    return this.count - (this.firstIsNotice() ? 1 : 0);
  }
}

/**
 * One app's lines not yet in a chunk. They are the newest lines of the app's
 * ring (route() pushes every line there before offering it to the sinks), so
 * offering one only counts it; at the tick (or sooner, once there are as many
 * as the ring or a chunk holds) they are copied out of the ring into a
 * segment in runs (Ring.copyNewest), not line by line.
 */
/** The newest incarnation of an app's stream a node knows (redis/scripts.ts, EPOCH_LUA; 0 none) and the highest total it knows in it. */
export interface StreamFloor {
  epoch: number;
  total: number;
}

export class AppBatch implements LineSink {
  readonly appId: string;
  readonly chunksKey: string;
  readonly firstsKey: string;
  readonly metaKey: string;
  /** The previous release's history list (read, trimmed, and written until the layout switch). */
  readonly linesKey: string;
  /** This node's recent chunk ids for this app (re-sends). */
  readonly sentKey: string;
  /** The dropped chunks' ordinals and highest seqs (redis/scripts.ts, LAYOUT2_LUA). */
  readonly trimsKey: string;
  /** The app's record: an append finds it, or discards its chunk (the app was deleted: redis/scripts.ts, APP_GONE). */
  readonly configKey: string;
  readonly channel: string;
  /** The ring the lines offered are the newest lines of. */
  readonly ring: Ring;
  /** Whether the app had listeners at its last append: its next append publishes its blob only then (redis/scripts.ts). */
  listened = true;
  queued = false;
  /** This app's newest queued chunk while never sent: the next lines join it (fewer, larger appends). */
  open: Chunk | null = null;
  removed = false;
  /** The highest seq of this app's lines sent to Redis so far (under whatever index they carried): a tail's ceiling for this node's lines under an index it lost (cluster.ts, ownCeiling). */
  sentSeq = 0;
  /** The fixed start of this app's appends in RESP (append-wire.ts), and the cap and publish command it was made for. */
  wireHead: Buffer | null = null;
  wireHeadKey = '';
  /** What this node knows of the app's stream in Redis (history.ts, StreamFloor): sent with each append, so one that finds the stream went back begins a new epoch. */
  floor: StreamFloor = { epoch: 0, total: 0 };
  /** The same for the append transaction's parts before and after each blob (append-wire.ts). */
  txWire: { key: string; push: Buffer; bySha: Buffer; byText: Buffer; pub: Buffer; exec: Buffer } | null = null;
  readonly #writer: BatchWriter;
  /** True when the ring is the batch's own (no app ring given): offering a line pushes it there first. */
  readonly #ownRing: boolean;
  /** Lines offered and not yet copied out: the newest of the ring, and their bytes. */
  #inRing = 0;
  #inRingBytes = 0;
  /** Copied out at most this many at a time: the ring still holds them all, and a segment is never more than a chunk. */
  readonly #most: number;
  /** Segments copied out, not yet taken. */
  #segs: Segment[] = [];

  /**
   * ring: the app's ring, into which each line offered has just been pushed
   * (route() does that). Without one the batch keeps a ring of its own (of
   * chunkLines lines) and pushes each line offered into it.
   */
  constructor(appId: string, writer: BatchWriter, ring?: Ring) {
    this.appId = appId;
    this.chunksKey = appChunks(appId);
    this.firstsKey = appFirsts(appId);
    this.metaKey = appMeta(appId);
    this.linesKey = appLines(appId);
    this.sentKey = appSent(appId, writer.nodeId);
    this.trimsKey = appTrims(appId);
    this.configKey = appConfig(appId);
    this.channel = appChannel(appId);
    this.#writer = writer;
    this.#ownRing = ring === undefined;
    this.ring = ring ?? new Ring(writer.chunkLines);
    this.#most = Math.min(this.ring.capacity, writer.chunkLines);
  }

  offer(rec: Buffer): void {
    if (this.#ownRing) this.ring.push(rec);
    this.#count(rec.length);
  }

  offerFrom(src: DataView, pos: number, len: number, seq: number): void {
    if (this.#ownRing) this.ring.pushFrom(src, pos, len, seq);
    this.#count(len);
  }

  #count(len: number): void {
    this.#inRingBytes += len;
    if (++this.#inRing === this.#most) this.#copyOut();
    if (!this.queued) {
      this.queued = true;
      this.#writer.mark(this);
    }
  }

  /** Copy the lines offered since the last copy out of the ring, into a segment. */
  #copyOut(): void {
    if (this.#inRing === 0) return;
    // room in front for the blob's header: a chunk of this one segment is sent from here (Chunk.blobInPlace)
    const seg = new Segment(this.#inRingBytes, blobHeadBytes(this.#inRing));
    seg.used = this.ring.copyNewest(this.#inRing, seg.buf, seg.head, seg.lens) - seg.head;
    this.#segs.push(seg);
    this.#inRing = 0;
    this.#inRingBytes = 0;
  }

  /** The lines offered since the last take, in segments of at most chunkLines lines. */
  take(): Segment[] {
    this.#copyOut();
    const segs = this.#segs;
    this.#segs = [];
    return segs;
  }

  /** Forget the lines offered and not taken (the app was deleted: they go nowhere); returns how many. */
  discard(): number {
    let n = this.#inRing;
    this.#inRing = 0;
    this.#inRingBytes = 0;
    for (const sg of this.#segs) {
      n += sg.lens.length;
      sg.release();
    }
    this.#segs = [];
    return n;
  }
}

/** A chunk of these records (a loss notice, lines dropped and re-packed). */
export function chunkOf(batch: AppBatch, recs: readonly Buffer[], origin: number): Chunk {
  return new Chunk(batch, [segmentOf(recs)], origin);
}

/** Bytes of an append blob's header for n records: origin, notice flag, count, 2 bytes per record. */
export function blobHeadBytes(n: number): number {
  return 6 + 2 * n;
}

/** Size of a chunk's append blob: header (origin, notice flag, count, 2 bytes per record) | records. */
export function blobBytesOf(c: Chunk): number {
  let bytes = blobHeadBytes(c.count);
  for (const sg of c.segs) bytes += sg.used;
  return bytes;
}

/** Write a chunk's append blob header (origin, notice flag, count, each record's length) into buf at p; returns the end. */
function writeBlobHead(c: Chunk, buf: Buffer, p: number): number {
  buf[p] = c.origin;
  buf[p + 1] = c.firstIsNotice() ? 1 : 0;
  buf.writeUInt32LE(c.count, p + 2);
  let h = p + 6;
  for (const sg of c.segs) {
    const lens = sg.lens;
    for (let i = 0; i < lens.length; i++) {
      buf[h] = lens[i]! & 0xff;
      buf[h + 1] = lens[i]! >>> 8;
      h += 2;
    }
  }
  return h;
}

/** Write a chunk's append blob into buf at p (blobBytesOf(c) bytes); returns the end. */
export function writeBlob(c: Chunk, buf: Buffer, p: number): number {
  p = writeBlobHead(c, buf, p);
  for (const sg of c.segs) p += sg.bytes().copy(buf, p);
  return p;
}

/** The bytes an append sends: header | records (made once, kept for re-sends). */
export function blobOf(c: Chunk): Buffer {
  if (c.blob !== null) return c.blob;
  const inPlace = c.blobInPlace();
  if (inPlace !== null) return inPlace;
  const bytes = blobBytesOf(c);
  const pooled = takeBuffer(bytes);
  c.blobBuffer = pooled;
  const blob = pooled.buf.subarray(0, bytes);
  writeBlob(c, blob, 0);
  c.blob = blob;
  return blob;
}

/**
 * The write queue: basics/queue.ts's BoundedQueue of chunks, counting lines
 * itself (a chunk never sent grows when more lines of its app join it). The
 * writer bounds it itself (RedisHistory drops the oldest lines, trimming
 * a chunk when only part of it must go), so the queue's own item bound is off.
 */
export class ChunkQueue {
  readonly #q = new BoundedQueue<Chunk>();
  #lines = 0;
  /** Lines held. */
  get lines(): number {
    return this.#lines;
  }
  /** Chunks held. */
  get length(): number {
    return this.#q.count;
  }
  push(c: Chunk): void {
    this.#q.push(c);
    this.#lines += c.count;
  }
  /**
   * A batch's segments of this tick (each of at most max lines) as chunks at
   * the end: they first join the app's queued chunk while it was never sent
   * (while a round is out, ticks add up to fewer, larger appends), then make
   * new chunks of at most max lines.
   */
  add(b: AppBatch, segs: readonly Segment[], max: number, origin: number): void {
    let i = 0;
    const open = b.open;
    if (open !== null && open.id === 0 && open.origin === origin) {
      let k = open.count;
      const join = i;
      while (i < segs.length && k + segs[i]!.count <= max) k += segs[i++]!.count;
      if (i > join) this.grow(open, segs.slice(join, i));
    }
    while (i < segs.length) {
      const from = i;
      let k = segs[i++]!.count;
      while (i < segs.length && k + segs[i]!.count <= max) k += segs[i++]!.count;
      const c = new Chunk(b, segs.slice(from, i), origin);
      this.push(c);
      b.open = c;
    }
  }
  /** More segments for a chunk in the queue that was never sent. */
  grow(c: Chunk, segs: readonly Segment[]): void {
    for (const sg of segs) {
      c.segs.push(sg);
      c.count += sg.count;
      this.#lines += sg.count;
    }
  }
  /** This batch's oldest chunk in the queue, if any. */
  firstOf(b: AppBatch): Chunk | undefined {
    for (let i = 0; i < this.#q.count; i++) {
      const c = this.#q.at(i);
      if (c.batch === b) return c;
    }
    return undefined;
  }
  /** A record before the others of a chunk in the queue that was never sent. */
  prepend(c: Chunk, rec: Buffer): void {
    c.segs.unshift(segmentOf([rec]));
    c.count++;
    this.#lines++;
  }
  /** Put chunks taken for a pipeline back at the front, in their order. */
  unshiftAll(cs: readonly Chunk[]): void {
    for (let i = cs.length - 1; i >= 0; i--) {
      this.#q.unshift(cs[i]!);
      this.#lines += cs[i]!.count;
    }
  }
  peek(): Chunk | undefined {
    return this.#q.count === 0 ? undefined : this.#q.peek();
  }
  /** Every chunk held, oldest first (rare paths: what is left unwritten at a stop). */
  *chunks(): IterableIterator<Chunk> {
    for (let i = 0; i < this.#q.count; i++) yield this.#q.at(i);
  }
  /**
   * Drop the oldest records beyond max (each dropped chunk's or part's
   * records given to lose): returns how many of them were lines (a loss
   * notice dropped is no line of its own: lose() counts its n again).
   */
  dropOldest(max: number, lose: (b: AppBatch, recs: Buffer[]) => void): number {
    let dropped = 0;
    while (this.#lines > max) {
      const excess = this.#lines - max;
      const c = this.peek()!;
      if (c.count > excess && c.id === 0) {
        // drop exactly the oldest lines (of a chunk never sent: a sent one keeps its bytes for a re-send): cut the front of the oldest chunk
        const gone = this.trimFront(excess);
        for (const r of gone) if (!isLossNotice(r)) dropped++;
        lose(c.batch, gone);
        break;
      }
      this.shift();
      if (c.batch.open === c) c.batch.open = null;
      dropped += c.lines;
      lose(c.batch, c.records());
    }
    return dropped;
  }
  /** Drop the first n records of the first chunk (fewer than it holds; a chunk never sent): returns them. */
  trimFront(n: number): Buffer[] {
    const c = this.#q.peek();
    const recs = c.records();
    c.segs = [segmentOf(recs.slice(n))];
    c.count -= n;
    this.#lines -= n;
    return recs.slice(0, n);
  }
  shift(): Chunk | undefined {
    if (this.#q.count === 0) return undefined;
    const c = this.#q.shift();
    this.#lines -= c.count;
    return c;
  }
  /** Remove every chunk of one batch (its app was deleted). */
  /** Take out every chunk of this batch (its app was deleted); returns their lines. */
  removeBatch(b: AppBatch): number {
    const keep: Chunk[] = [];
    let removed = 0;
    while (this.#q.count > 0) {
      const c = this.#q.shift();
      if (c.batch !== b) keep.push(c);
      else removed += c.lines;
    }
    this.#lines = 0;
    for (const c of keep) this.push(c);
    return removed;
  }
}
