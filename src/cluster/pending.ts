// What this node has routed for Redis and not written yet: each app's lines
// of this tick (AppBatch, the sink in app.sinks), cut into chunks of one
// append call each, queued in order (ChunkQueue) while one pipeline is in
// flight or Redis is unreachable.
import type { LineSink } from '../apps.js';
import { BoundedQueue } from '../basics/queue.js';
import { appChannel, appLines, appMeta } from '../redis/keys.js';

/** Where an AppBatch reports that it has lines this tick (the writer, RedisHistory). */
export interface BatchWriter {
  mark(b: AppBatch): void;
}

/** One append call's worth of one app's lines. */
export interface Chunk {
  batch: AppBatch;
  recs: Buffer[];
  /** origin u8 | kind u8 (0 lines, 1 a loss notice) | count u32 LE | count x u16 LE lengths. */
  header: Buffer;
  /** recs.length: a chunk weighs its lines in the queue. */
  readonly length: number;
}

/** One app's lines of this tick. */
export class AppBatch implements LineSink {
  readonly appId: string;
  readonly linesKey: string;
  readonly metaKey: string;
  readonly channel: string;
  recs: Buffer[] = [];
  queued = false;
  removed = false;
  readonly #writer: BatchWriter;

  constructor(appId: string, writer: BatchWriter) {
    this.appId = appId;
    this.linesKey = appLines(appId);
    this.metaKey = appMeta(appId);
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

/** A chunk of these lines (its `length` is its line count: the queue's weight is lines). */
export function chunk(batch: AppBatch, recs: Buffer[], header: Buffer): Chunk {
  return { batch, recs, header, length: recs.length };
}

/**
 * The write queue: basics/queue.ts's BoundedQueue of chunks, weighed in lines.
 * The writer bounds it itself (RedisHistory drops the oldest lines, trimming
 * a chunk when only part of it must go), so the queue's own item bound is off.
 */
export class ChunkQueue {
  readonly #q = new BoundedQueue<Chunk>();
  /** Lines held. */
  get lines(): number {
    return this.#q.weight;
  }
  /** Chunks held. */
  get length(): number {
    return this.#q.count;
  }
  push(c: Chunk): void {
    this.#q.push(c);
  }
  /** Put chunks taken for a pipeline back at the front, in their order. */
  unshiftAll(cs: readonly Chunk[]): void {
    for (let i = cs.length - 1; i >= 0; i--) this.#q.unshift(cs[i]!);
  }
  peek(): Chunk | undefined {
    return this.#q.count === 0 ? undefined : this.#q.peek();
  }
  /** Drop the first n lines of the first chunk (fewer than it holds). */
  trimFront(n: number, header: Buffer): void {
    const c = this.#q.shift();
    this.#q.unshift(chunk(c.batch, c.recs.slice(n), header));
  }
  shift(): Chunk | undefined {
    return this.#q.count === 0 ? undefined : this.#q.shift();
  }
  /** Remove every chunk of one batch (its app was deleted). */
  removeBatch(b: AppBatch): void {
    const keep: Chunk[] = [];
    while (this.#q.count > 0) {
      const c = this.#q.shift();
      if (c.batch !== b) keep.push(c);
    }
    for (const c of keep) this.#q.push(c);
  }
}
