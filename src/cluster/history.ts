// History in Redis (distributed mode): the per-tick Redis batch. Every app
// has an AppBatch in app.sinks; route() offers it each line (a push of a
// reference), and once per tick (one setImmediate for all apps) the batches
// become chunks that go out in ONE pipeline: per chunk one EVALSHA of the
// append script (RPUSH + trim to historyLines + counters + PUBLISH to the
// app's channel, redis/scripts.ts). Never a round trip per line.
//
// Lines are stored as the cooked records themselves (bytes, no re-encoding).
// One pipeline is in flight at a time, so each node's lines reach Redis in
// the order it routed them. While Redis is unreachable the chunks wait in a
// bounded queue; past maxPendingLines the oldest chunks are dropped and
// counted (logplane_redis_lines_dropped_total{reason="overflow"}); a command
// Redis refuses (e.g. OOM under maxmemory) drops its chunk, counted as
// reason="rejected". Nothing here ever blocks route().
//
// Each append returns the app's new total, so the writer learns the ordinals
// its own lines got. It keeps them (with each line's seq) for the apps that
// have stream followers on this node, until every follower has read past
// them: when Redis trims this node's own lines before a follower's catch-up
// reads them, the follower asks here which of the trimmed ordinals were ours
// and does not report lines its target already got directly as lost.
import type { Redis } from 'ioredis';
import type { LineSink } from '../apps.js';
import { appChannel, appLines, appMeta } from '../redis/keys.js';
import type { ScriptPipeline, Scripts } from '../redis/scripts.js';
import type { Log } from '../obs/log.js';
import type { Child, Metric, Registry as MetricRegistry } from '../obs/metrics.js';
import { receivedOf, seqOf } from '../line.js';
import { decodeLossNotice, encodeLossNotice, isLossNotice, makeHeader } from './batch.js';

export interface RedisHistoryOptions {
  /** Lines of history kept per app (LTRIM bound). */
  historyLines: number;
  /** Lines held while Redis is unreachable before the oldest are dropped. */
  maxPendingLines: number;
  /** Most lines per append call (Lua stack and message size). */
  chunkLines: number;
  /** Most lines in one pipeline. */
  pipelineLines: number;
  /** This node's index (the origin byte of published batches). */
  origin(): number;
  log: Log;
  metrics: MetricRegistry;
  /** Lines that will never reach Redis (dropped while it was down, or refused). */
  onLost?(appId: string, recs: readonly Buffer[]): void;
}

export const redisHistoryDefaults = {
  maxPendingLines: 200_000,
  chunkLines: 1000,
  pipelineLines: 50_000,
} as const;

/** One append call's worth of one app's lines. */
interface Chunk {
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
  readonly #writer: RedisHistory;

  constructor(appId: string, writer: RedisHistory) {
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
class ChunkQueue {
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

/** Last N samples, for percentiles at scrape time. */
class Samples {
  readonly #v = new Float64Array(1024);
  #n = 0;
  add(x: number): void {
    this.#v[this.#n++ % this.#v.length] = x;
  }
  /** [p50, p99, max] of the samples since the last take, then reset. */
  take(): [number, number, number] {
    const n = Math.min(this.#n, this.#v.length);
    if (n === 0) return [0, 0, 0];
    const s = this.#v.slice(0, n).sort();
    this.#n = 0;
    return [s[Math.floor((n - 1) * 0.5)]!, s[Math.floor((n - 1) * 0.99)]!, s[n - 1]!];
  }
}

/** Ordinals [first, first + seqs.length) written by this node: each line's seq, or -n for a loss notice of n lines. */
interface OwnRun {
  first: number;
  seqs: Float64Array;
}

/** Someone reading an app's stream on this node: own ordinals at or below its last are no longer needed for it (-1: not started). */
export interface StreamReader {
  readonly last: number;
}

/** A loss notice that was appended at `ordinal`: node `origin` could not write n lines. */
export interface NoticeMark {
  ordinal: number;
  origin: number;
  n: number;
}

export interface HistoryRead {
  /** Lines trimmed from this app's history so far (ordinal of records[0] is trimmed + 1 when reading from 0). */
  trimmed: number;
  /** Loss notices among the ordinals asked for that were already trimmed (the last 100 notices of the app are known). */
  trimmedNotices: NoticeMark[];
  /** Highest seq ever trimmed (0 = none). */
  trimmedSeq: number;
  /** Ordinal of records[0]. */
  first: number;
  /** In append order (ordinal order), as stored. */
  records: Buffer[];
}

export class RedisHistory {
  readonly #redis: Redis;
  readonly #opts: RedisHistoryOptions;
  readonly #batches = new Map<string, AppBatch>();
  #dirty: AppBatch[] = [];
  #scheduled = false;
  readonly #pending = new ChunkQueue();
  #inFlight: Chunk[] | null = null;
  #up = false;
  #closed = false;
  /** Lines dropped since Redis went down (reported when it is back). */
  #droppedWhileDown = 0;
  #lastDropLog = 0;
  #waiters: Array<() => void> = [];
  /** Lines that never reached Redis, per app, not yet announced in the app's stream. */
  #lost = new Map<AppBatch, { n: number; since: number }>();
  /** Settles after the pipeline in flight has been accounted for (#done or #failed ran). */
  #settled: Promise<void> = Promise.resolve();
  /** Stream readers on this node, per app; own ordinals are kept only for these apps. */
  readonly #readers = new Map<string, Set<StreamReader>>();
  /** Per app: ordinals of this node's own records, oldest first, not yet read past by every reader. */
  readonly #own = new Map<string, OwnRun[]>();
  readonly #latency = new Samples();
  readonly #m: {
    up: Metric;
    pipelinesOk: Child;
    pipelinesErr: Child;
    seconds: Child;
    written: Child;
    droppedOverflow: Child;
    droppedRejected: Child;
    failures: Child;
    pending: Metric;
    latency: Metric;
  };

  constructor(redis: Redis, opts: RedisHistoryOptions) {
    this.#redis = redis;
    this.#opts = opts;
    const r = opts.metrics;
    const pipelines = r.counter('logplane_redis_pipelines_total', 'Redis pipelines of the line batch, by outcome (ok, error).', ['outcome']);
    const dropped = r.counter('logplane_redis_lines_dropped_total', 'Lines that could not be written to Redis, by reason (overflow: queue full while Redis was down; rejected: refused by Redis).', ['reason']);
    this.#m = {
      up: r.gauge('logplane_redis_up', 'Whether this node can write to Redis (1) or not (0).'),
      pipelinesOk: pipelines.labels('ok'),
      pipelinesErr: pipelines.labels('error'),
      seconds: r.counter('logplane_redis_pipeline_seconds_total', 'Time spent in line-batch pipelines (divide by logplane_redis_pipelines_total for the mean round trip).').labels(),
      written: r.counter('logplane_redis_lines_written_total', 'Lines written to the Redis history.').labels(),
      droppedOverflow: dropped.labels('overflow'),
      droppedRejected: dropped.labels('rejected'),
      failures: r.counter('logplane_redis_write_failures_total', 'Times writing to Redis failed: connection lost (pipeline failed or connection closed; lines are queued) or an append refused.').labels(),
      pending: r.gauge('logplane_redis_pending_lines', 'Lines waiting to be written to Redis.'),
      latency: r.gauge('logplane_redis_pipeline_seconds', 'Round trip of line-batch pipelines since the last scrape: p50, p99, max.', ['stat']),
    };
    this.#m.up.collect = () => this.#m.up.set(this.#up ? 1 : 0);
    this.#m.pending.collect = () => this.#m.pending.set(this.pendingLines);
    this.#m.latency.collect = () => {
      const [p50, p99, max] = this.#latency.take();
      this.#m.latency.set(p50, 'p50');
      this.#m.latency.set(p99, 'p99');
      this.#m.latency.set(max, 'max');
    };
    redis.on('ready', this.#onReady);
    redis.on('close', this.#onDown);
    this.#up = redis.status === 'ready';
  }

  /** True while the last contact with Redis worked. */
  get up(): boolean {
    return this.#up;
  }
  /** Lines queued or in flight. */
  get pendingLines(): number {
    return this.#pending.lines + (this.#inFlight?.reduce((n, c) => n + c.recs.length, 0) ?? 0);
  }

  /** The sink for one app (made once). */
  sink(appId: string): AppBatch {
    let b = this.#batches.get(appId);
    if (!b) {
      b = new AppBatch(appId, this);
      this.#batches.set(appId, b);
    }
    return b;
  }

  /** Forget an app (deleted): its unwritten lines go nowhere. */
  drop(appId: string): void {
    const b = this.#batches.get(appId);
    if (!b) return;
    this.#batches.delete(appId);
    b.removed = true;
    b.recs = [];
    this.#pending.removeBatch(b);
    this.#own.delete(appId);
  }

  /** A reader of an app's stream starts: from now on this node's ordinals of the app are kept for it. */
  follow(appId: string, r: StreamReader): void {
    let set = this.#readers.get(appId);
    if (!set) {
      set = new Set();
      this.#readers.set(appId, set);
    }
    set.add(r);
  }

  unfollow(appId: string, r: StreamReader): void {
    const set = this.#readers.get(appId);
    if (!set || !set.delete(r)) return;
    if (set.size === 0) {
      this.#readers.delete(appId);
      this.#own.delete(appId);
    } else this.#prune(appId);
  }

  /**
   * This node's own records among the ordinals [from, to] (trimmed before a
   * reader got to them): calls visit with each one's seq (-n for a loss
   * notice of n lines) and returns how many there were.
   */
  ownAmong(appId: string, from: number, to: number, visit: (seq: number) => void): number {
    const runs = this.#own.get(appId);
    if (!runs) return 0;
    let n = 0;
    for (const r of runs) {
      const end = r.first + r.seqs.length - 1;
      if (end < from) continue;
      if (r.first > to) break;
      const a = Math.max(from, r.first) - r.first;
      const b = Math.min(to, end) - r.first;
      for (let i = a; i <= b; i++) visit(r.seqs[i]!);
      n += b - a + 1;
    }
    return n;
  }

  /** True when the record at this ordinal of the app is one this node wrote (and still remembers). */
  isOwn(appId: string, ordinal: number): boolean {
    for (const r of this.#own.get(appId) ?? []) if (ordinal >= r.first && ordinal < r.first + r.seqs.length) return true;
    return false;
  }

  /** An append of ours was acknowledged with the app's new total: remember its ordinals while someone reads the app here. */
  #wrote(c: Chunk, total: number): void {
    const appId = c.batch.appId;
    if (!this.#readers.has(appId) || !Number.isFinite(total)) return;
    const n = c.recs.length;
    const seqs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = c.recs[i]!;
      const notice = decodeLossNotice(r);
      seqs[i] = notice ? -notice.n : seqOf(r);
    }
    let runs = this.#own.get(appId);
    if (!runs) {
      runs = [];
      this.#own.set(appId, runs);
    }
    runs.push({ first: total - n + 1, seqs });
    this.#prune(appId);
  }

  /** Forget own ordinals every reader has passed; keep at most historyLines + maxPendingLines of them per app. */
  #prune(appId: string): void {
    const runs = this.#own.get(appId);
    if (!runs || runs.length === 0) return;
    let min = Infinity;
    for (const r of this.#readers.get(appId) ?? []) if (r.last < min) min = r.last;
    let drop = 0;
    if (min >= 0) while (drop < runs.length && runs[drop]!.first + runs[drop]!.seqs.length - 1 <= min) drop++;
    let kept = 0;
    for (let i = drop; i < runs.length; i++) kept += runs[i]!.seqs.length;
    const max = this.#opts.historyLines + this.#opts.maxPendingLines;
    while (kept > max && drop < runs.length - 1) kept -= runs[drop++]!.seqs.length;
    if (drop > 0) runs.splice(0, drop);
  }

  mark(b: AppBatch): void {
    this.#dirty.push(b);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#tick);
    }
  }

  readonly #tick = (): void => {
    this.#scheduled = false;
    this.#collect();
    this.#pump();
  };

  /** Turn this tick's batches into chunks at the end of the queue. */
  #collect(): void {
    const dirty = this.#dirty;
    this.#dirty = [];
    const max = this.#opts.chunkLines;
    const origin = this.#opts.origin();
    for (const b of dirty) {
      b.queued = false;
      const recs = b.recs;
      b.recs = [];
      if (b.removed || recs.length === 0) continue;
      for (let i = 0; i < recs.length; i += max) {
        const part = i === 0 && recs.length <= max ? recs : recs.slice(i, i + max);
        this.#pending.push({ batch: b, recs: part, header: makeHeader(origin, part) });
      }
    }
    this.#bound();
  }

  /** Drop the oldest queued chunks beyond maxPendingLines. */
  #bound(): void {
    const max = this.#opts.maxPendingLines;
    let dropped = 0;
    while (this.#pending.lines > max) {
      const excess = this.#pending.lines - max;
      const c = this.#pending.peek()!;
      if (c.recs.length > excess) {
        // drop exactly the oldest lines: cut the front of the oldest chunk
        const gone = c.recs.slice(0, excess);
        this.#pending.trimFront(excess, makeHeader(c.header[0]!, c.recs.slice(excess)));
        dropped += excess;
        this.#lose(c.batch, gone);
        break;
      }
      this.#pending.shift();
      dropped += c.recs.length;
      this.#lose(c.batch, c.recs);
    }
    if (dropped > 0) {
      this.#m.droppedOverflow.value += dropped;
      this.#droppedWhileDown += dropped;
      const now = Date.now();
      if (now - this.#lastDropLog > 5000) {
        this.#lastDropLog = now;
        this.#opts.log.warn({ at: 'redis.lines_dropped', reason: 'overflow', droppedWhileDown: this.#droppedWhileDown, pending: this.#pending.lines }, 'Redis unreachable and the write queue is full: oldest lines dropped from the shared history');
      }
    }
  }

  /**
   * Records that will never be written: this node's owned drains are told
   * now, everyone else by a loss notice in the app's stream once Redis takes
   * writes again (a notice that itself could not be written counts again).
   */
  #lose(b: AppBatch, recs: readonly Buffer[]): void {
    if (recs.length === 0) return;
    let n = 0;
    let since = Infinity;
    const lines: Buffer[] = [];
    for (const r of recs) {
      const notice = decodeLossNotice(r);
      if (notice) {
        n += notice.n;
        if (notice.since < since) since = notice.since;
      } else {
        n++;
        lines.push(r);
        const t = receivedOf(r);
        if (t < since) since = t;
      }
    }
    if (lines.length > 0) this.#opts.onLost?.(b.appId, lines);
    const l = this.#lost.get(b);
    if (l) {
      l.n += n;
      if (since < l.since) l.since = since;
    } else this.#lost.set(b, { n, since });
  }

  #pump(): void {
    if (this.#inFlight !== null || !this.#up || (this.#pending.length === 0 && this.#lost.size === 0)) {
      this.#notify();
      return;
    }
    const take: Chunk[] = [];
    let lines = 0;
    const cap = this.#opts.historyLines;
    const p = this.#redis.pipeline() as unknown as ScriptPipeline;
    // losses not yet announced go first, as records of their apps' streams
    if (this.#lost.size > 0) {
      const origin = this.#opts.origin();
      for (const [b, l] of this.#lost) {
        if (b.removed) continue;
        const rec = [encodeLossNotice(origin, l.n, l.since)];
        const c: Chunk = { batch: b, recs: rec, header: makeHeader(origin, rec) };
        take.push(c);
        p.lpAppend(b.linesKey, b.metaKey, cap, b.channel, c.header, ...c.recs);
      }
      this.#lost = new Map();
    }
    while (this.#pending.length > 0 && lines < this.#opts.pipelineLines) {
      const c = this.#pending.shift()!;
      if (c.batch.removed) continue;
      take.push(c);
      lines += c.recs.length;
      p.lpAppend(c.batch.linesKey, c.batch.metaKey, cap, c.batch.channel, c.header, ...c.recs);
    }
    if (take.length === 0) {
      this.#notify();
      return;
    }
    this.#inFlight = take;
    const t0 = performance.now();
    this.#settled = p.exec().then(
      (results) => this.#done(take, results, t0),
      (err: Error) => this.#failed(take, err),
    );
  }

  #done(take: Chunk[], results: Array<[Error | null, unknown]> | null, t0: number): void {
    const s = (performance.now() - t0) / 1000;
    this.#latency.add(s);
    this.#m.seconds.value += s;
    this.#inFlight = null;
    let written = 0;
    let rejected = 0;
    let connectionLost = false;
    for (let i = 0; i < take.length; i++) {
      const r = results?.[i];
      const c = take[i]!;
      if (r && r[0] === null) {
        if (!isLossNotice(c.recs[0]!)) written += c.recs.length;
        this.#wrote(c, Number(r[1]));
        continue;
      }
      const err = r?.[0];
      if (!err || isConnectionError(err)) {
        // not executed (the connection dropped mid-pipeline): back to the queue
        connectionLost = true;
        this.#pending.unshiftAll(take.slice(i));
        break;
      }
      if (!isLossNotice(c.recs[0]!)) rejected += c.recs.length;
      this.#lose(c.batch, c.recs);
      if (rejected === c.recs.length) this.#opts.log.error({ at: 'redis.append_rejected', app: c.batch.appId, err: err.message }, 'Redis refused a history append; lines dropped from the shared history');
    }
    this.#m.written.value += written;
    if (rejected > 0) {
      this.#m.droppedRejected.value += rejected;
      this.#m.failures.value++;
    }
    if (connectionLost) {
      this.#m.pipelinesErr.value++;
      this.#setDown('connection lost during a pipeline');
      return;
    }
    this.#m.pipelinesOk.value++;
    this.#pump();
  }

  #failed(take: Chunk[], err: Error): void {
    this.#inFlight = null;
    this.#m.pipelinesErr.value++;
    this.#pending.unshiftAll(take);
    this.#bound();
    this.#setDown(err.message);
  }

  #setDown(why: string): void {
    if (this.#up) {
      this.#up = false;
      this.#m.failures.value++;
      this.#droppedWhileDown = 0;
      this.#opts.log.warn({ at: 'redis.down', err: why, pending: this.pendingLines }, 'cannot write to Redis; lines are queued (bounded) and local tails and drains keep flowing');
    }
    this.#notify();
    // ioredis reconnects and emits 'ready'; if the connection itself stayed up, retry soon
    if (this.#redis.status === 'ready' && !this.#closed) {
      setTimeout(() => {
        if (!this.#up && this.#redis.status === 'ready') this.#onReady();
      }, 500).unref();
    }
  }

  readonly #onReady = (): void => {
    if (!this.#up) {
      this.#up = true;
      this.#opts.log.info({ at: 'redis.up', pending: this.pendingLines, droppedWhileDown: this.#droppedWhileDown }, 'Redis reachable again; writing queued lines');
    }
    this.#pump();
  };

  readonly #onDown = (): void => {
    if (this.#up) this.#setDown('connection closed');
  };

  #notify(): void {
    if (this.#inFlight !== null || (this.#pending.length > 0 && this.#up)) return;
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Write everything routed so far (close): resolves when written, or when Redis is down, or after timeoutMs. */
  async flush(timeoutMs: number): Promise<boolean> {
    this.#collect();
    this.#pump();
    if (this.#inFlight === null && (this.#pending.length === 0 || !this.#up)) return this.#pending.length === 0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((r) => this.#waiters.push(r)),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return this.pendingLines === 0;
  }

  close(): void {
    this.#closed = true;
    this.#redis.off('ready', this.#onReady);
    this.#redis.off('close', this.#onDown);
  }

  /**
   * Read an app's history from an ordinal on (0 = everything held). Resolves
   * only after the line pipeline in flight when the read was sent has been
   * accounted for: its appends ran before the read, so by then ownAmong()
   * knows every ordinal of ours the read could find trimmed.
   */
  async read(appId: string, from = 0): Promise<HistoryRead> {
    const r = this.#redis as unknown as Scripts;
    const before = this.#inFlight !== null ? this.#settled : null;
    const out = await r.lpHistoryBuffer(appLines(appId), appMeta(appId), from);
    if (before) await before;
    const trimmed = Number(out[0]!.toString('latin1'));
    const trimmedSeq = Number(out[1]!.toString('latin1'));
    const trimmedNotices: NoticeMark[] = [];
    const notices = out[2]!.toString('latin1');
    if (notices.length > 0) {
      for (const e of notices.split(',')) {
        const [o, origin, n] = e.split(':').map(Number) as [number, number, number];
        if (o >= from && o <= trimmed && Number.isFinite(n)) trimmedNotices.push({ ordinal: o, origin, n });
      }
    }
    const records = out.slice(3);
    return { trimmed, trimmedNotices, trimmedSeq, first: Math.max(from, trimmed + 1), records };
  }
}

/** Errors that mean "not executed, try again" rather than "Redis refused it". */
export function isConnectionError(err: Error): boolean {
  const m = err.message;
  return !('command' in err) || m.includes('Connection is closed') || m.includes('enableOfflineQueue') || m.includes('MaxRetriesPerRequest') || m.includes('timed out') || m.includes('ECONN') || m.includes('EPIPE') || m.includes('LOADING');
}
