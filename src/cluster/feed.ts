// DrainFeed: what an owned drain is fed in distributed mode, so that each
// line reaches it exactly once whichever node ingested it, and a takeover
// knows exactly what was lost.
//
// Every line in Redis has an ordinal: its position in the app's history
// stream (the append script assigns them; list element i is ordinal
// trimmed + i + 1). The owner receives the app's batches over pub/sub with
// their first ordinal (its own lines too), so the drain sees one stream in
// ordinal order, the same on whichever node owns it. The feed remembers, per
// line it offered, the line's ordinal; lines leave the drain's queue in order
// (delivered, or dropped and counted by the drain), so "consumed" (delivered
// + dropped) gives the cursor: the last ordinal the drain is done with. The
// cursor is checkpointed in Redis (`lp:{app}:drain:<id>` cursor, at).
//
// A new owner starts after the checkpoint: lines still in the history are
// replayed; ordinals already trimmed are lost, and the drain gets one
// `Error L10 (output buffer overflow): N messages dropped since T.` line with
// exactly that N before the replay. A batch whose first ordinal is past the
// next expected one (a missed message) triggers the same catch-up.
//
// While Redis is unreachable the stream stops, so the owner's own lines go to
// the drain directly (SPEC 9: drains on the same node keep flowing); their
// seqs are remembered, and when those lines come back through Redis later
// they are skipped.
import type { Redis } from 'ioredis';
import type { LineSink } from '../apps.js';
import type { RedisHistory } from '../buffer/redis.js';
import { lineFrom, rfc3339, seqOf } from '../line.js';
import type { Log } from '../obs/log.js';
import type { LineBus, LineWatcher } from './bus.js';
import { appMeta, drainState } from './keys.js';
import type { Scripts } from './redis.js';
import { originOf } from './seq.js';

/** What the drain manager hands over for one owned drain. */
export interface DrainHandle {
  /** The drain itself. */
  sink: LineSink;
  /** Lines that have left its queue so far: delivered plus dropped (any reason). */
  consumed(): number;
}

export interface FeedDeps {
  redis: Redis;
  history: RedisHistory;
  bus: LineBus;
  /** True while lines of this node cannot reach the drain through Redis. */
  degraded(): boolean;
  /** True for this node's index (current or earlier). */
  ownOrigin(origin: number): boolean;
  nodeId: string;
  log: Log;
  /** Time source (tests). */
  now?: () => number;
}

/** Lines held while a catch-up runs; beyond, held batches are dropped and re-read from the history. */
const MAX_HELD_LINES = 100_000;
/** Own seq ranges delivered directly that are remembered. */
const MAX_DIRECT_RANGES = 64;

/** `Error L10 (output buffer overflow)` as a platform line (source heroku, dyno logplex). */
export function lossLine(n: number, sinceMs: number, nowMs: number): Buffer {
  return lineFrom({
    pri: 172,
    ts: rfc3339(nowMs),
    source: 'heroku',
    dyno: 'logplex',
    msg: `Error L10 (output buffer overflow): ${n} messages dropped since ${rfc3339(sinceMs)}.`,
    receivedMs: nowMs,
  });
}

const State = { STARTING: 0, LIVE: 1, CATCHING_UP: 2, CLOSED: 3 } as const;
type State = (typeof State)[keyof typeof State];

interface Held {
  recs: readonly Buffer[];
  first: number;
  origin: number;
}

export class DrainFeed implements LineSink, LineWatcher {
  readonly appId: string;
  readonly drainId: string;
  readonly #deps: FeedDeps;
  readonly #handle: DrainHandle;
  readonly #stateKey: string;
  #state: State = State.STARTING;
  /** Highest ordinal handled (offered or skipped). */
  #last = 0;
  #held: Held[] = [];
  #heldLines = 0;
  /** Per offered line: its ordinal, 0 when it has none (direct, L10); -ordinal for a skipped one. */
  #fifo: number[] = [];
  #head = 0;
  #consumedBase = 0;
  #popped = 0;
  /** Last ordinal the drain is done with; saved = what Redis has. */
  cursor = 0;
  #saved = 0;
  /** Own seq ranges [lo, hi, lo, hi, ...] that went to the drain directly. */
  #direct: number[] = [];
  #directOpen = false;
  #retry: NodeJS.Timeout | null = null;
  /** Lines lost to takeovers and missed batches (L10 lines sent), for tests and logs. */
  lost = 0;

  constructor(appId: string, drainId: string, handle: DrainHandle, deps: FeedDeps) {
    this.appId = appId;
    this.drainId = drainId;
    this.#handle = handle;
    this.#deps = deps;
    this.#stateKey = drainState(appId, drainId);
    this.#consumedBase = handle.consumed();
  }

  get live(): boolean {
    return this.#state === State.LIVE;
  }

  #closed(): boolean {
    return this.#state === State.CLOSED;
  }

  #now(): number {
    return this.#deps.now ? this.#deps.now() : Date.now();
  }

  /** Subscribe, read the checkpoint, replay what the previous owner left. */
  async start(): Promise<void> {
    await this.#deps.bus.watch(this.appId, this);
    await this.#begin();
  }

  async #begin(): Promise<void> {
    if (this.#closed()) return;
    try {
      const s = this.#deps.redis as unknown as Scripts;
      const cursor = await s.lpInitCursor(this.#stateKey, appMeta(this.appId));
      const at = await this.#deps.redis.hget(this.#stateKey, 'at');
      if (this.#closed()) return;
      this.cursor = this.#saved = this.#last = cursor;
      await this.#catchUp(at === null ? this.#now() : Number(at));
    } catch (err) {
      this.#deps.log.warn({ at: 'drain.takeover_failed', app: this.appId, drain: this.drainId, err: (err as Error).message }, 'cannot read the drain checkpoint; retrying');
      this.#later(() => void this.#begin());
    }
  }

  #later(fn: () => void): void {
    if (this.#retry || this.#state === State.CLOSED) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      fn();
    }, 1000);
    this.#retry.unref();
  }

  /** A local line (app.sinks): only while Redis cannot carry it to us. */
  offer(rec: Buffer): void {
    if (this.#closed()) return;
    if (!this.#deps.degraded()) {
      this.#directOpen = false;
      return;
    }
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

  /** One of our own lines that went to the drain directly while Redis was away. */
  #wasDirect(rec: Buffer): boolean {
    const seq = seqOf(rec);
    if (!this.#deps.ownOrigin(originOf(seq))) return false;
    const d = this.#direct;
    for (let i = d.length - 2; i >= 0; i -= 2) if (seq >= d[i]! && seq <= d[i + 1]!) return true;
    return false;
  }

  onBatch(recs: readonly Buffer[], first: number, origin: number): void {
    if (this.#closed()) return;
    if (this.#state !== State.LIVE) {
      this.#hold({ recs, first, origin });
      return;
    }
    this.#process(recs, first, origin);
  }

  onResubscribed(): void {
    // batches published while we were away are only in the history
    if (this.#state === State.LIVE) void this.#catchUpNow();
  }

  #hold(h: Held): void {
    if (this.#heldLines + h.recs.length > MAX_HELD_LINES) {
      // the catch-up will read them from the history instead
      this.#held = [];
      this.#heldLines = 0;
      return;
    }
    this.#held.push(h);
    this.#heldLines += h.recs.length;
  }

  /** Offer a batch in ordinal order (origin -1: records from the history, of any node). */
  #process(recs: readonly Buffer[], first: number, origin: number): void {
    if (first > this.#last + 1) {
      this.#hold({ recs, first, origin });
      void this.#catchUpNow();
      return;
    }
    const sink = this.#handle.sink;
    const direct = this.#direct.length > 0 && (origin < 0 || this.#deps.ownOrigin(origin));
    for (let i = 0; i < recs.length; i++) {
      const ord = first + i;
      if (ord <= this.#last) continue;
      const rec = recs[i]!;
      if (direct && this.#wasDirect(rec)) this.#fifo.push(-ord);
      else {
        sink.offer(rec);
        this.#fifo.push(ord);
      }
      this.#last = ord;
    }
  }

  async #catchUpNow(): Promise<void> {
    if (this.#state !== State.LIVE) return;
    await this.#catchUp(this.#now());
  }

  /** Replay from the history everything after #last, then the held batches; L10 for what is gone. */
  async #catchUp(lostSince: number): Promise<void> {
    this.#state = State.CATCHING_UP;
    try {
      for (;;) {
        const h = await this.#deps.history.read(this.appId, this.#last + 1);
        if (this.#closed()) return;
        const missing = h.first - (this.#last + 1);
        if (missing > 0) {
          this.lost += missing;
          this.#deps.log.warn({ at: 'drain.lines_lost', app: this.appId, drain: this.drainId, lines: missing }, 'lines trimmed from the history before this drain got them');
          this.#handle.sink.offer(lossLine(missing, lostSince, this.#now()));
          this.#fifo.push(0);
          this.#last = h.first - 1;
        }
        if (h.records.length > 0) this.#process(h.records, h.first, -1);
        // held batches, in order; one past the end means we must read again
        const held = this.#held;
        this.#held = [];
        this.#heldLines = 0;
        let again = false;
        for (let i = 0; i < held.length; i++) {
          const b = held[i]!;
          if (b.first > this.#last + 1) {
            this.#held = held.slice(i);
            this.#heldLines = this.#held.reduce((n, x) => n + x.recs.length, 0);
            again = true;
            break;
          }
          this.#process(b.recs, b.first, b.origin);
        }
        if (!again) break;
        lostSince = this.#now();
      }
      this.#state = State.LIVE;
    } catch (err) {
      if (this.#closed()) return;
      this.#state = State.LIVE; // batches keep coming; the next gap (or the retry) catches up
      this.#deps.log.warn({ at: 'drain.catch_up_failed', app: this.appId, drain: this.drainId, err: (err as Error).message }, 'cannot read the history to catch up; retrying');
      this.#later(() => void this.#catchUpNow());
    }
  }

  /** Of these local lines that never reached Redis, how many the drain did not get directly. */
  lostLocal(recs: readonly Buffer[]): number {
    if (this.#closed()) return 0;
    let n = 0;
    for (const r of recs) if (!this.#wasDirect(r)) n++;
    return n;
  }

  /** Tell the drain about n lines it will never get (an L10 line). */
  offerLoss(n: number, sinceMs: number): void {
    if (this.#closed() || n <= 0) return;
    this.lost += n;
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
    return this.cursor > this.#saved;
  }

  /** The checkpoint was written. */
  saved(cursor: number): void {
    if (cursor > this.#saved) this.#saved = cursor;
  }

  /** Lines offered and not yet consumed (tests). */
  get inFlight(): number {
    let n = 0;
    for (let i = this.#head; i < this.#fifo.length; i++) if (this.#fifo[i]! >= 0) n++;
    return n - Math.max(0, this.#handle.consumed() - this.#consumedBase - this.#popped);
  }

  close(): void {
    if (this.#closed()) return;
    this.#state = State.CLOSED;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#held = [];
    this.#deps.bus.unwatch(this.appId, this);
  }
}
