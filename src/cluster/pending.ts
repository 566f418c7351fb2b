// What this node has routed for Redis and not written yet: each app's lines
// of this tick (AppBatch, the sink in app.sinks), cut into chunks of one
// append call each, queued in order (ChunkQueue) while one pipeline is in
// flight or Redis is unreachable.
import type { LineSink } from '../apps.js';
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

/** A FIFO of chunks with O(1) shift. */
export class ChunkQueue {
  #items: (Chunk | undefined)[] = [];
  #head = 0;
  lines = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(c: Chunk): void {
    this.#items.push(c);
    this.lines += c.recs.length;
  }
  unshiftAll(cs: Chunk[]): void {
    const rest = this.#items.slice(this.#head) as Chunk[];
    this.#items = [...cs, ...rest];
    this.#head = 0;
    for (const c of cs) this.lines += c.recs.length;
  }
  peek(): Chunk | undefined {
    return this.#items[this.#head];
  }
  /** Drop the first n lines of the first chunk (fewer than it holds). */
  trimFront(n: number, header: Buffer): void {
    const c = this.#items[this.#head]!;
    this.#items[this.#head] = { batch: c.batch, recs: c.recs.slice(n), header };
    this.lines -= n;
  }
  shift(): Chunk | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const c = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined;
    this.lines -= c.recs.length;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return c;
  }
  /** Remove every chunk of one batch. */
  removeBatch(b: AppBatch): void {
    const keep = (this.#items.slice(this.#head) as Chunk[]).filter((c) => c.batch !== b);
    this.#items = keep;
    this.#head = 0;
    this.lines = keep.reduce((n, c) => n + c.recs.length, 0);
  }
}
