// DrainFeed: what an owned drain is fed in distributed mode, so that each
// line reaches it exactly once whichever node ingested it, and a takeover
// knows exactly what was lost.
//
// The owner follows the app's stream in ordinal order (follow.ts): every
// node's batches over pub/sub, its own included, so the drain sees the same
// stream whichever node owns it. The feed remembers, per line it offered,
// the line's ordinal; lines leave the drain's queue in order (delivered, or
// dropped and counted by the drain), so "consumed" (delivered + dropped)
// gives the cursor: the last ordinal the drain is done with. The cursor is
// checkpointed in Redis (`lp:{app}:drain:<id>` cursor, at).
//
// A new owner starts after the checkpoint: lines still in the history are
// replayed; ordinals already trimmed are lost, and the drain gets one
// `Error L10 (output buffer overflow): N messages dropped since T.` line with
// exactly that N before the replay.
//
// While Redis is unreachable the stream stops, so the owner's own lines go to
// the drain directly (SPEC 9: drains on the same node keep flowing); their
// seqs are remembered, and when those lines come back through Redis later
// they are skipped.
import type { Redis } from 'ioredis';
import type { LineSink } from '../apps.js';
import { decodeLossNotice, isLossNotice } from './batch.js';
import type { RedisHistory } from './history.js';
import { lossLine, type DrainStatus } from '../drains/status.js';
import { seqOf } from '../line.js';
import type { Log } from '../obs/log.js';
import type { LineBus } from './bus.js';
import { StreamFollower, type FollowTarget } from './follow.js';
import { appConfig, appMeta, drainState } from '../redis/keys.js';
import { CHECKPOINT_TTL_MS, type Scripts } from '../redis/scripts.js';
import { originOf } from '../basics/seq.js';
import type { DrainHandle } from '../drains/ownership.js';

export interface FeedDeps {
  redis: Redis;
  history: RedisHistory;
  bus: LineBus;
  /** True while lines of this node cannot reach the drain through Redis. */
  degraded(): boolean;
  /** True for this node's index (current or earlier). */
  ownOrigin(origin: number): boolean;
  log: Log;
  /** Time source (tests). */
  now?: () => number;
}

/** Own seq ranges delivered directly that are remembered. */
const MAX_DIRECT_RANGES = 64;
/** A fifo entry that is no line: the next epoch change (DrainFeed.rebased) applies to the cursor there. */
const REBASE = -Infinity;


export class DrainFeed implements LineSink, FollowTarget {
  readonly appId: string;
  readonly drainId: string;
  readonly #deps: FeedDeps;
  readonly #handle: DrainHandle;
  /** The drain's filter, when it has one. */
  readonly #accepts: ((rec: Buffer) => boolean) | undefined;
  readonly #stateKey: string;
  readonly #follower: StreamFollower;
  #closed = false;
  /** Taking no more lines (node stopping): what the drain holds is flushed, the rest is the next owner's. */
  #quiet = false;
  /** Per offered line: its ordinal, 0 when it has none (direct, L10); -ordinal for a skipped one. */
  #fifo: number[] = [];
  #head = 0;
  #consumedBase = 0;
  #popped = 0;
  /** Last ordinal the drain is done with; saved = what Redis has. */
  cursor = 0;
  #saved = 0;
  /** The epoch of the app's stream the cursor is an ordinal of (redis/scripts.ts, EPOCH_LUA; 0: not known), and the saved one's. */
  cursorEpoch = 0;
  #savedEpoch = 0;
  /** Epoch changes not yet reached by the cursor, in order; each has a REBASE entry in the fifo where it falls. */
  #rebases: Array<{ epoch: number; base: number | null }> = [];
  /** Own seq ranges [lo, hi, lo, hi, ...] that went to the drain directly. */
  #direct: number[] = [];
  #directOpen = false;
  #retry: NodeJS.Timeout | null = null;
  /** Lines this drain will never get (L10 lines sent for them). */
  lostLines = 0;
  /** Our own lines dropped before reaching Redis that this feed has accounted for (their loss notice comes later). */
  #ownDropsSeen = 0;

  constructor(appId: string, drainId: string, handle: DrainHandle, deps: FeedDeps) {
    this.appId = appId;
    this.drainId = drainId;
    this.#handle = handle;
    this.#accepts = handle.accepts?.bind(handle);
    this.#deps = deps;
    this.#stateKey = drainState(appId, drainId);
    this.#consumedBase = handle.consumed();
    this.#follower = new StreamFollower(appId, deps.history, this, deps.log, true, deps.now);
  }

  /** Following the stream (not reading the checkpoint or catching up). */
  get live(): boolean {
    return this.#follower.live;
  }
  /** The drain's status (null when the manager gave none). */
  status(): DrainStatus | null {
    return this.#handle.status?.() ?? null;
  }

  /** Highest ordinal handed to the drain (or skipped). */
  get last(): number {
    return this.#follower.last;
  }

  #now(): number {
    return this.#deps.now ? this.#deps.now() : Date.now();
  }

  /** Subscribe, read the checkpoint, replay what the previous owner left. */
  async start(): Promise<void> {
    await this.#deps.bus.watch(this.appId, this.#follower);
    await this.#begin();
  }

  async #begin(): Promise<void> {
    if (this.#closed) return;
    try {
      const s = this.#deps.redis as unknown as Scripts;
      const [cursor, epochText] = await s.lpInitCursor(this.#stateKey, appMeta(this.appId), appConfig(this.appId), this.drainId, CHECKPOINT_TTL_MS);
      const at = await this.#deps.redis.hget(this.#stateKey, 'at');
      if (this.#closed) return;
      // the drain (or its app) is deleted in Redis (NOT_CONFIGURED): nothing to feed; this node hears of it and lets the drain go
      if (Number(cursor) < 0) return;
      const epoch = epochText === '' ? 0 : Number(epochText);
      this.cursor = this.#saved = Number(cursor);
      this.cursorEpoch = this.#savedEpoch = epoch;
      await this.#follower.startAfter(this.cursor, at === null ? this.#now() : Number(at), epoch);
    } catch (err) {
      this.#deps.log.warn({ at: 'drain.takeover_failed', app: this.appId, drain: this.drainId, err: (err as Error).message }, 'cannot read the drain checkpoint; retrying');
      if (this.#retry || this.#closed) return;
      this.#retry = setTimeout(() => {
        this.#retry = null;
        void this.#begin();
      }, 1000);
      this.#retry.unref();
    }
  }

  /** A local line (app.sinks): only while Redis cannot carry it to us. */
  offer(rec: Buffer): void {
    if (this.#closed || this.#quiet) return;
    if (!this.#deps.degraded()) {
      this.#directOpen = false;
      return;
    }
    if (this.#accepts !== undefined && !this.#accepts(rec)) return;
    const seq = seqOf(rec);
    const d = this.#direct;
    if (this.#directOpen) d[d.length - 1] = seq;
    else {
      d.push(seq, seq);
      if (d.length > MAX_DIRECT_RANGES * 2) d.splice(0, 2);
      this.#directOpen = true;
    }
    this.#handle.sink.offer(rec);
    this.#fifo.push(0);
  }

  /**
   * This node's index was lost and it holds another now: the lines it got
   * directly and has not read back come through Redis with their seqs moved
   * to the new index (RedisHistory.reindex), and the old index is no longer
   * ours, so the ranges move with them.
   */
  reindexed(was: number, now: number): void {
    const d = this.#direct;
    for (let i = 0; i < d.length; i++) if (originOf(d[i]!) === was) d[i] = d[i]! - was + now;
  }

  /** One of our own lines that went to the drain directly while Redis was away. */
  #wasDirect(rec: Buffer): boolean {
    return this.#wasDirectSeq(seqOf(rec));
  }

  #wasDirectSeq(seq: number): boolean {
    if (this.#direct.length === 0) return false;
    if (!this.#deps.ownOrigin(originOf(seq))) return false;
    const d = this.#direct;
    for (let i = d.length - 2; i >= 0; i -= 2) if (seq >= d[i]! && seq <= d[i + 1]!) return true;
    return false;
  }

  /** FollowTarget: the stream, in ordinal order. */
  lines(recs: readonly Buffer[], from: number, first: number, origin: number): void {
    if (this.#closed || this.#quiet) return;
    const sink = this.#handle.sink;
    const accepts = this.#accepts;
    const direct = this.#direct.length > 0 && (origin < 0 || this.#deps.ownOrigin(origin));
    for (let i = from; i < recs.length; i++) {
      const rec = recs[i]!;
      if (isLossNotice(rec)) {
        // lines a node could not write to Redis: one L10, except for those of ours this feed already
        // accounted for when they were dropped (delivered directly, or reported then)
        const n = decodeLossNotice(rec)!;
        let unseen = n.n;
        if (this.#deps.ownOrigin(n.origin)) {
          const seen = Math.min(unseen, this.#ownDropsSeen);
          this.#ownDropsSeen -= seen;
          unseen -= seen;
        }
        if (unseen === 0) this.#fifo.push(-(first + i));
        else {
          this.lostLines += unseen;
          sink.offer(lossLine(unseen, n.since, this.#now()));
          this.#fifo.push(first + i);
        }
        continue;
      }
      // lines the drain's filter refuses (SPEC 16) and own lines it got directly are stepped over
      if ((accepts !== undefined && !accepts(rec)) || (direct && this.#wasDirect(rec))) this.#fifo.push(-(first + i));
      else {
        sink.offer(rec);
        this.#fifo.push(first + i);
      }
    }
  }

  /**
   * FollowTarget: the stream is of a new epoch from here on; rewound after
   * base (null: nothing rewound for this drain). The cursor takes it when
   * the drain has consumed what was offered before.
   */
  rebased(epoch: number, base: number | null): void {
    if (this.#closed) return;
    this.#rebases.push({ epoch, base });
    this.#fifo.push(REBASE);
  }

  /** FollowTarget: ordinals gone before we read them. */
  lost(n: number, sinceMs: number): void {
    this.offerLoss(n, sinceMs);
  }

  /**
   * FollowTarget: a record of ours trimmed before we read it. A line the drain
   * got directly (while Redis was away) is not lost; nor are the lines of our
   * own loss notice that this feed accounted for when they were dropped.
   */
  ownLost(seq: number): number {
    // seq no longer kept: whether the drain got it directly is unknown, so it counts as lost
    if (Number.isNaN(seq)) return 1;
    if (seq < 0) {
      const n = -seq;
      const seen = Math.min(n, this.#ownDropsSeen);
      this.#ownDropsSeen -= seen;
      return n - seen;
    }
    return this.#wasDirectSeq(seq) ? 0 : 1;
  }

  /** Of these local lines that never reached Redis, how many the drain did not get directly. */
  lostLocal(recs: readonly Buffer[]): number {
    if (this.#closed) return 0;
    this.#ownDropsSeen += recs.length;
    let n = 0;
    for (const r of recs) if (!this.#wasDirect(r)) n++;
    return n;
  }

  /** n lines were put into the drain outside the stream (a replay): consumed in turn, they move no cursor. */
  injected(n: number): void {
    for (let i = 0; i < n; i++) this.#fifo.push(0);
  }

  /** Tell the drain about n lines it will never get (an L10 line). */
  offerLoss(n: number, sinceMs: number): void {
    if (this.#closed || this.#quiet || n <= 0) return;
    this.lostLines += n;
    this.#handle.sink.offer(lossLine(n, sinceMs, this.#now()));
    this.#fifo.push(0);
  }

  /** Move the cursor over what the drain has consumed; true when it moved past the saved one. */
  advance(): boolean {
    let need = this.#handle.consumed() - this.#consumedBase - this.#popped;
    const f = this.#fifo;
    let h = this.#head;
    while (h < f.length) {
      const e = f[h]!;
      if (e === REBASE) {
        const r = this.#rebases.shift()!;
        this.cursorEpoch = r.epoch;
        if (r.base !== null) this.cursor = r.base;
        h++;
        continue;
      }
      if (e < 0) {
        this.cursor = -e;
        h++;
        continue;
      }
      if (need <= 0) break;
      need--;
      this.#popped++;
      if (e > 0) this.cursor = e;
      h++;
    }
    if (h > 4096 && h * 2 > f.length) {
      this.#fifo = f.slice(h);
      h = 0;
    }
    this.#head = h;
    return this.cursorEpoch !== this.#savedEpoch || this.cursor > this.#saved;
  }

  /** The checkpoint was written (the cursor of that epoch). */
  saved(cursor: number, epoch = this.cursorEpoch): void {
    if (epoch !== this.#savedEpoch) {
      this.#savedEpoch = epoch;
      this.#saved = cursor;
    } else if (cursor > this.#saved) this.#saved = cursor;
  }

  /**
   * Take no more lines (graceful stop, before the drain flushes): the cursor
   * still follows what the drain consumes, so the checkpoint ends exactly at
   * the last line delivered and the next owner starts after it. Without
   * this, a flush under steady ingest waits for a queue that keeps refilling,
   * can time out with a batch in flight, and the next owner sends that batch again.
   */
  quiesce(): void {
    if (this.#closed || this.#quiet) return;
    this.#quiet = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#follower.close();
    this.#deps.bus.unwatch(this.appId, this.#follower);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#follower.close();
    this.#deps.bus.unwatch(this.appId, this.#follower);
  }
}
