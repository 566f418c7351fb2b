// History in Redis (distributed mode): the per-tick Redis batch. Every app
// has an AppBatch in app.sinks; route() offers it each line (counted only:
// the line is the newest in the app's ring), and once per tick (one
// setImmediate for all apps) the batches copy their lines out of the rings
// and become chunks that go out in ONE pipeline: per chunk one transaction
// (RPUSH of the chunk's blob to the app's list, the bookkeeping script and,
// while some node follows the app, PUBLISH to its channel: trim to
// historyLines, counters, re-sends appended once; redis/scripts.ts,
// cluster/append-wire.ts). Never a round trip per line.
//
// Lines are stored as the cooked records themselves (bytes, no re-encoding).
// One pipeline is in flight at a time, so each node's lines reach Redis in
// the order it routed them. While Redis is unreachable the chunks wait in a
// bounded queue; past maxPendingLines the oldest chunks are dropped and
// counted (logplane_redis_lines_dropped_total{reason="overflow"}); a command
// Redis refuses (e.g. OOM under maxmemory) drops its chunk, counted as
// reason="rejected"; the chunk of an app deleted meanwhile (the append finds
// no config key and keeps nothing: a node cut off from Redis learns of the
// delete that way) is dropped, counted as reason="app_deleted", as are the
// lines still queued when the node hears of the delete; lines written and
// then lost by Redis with its last writes (a failover to a replica that
// lagged, a restart: the append begins a new epoch of the app's stream,
// redis/scripts.ts EPOCH_LUA) are counted as reason="rewound". Nothing here
// ever blocks route().
//
// Each append returns the app's new total, so the writer learns the ordinals
// its own lines got, and keeps them for the stream followers on this node
// (own-ordinals.ts). The batches and the chunk queue are in pending.ts, a
// round's sending and replies in history-round.ts, lost lines in losses.ts,
// the metrics in history-metrics.ts, the decoding of reads in history-read.ts.
import type { Redis } from 'ioredis';
import type { Ring } from '../buffer/ring.js';
import { appChunks, appFirsts, appLines, appMeta, appTrims } from '../redis/keys.js';
import { BY_SHA_SCRIPTS, type ScriptPipeline, type Scripts } from '../redis/scripts.js';
import type { Log } from '../obs/log.js';
import type { Registry as MetricRegistry } from '../obs/metrics.js';
import { OwnOrdinals, type StreamReader } from './own-ordinals.js';
import { AppBatch, Chunk, ChunkQueue, type StreamFloor } from './pending.js';
import { historyMetrics, Samples, type HistoryMetrics } from './history-metrics.js';
import { decodeHistory, type HistoryDetail, type HistoryRead } from './history-read.js';
import { parseDropped, type DroppedChunk } from './gone.js';
import { isCluster, refreshSlots } from '../redis/connection.js';
import { byOwner, RoundSender, settle, type Outcome } from './history-round.js';
import { Losses, type Loss } from './losses.js';
import { receivedOf, seqOf, setSeq } from '../line.js';
import { decodeLossNotice, isLossNotice } from './batch.js';
import { originOf } from '../basics/seq.js';
import { within } from '../basics/within.js';

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
  /** False while this node's index claim is doubtful (nodes.ts): nothing is written until it is checked. */
  claimed?(): boolean;
  /** This node's id (the append script remembers its chunk ids per app under it). */
  nodeId: string;
  /** How the append script publishes: PUBLISH, or SPUBLISH (sharded, on a Redis Cluster). */
  publish?: 'PUBLISH' | 'SPUBLISH';
  /** The history layout to write: '2' (chunks), or '1' while a node of the previous release may be running (layout.ts). */
  layout?(): '1' | '2';
  log: Log;
  metrics: MetricRegistry;
  /** Lines that will never reach Redis (dropped while it was down, or refused). */
  onLost?(appId: string, recs: readonly Buffer[]): void;
}

export const redisHistoryDefaults = {
  maxPendingLines: 200_000,
  chunkLines: 5000,
  pipelineLines: 50_000,
} as const;

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
  #lastGoneLog = 0;
  #waiters: Array<() => void> = [];
  /** Lines that never reached Redis, per app, not yet announced in the app's stream. */
  readonly #lost: Losses;
  /** Settles after the pipeline in flight has been accounted for (#done or #failed ran). */
  #settled: Promise<void> = Promise.resolve();
  /** Ordinals of this node's own records, kept for the stream readers on this node. */
  readonly #own: OwnOrdinals;
  readonly #latency = new Samples();
  /** Ids of chunks sent (they rise; the append script recognises a re-send by its id). */
  #chunkIds = 0;
  /** True once the append script is known to be loaded on this connection (since it was last ready). */
  #scriptLoaded = false;
  readonly #sender = new RoundSender();
  readonly #m: HistoryMetrics;
  /** Per app this node wrote or followed: the newest epoch of its stream known here and the highest total known in it (sent with appends: redis/scripts.ts, EPOCH_LUA). */
  readonly #floors = new Map<string, StreamFloor>();

  constructor(redis: Redis, opts: RedisHistoryOptions) {
    this.#redis = redis;
    this.#opts = opts;
    this.#lost = new Losses(opts.onLost);
    this.#own = new OwnOrdinals(opts.historyLines + opts.maxPendingLines);
    this.#m = historyMetrics(opts.metrics, this.#latency, () => this.#up, () => this.pendingLines);
    redis.on('ready', this.#onReady);
    redis.on('close', this.#onDown);
    this.#up = redis.status === 'ready';
  }

  get nodeId(): string {
    return this.#opts.nodeId;
  }

  get chunkLines(): number {
    return this.#opts.chunkLines;
  }

  /** True while the last contact with Redis worked. */
  get up(): boolean {
    return this.#up;
  }
  /** Lines queued or in flight. */
  get pendingLines(): number {
    return this.#pending.lines + (this.#inFlight?.reduce((n, c) => n + c.count, 0) ?? 0);
  }

  /** The sink for one app (made once): ring is the app's, into which route() pushes each line before offering it (none: the batch keeps its own). */
  sink(appId: string, ring?: Ring): AppBatch {
    let b = this.#batches.get(appId);
    // an app made anew under the same id (deleted in between): its lines are in the new ring
    if (b !== undefined && ring !== undefined && b.ring !== ring) {
      this.drop(appId);
      b = undefined;
    }
    if (!b) {
      b = new AppBatch(appId, this, ring);
      b.floor = this.#floorOf(appId);
      this.#batches.set(appId, b);
    }
    return b;
  }

  #floorOf(appId: string): StreamFloor {
    let f = this.#floors.get(appId);
    if (!f) {
      f = { epoch: 0, total: 0 };
      this.#floors.set(appId, f);
    }
    return f;
  }

  /**
   * The app's stream in Redis is of this epoch and held at least `total`
   * records (a follower handed them, an append answered it): an append of
   * this node that finds fewer in that epoch begins a new one (EPOCH_LUA).
   */
  sawEpoch(appId: string, epoch: number, total: number): void {
    const f = this.#floorOf(appId);
    if (epoch > f.epoch) {
      f.epoch = epoch;
      f.total = Math.max(0, total);
    } else if (epoch === f.epoch && total > f.total) f.total = total;
  }

  /** Forget an app (deleted): its unwritten lines go nowhere (counted: logplane_redis_lines_dropped_total{reason="app_deleted"}). */
  drop(appId: string): void {
    const b = this.#batches.get(appId);
    if (!b) return;
    this.#batches.delete(appId);
    b.removed = true;
    this.#m.droppedAppDeleted.value += b.discard() + this.#pending.removeBatch(b);
    b.open = null;
    this.#own.drop(appId);
    this.#floors.delete(appId);
  }

  /** A reader of an app's stream starts: from now on this node's ordinals of the app are kept for it. */
  follow(appId: string, r: StreamReader): void {
    this.#own.follow(appId, r);
  }

  unfollow(appId: string, r: StreamReader): void {
    this.#own.unfollow(appId, r);
  }

  /**
   * This node's own records among the ordinals [from, to] (trimmed before a
   * reader got to them): calls visit with each one's seq (-n for a loss
   * notice of n lines) and returns how many there were.
   */
  ownAmong(appId: string, from: number, to: number, visit: (seq: number) => void): number {
    return this.#own.among(appId, from, to, visit);
  }

  /** True when the record at this ordinal of the app is one this node wrote (and still remembers). */
  isOwn(appId: string, ordinal: number): boolean {
    return this.#own.isOwn(appId, ordinal);
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
      const segs = b.take();
      if (b.removed || segs.length === 0) continue;
      this.#pending.add(b, segs, max, origin);
    }
    this.#bound();
  }

  /** Drop the oldest queued chunks beyond maxPendingLines. */
  #bound(): void {
    const dropped = this.#pending.dropOldest(this.#opts.maxPendingLines, (b, recs) => this.#lose(b, recs));
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
    this.#lost.add(b, recs);
  }

  #pump(): void {
    if (this.#inFlight !== null || !this.#up || (this.#pending.length === 0 && this.#lost.size === 0) || this.#opts.claimed?.() === false) {
      this.#notify();
      return;
    }
    if (!this.#scriptLoaded && !isCluster(this.#redis)) {
      this.#loadScript();
      return;
    }
    const take: Chunk[] = [];
    let lines = 0;
    // losses not yet announced go first, as records of their apps' streams
    if (this.#lost.size > 0) take.push(...this.#lost.announce(this.#pending, this.#opts.origin()));
    // at most one chunk of an app per round: the append script remembers an app's last chunk id of each node for re-sends
    const inRound = new Set<AppBatch>();
    for (const c of take) inRound.add(c.batch);
    while (this.#pending.length > 0 && lines < this.#opts.pipelineLines) {
      const c = this.#pending.peek()!;
      if (inRound.has(c.batch)) break;
      this.#pending.shift();
      if (c.batch.removed) {
        // sent before its app was deleted and to be sent again: never will be
        this.#m.droppedAppDeleted.value += c.lines;
        continue;
      }
      inRound.add(c.batch);
      take.push(c);
      lines += c.count;
    }
    if (take.length === 0) {
      this.#notify();
      return;
    }
    // one batch of appends per master (one endpoint: one); an app's chunks all go to its slot's master, in order
    const groups = byOwner(this.#redis, take);
    this.#inFlight = take;
    const cap = this.#opts.historyLines;
    const publish = this.#opts.publish ?? 'PUBLISH';
    const layout = this.#opts.layout?.() ?? '2';
    const t0 = performance.now();
    const rounds = [...groups].map(([owner, g]) => {
      for (const c of g) {
        if (c.id === 0) {
          c.id = ++this.#chunkIds;
          if (c.batch.open === c) c.batch.open = null;
          const last = c.lastSeq();
          if (last > c.batch.sentSeq) c.batch.sentSeq = last;
        }
      }
      return this.#sender.send(this.#redis, owner, g, cap, publish, layout);
    });
    this.#settled = Promise.all(rounds).then((outcomes) => this.#done(outcomes, t0));
  }

  #done(outcomes: Outcome[], t0: number): void {
    const s = (performance.now() - t0) / 1000;
    this.#latency.add(s);
    this.#m.seconds.value += s;
    this.#inFlight = null;
    const { written: ok, gone, rejected: refused, again, lostConnection, redirected, noScript } = settle(outcomes);
    let written = 0;
    for (const { chunk: c, total } of ok) {
      written += c.lines;
      this.#m.published[c.published].value++;
      if (c.rewound >= 0) this.#began(c, total);
      if (c.epoch !== 0) this.sawEpoch(c.batch.appId, c.epoch, total);
      if (total > 0 && this.#own.wants(c.batch.appId)) this.#own.wrote(c.batch.appId, c.records(), total);
      c.onWritten?.();
      c.release();
    }
    if (gone.length > 0) this.#discarded(gone);
    let rejected = 0;
    for (const { chunk: c, err } of refused) {
      rejected += c.lines;
      this.#lose(c.batch, c.records());
      this.#opts.log.error({ at: 'redis.append_rejected', app: c.batch.appId, err: err.message }, 'Redis refused a history append; lines dropped from the shared history');
    }
    this.#m.written.value += written;
    if (rejected > 0) {
      this.#m.droppedRejected.value += rejected;
      this.#m.failures.value++;
    }
    if (again.length > 0) {
      // chunks taken in queue order: back at the front in that order (each app's own order kept)
      again.sort((a, b) => a.id - b.id);
      this.#pending.unshiftAll(again);
      this.#bound();
    }
    if (lostConnection !== null) {
      this.#m.pipelinesErr.value++;
      this.#setDown(lostConnection);
      return;
    }
    this.#m.pipelinesOk.value++;
    // Redis lost the append script (SCRIPT FLUSH): the next round loads it first
    if (noScript) {
      this.#scriptLoaded = false;
      this.#sender.forgetScripts();
    }
    if (redirected) {
      // resharding or failover under way: reload the slot map and try again shortly
      refreshSlots(this.#redis);
      setTimeout(() => this.#pump(), 50).unref();
      return;
    }
    this.#pump();
  }

  /** An append began a new incarnation of its app's stream (redis/scripts.ts, EPOCH_LUA): what the history lost is counted and logged. */
  #began(c: Chunk, total: number): void {
    const appId = c.batch.appId;
    const base = total - c.count;
    const known = this.#floors.get(appId);
    // ordinals of ours above the base were of the incarnation before
    this.#own.rebase(appId, base);
    if (c.rewound > 0) {
      this.#m.droppedRewound.value += c.rewound;
      this.#opts.log.warn({ at: 'redis.history_rewound', app: appId, lost: c.rewound, from: base, knownEpoch: known?.epoch ?? 0, epoch: c.epoch }, 'the app\'s history in Redis went back (a failover to a replica that lagged, or a restart that lost writes): lines it held are gone from it; its stream begins a new epoch');
    } else if (known !== undefined && known.epoch !== 0) {
      this.#opts.log.warn({ at: 'redis.history_rewound', app: appId, lost: 0, from: base, knownEpoch: known.epoch, epoch: c.epoch }, 'the app\'s history in Redis had no epoch: its stream begins a new one');
    }
  }

  /**
   * Chunks of apps deleted while they waited (a node cut off from Redis
   * learns of the delete at its first append after it is back): the append
   * found no config key and kept nothing (SPEC 1: a deleted app's lines never
   * reach a new app of the same id). Counted, never announced as a loss.
   */
  #discarded(chunks: readonly Chunk[]): void {
    const apps = new Set<string>();
    let lines = 0;
    for (const c of chunks) {
      lines += c.lines;
      apps.add(c.batch.appId);
      c.release();
    }
    this.#m.droppedAppDeleted.value += lines;
    const now = Date.now();
    if (now - this.#lastGoneLog > 5000) {
      this.#lastGoneLog = now;
      this.#opts.log.info({ at: 'redis.lines_app_deleted', lines, apps: [...apps].slice(0, 10) }, 'lines of an app deleted before they were written to Redis: dropped');
    }
  }

  /** Load the append scripts (the hand-written rounds call them by their SHA: the previous layout's, and the bookkeeping while nobody listens), then pump. */
  #loadScript(): void {
    this.#inFlight = [];
    Promise.all(BY_SHA_SCRIPTS.map((lua) => this.#redis.script('LOAD', lua))).then(
      () => {
        this.#scriptLoaded = true;
        this.#inFlight = null;
        this.#pump();
      },
      () => {
        this.#inFlight = null;
        setTimeout(() => this.#pump(), 50).unref();
      },
    );
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
    // a Redis that restarted has no scripts
    this.#scriptLoaded = false;
    this.#sender.forgetScripts();
    if (!this.#up) {
      this.#up = true;
      this.#opts.log.info({ at: 'redis.up', pending: this.pendingLines, droppedWhileDown: this.#droppedWhileDown }, 'Redis reachable again; writing queued lines');
    }
    this.#pump();
  };

  /** Write what is queued (the index claim is valid again). */
  kick(): void {
    this.#pump();
  }

  /** Each app's highest seq sent to Redis so far (AppBatch.sentSeq): taken when this node's index is lost or doubtful. */
  sentSeqs(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, b] of this.#batches) if (b.sentSeq > 0) out.set(id, b.sentSeq);
    return out;
  }

  /**
   * This node's index was lost and it holds another now (nodes.ts): the
   * lines routed under the old index and never sent get the new one (their
   * seqs keep their time and counter, only the node byte changes), in the
   * queue and in the app's ring, so no line of this node reaches Redis with
   * an index another node may stamp now. A chunk already sent once goes
   * again as it was: the append script knows a re-send by its id, and its
   * lines were stamped while the claim held (docs/reliability.md, "Node index").
   */
  reindex(was: number, now: number): void {
    this.#collect();
    const shift = now - was;
    const low = new Map<AppBatch, number>();
    for (const c of this.#pending.chunks()) {
      if (c.id !== 0 || c.origin !== was) continue;
      c.origin = now;
      for (const r of c.records()) {
        if (isLossNotice(r)) continue;
        const s = seqOf(r);
        if (originOf(s) !== was) continue;
        setSeq(r, s + shift);
        if (!(s >= (low.get(c.batch) ?? Infinity))) low.set(c.batch, s);
      }
    }
    // the ring holds this node's lines only: those from the first moved one on are the ones moved
    for (const [b, from] of low) {
      const ring = b.ring;
      let top = 0;
      for (let k = ring.count - 1; k >= 0; k--) {
        const r = ring.at(k);
        const s = seqOf(r);
        if (s < from) break;
        if (originOf(s) !== was) continue;
        setSeq(r, s + shift);
        if (s + shift > top) top = s + shift;
      }
      ring.raiseLastSeq(top);
    }
  }

  readonly #onDown = (): void => {
    if (this.#up) this.#setDown('connection closed');
  };

  /** Nothing left to write: no round out, nothing queued, no loss waiting for its notice. */
  #idle(): boolean {
    return this.#inFlight === null && this.#pending.length === 0 && this.#lost.size === 0;
  }

  #notify(): void {
    if (!this.#idle()) return;
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /**
   * Write everything routed so far, and the notices of lines lost (close):
   * true once all of it is written, false after timeoutMs. While Redis is
   * unreachable it waits for it to come back (ioredis reconnects) within
   * that bound; what is still unwritten then is unwritten().
   */
  async flush(timeoutMs: number): Promise<boolean> {
    this.#collect();
    this.#pump();
    if (this.#idle()) return true;
    if (timeoutMs <= 0) return false;
    await within(new Promise<void>((r) => this.#waiters.push(r)), timeoutMs, undefined);
    return this.#idle();
  }

  /**
   * What is not in Redis (at a stop, after flush()), per app: the lines
   * queued or in flight (a round still out may or may not have landed: it
   * counts as unwritten, so a loss may be announced twice but never not at
   * all) and the losses whose notice is not written, with the received time
   * of the oldest. Counts only: no line content.
   */
  unwritten(): Map<string, Loss> {
    const out = new Map<string, Loss>();
    const add = (appId: string, n: number, since: number) => {
      const l = out.get(appId);
      if (l) {
        l.n += n;
        if (since < l.since) l.since = since;
      } else out.set(appId, { n, since });
    };
    for (const [b, l] of this.#lost.entries()) if (!b.removed) add(b.appId, l.n, l.since);
    const chunks = [...(this.#inFlight ?? []), ...this.#pending.chunks()];
    for (const c of chunks) {
      if (c.batch.removed) continue;
      for (const r of c.records()) {
        const notice = decodeLossNotice(r);
        if (notice) add(c.batch.appId, notice.n, notice.since);
        else add(c.batch.appId, 1, receivedOf(r));
      }
    }
    return out;
  }

  /** Lines counted unwritten when this node stopped (logplane_redis_lines_dropped_total{reason="stop"}). */
  countUnwrittenAtStop(n: number): void {
    this.#m.droppedStop.value += n;
  }

  /**
   * n lines of this app that a node which stopped could not write (saved in
   * its data dir): a loss notice is appended for them like for lines lost
   * here; written() once it is in Redis. False when the app is not known here.
   */
  announceSaved(appId: string, n: number, since: number, written: () => void): boolean {
    const b = this.#batches.get(appId);
    if (!b || b.removed) return false;
    this.#lost.addSaved(b, n, since, written);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#tick);
    }
    return true;
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
    const out = await r.lpHistoryBuffer(appChunks(appId), appFirsts(appId), appMeta(appId), appLines(appId), from, this.#opts.historyLines);
    if (before) await before;
    return decodeHistory(out, from, this.#opts.historyLines);
  }

  /**
   * Read all of an app's history with what a count of the lines it no longer
   * holds needs (cluster/gone.ts): in one transaction, the read, the notices
   * ever appended (meta nn) and the trims list.
   */
  async readDetail(appId: string): Promise<{ read: HistoryDetail; noticesEver: number | null; dropped: DroppedChunk[] }> {
    const before = this.#inFlight !== null ? this.#settled : null;
    const tx = this.#redis.multi() as unknown as ScriptPipeline & { hget(k: string, f: string): unknown; lrange(k: string, a: number, b: number): unknown };
    tx.lpHistoryBuffer(appChunks(appId), appFirsts(appId), appMeta(appId), appLines(appId), 0, this.#opts.historyLines);
    tx.hget(appMeta(appId), 'nn');
    tx.lrange(appTrims(appId), 0, -1);
    const res = await tx.exec();
    if (res === null) throw new Error('history read: transaction aborted');
    for (const [err] of res) if (err) throw err;
    if (before) await before;
    const nn = res[1]![1] as string | null;
    return { read: decodeHistory(res[0]![1] as Buffer[], 0, this.#opts.historyLines), noticesEver: nn === null ? null : Number(nn), dropped: parseDropped(res[2]![1] as string[]) };
  }
}

