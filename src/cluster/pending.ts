// What this node has routed for Redis and not written yet: each app's lines
// of this tick (AppBatch, the sink in app.sinks), cut into chunks of one
// append call each, queued in order (ChunkQueue) while one pipeline is in
// flight or Redis is unreachable. A chunk gets its id when first sent and
// keeps it (and its bytes) across re-sends: the append script recognises a
// re-sent chunk by it.
import type { LineSink } from '../apps.js';
import { BoundedQueue } from '../basics/queue.js';
import { makeHeader } from './batch.js';
import { appChannel, appChunks, appFirsts, appLines, appMeta, appSent } from '../redis/keys.js';

/** Where an AppBatch reports that it has lines this tick (the writer, RedisHistory). */
export interface BatchWriter {
  /** This node's id (its chunk ids are remembered per app under it). */
  readonly nodeId: string;
  mark(b: AppBatch): void;
}

/** One append call's worth of one app's lines. */
export interface Chunk {
  batch: AppBatch;
  recs: Buffer[];
  /** The node index stamped in the header (origin u8 | kind u8 | count u32 LE | count x u16 LE lengths). */
  origin: number;
  /** recs.length: a chunk weighs its lines in the queue. */
  readonly length: number;
  /** Id given when first sent (0: never sent, more lines of its app may still join it); a re-send keeps it. */
  id: number;
  /** header | records, made when first sent. */
  blob: Buffer | null;
}

/** One app's lines of this tick. */
export class AppBatch implements LineSink {
  readonly appId: string;
  readonly chunksKey: string;
  readonly firstsKey: string;
  readonly metaKey: string;
  /** The previous release's history list (read, trimmed, and written until the layout switch). */
  readonly linesKey: string;
  /** This node's recent chunk ids for this app (re-sends). */
  readonly sentKey: string;
  readonly channel: string;
  recs: Buffer[] = [];
  queued = false;
  /** This app's newest queued chunk while never sent: the next lines join it (fewer, larger appends). */
  open: Chunk | null = null;
  removed = false;
  readonly #writer: BatchWriter;

  constructor(appId: string, writer: BatchWriter) {
    this.appId = appId;
    this.chunksKey = appChunks(appId);
    this.firstsKey = appFirsts(appId);
    this.metaKey = appMeta(appId);
    this.linesKey = appLines(appId);
    this.sentKey = appSent(appId, writer.nodeId);
    this.channel = appChannel(appId);
    this.#writer = writer;
  }

  offer(rec: Buffer): void {
    this.recs.push(rec);
    if (!this.queued) {
      this.queued = true;
      this.#writer.mark(this);
    }
  }
}

/** A chunk of these lines (its `length` is its line count). */
export function chunk(batch: AppBatch, recs: Buffer[], origin: number): Chunk {
  return {
    batch,
    recs,
    origin,
    get length() {
      return this.recs.length;
    },
    id: 0,
    blob: null,
  };
}

/** The bytes an append sends: header | records (made once, kept for re-sends). */
export function blobOf(c: Chunk): Buffer {
  c.blob ??= Buffer.concat([makeHeader(c.origin, c.recs), ...c.recs]);
  return c.blob;
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
    this.#lines += c.recs.length;
  }
  /** More lines for a chunk in the queue that was never sent. */
  grow(c: Chunk, recs: readonly Buffer[]): void {
    for (const r of recs) c.recs.push(r);
    this.#lines += recs.length;
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
    c.recs.unshift(rec);
    this.#lines++;
  }
  /** Put chunks taken for a pipeline back at the front, in their order. */
  unshiftAll(cs: readonly Chunk[]): void {
    for (let i = cs.length - 1; i >= 0; i--) {
      this.#q.unshift(cs[i]!);
      this.#lines += cs[i]!.recs.length;
    }
  }
  peek(): Chunk | undefined {
    return this.#q.count === 0 ? undefined : this.#q.peek();
  }
  /** Drop the first n lines of the first chunk (fewer than it holds; a chunk never sent). */
  trimFront(n: number): void {
    const c = this.#q.peek();
    c.recs = c.recs.slice(n);
    this.#lines -= n;
  }
  shift(): Chunk | undefined {
    if (this.#q.count === 0) return undefined;
    const c = this.#q.shift();
    this.#lines -= c.recs.length;
    return c;
  }
  /** Remove every chunk of one batch (its app was deleted). */
  removeBatch(b: AppBatch): void {
    const keep: Chunk[] = [];
    while (this.#q.count > 0) {
      const c = this.#q.shift();
      if (c.batch !== b) keep.push(c);
    }
    this.#lines = 0;
    for (const c of keep) this.push(c);
  }
}
