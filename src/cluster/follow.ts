// Following one app's line stream across nodes, in ordinal order, with
// nothing skipped silently. Every line in Redis has an ordinal (its position
// in the app's history stream; the append script assigns them, list element
// i is ordinal trimmed + i + 1) and every published batch carries the ordinal
// of its first line. A follower hands its target each ordinal once, in
// order: when a batch starts past the next expected ordinal (messages missed
// while the subscription was down), or the subscription comes back, it reads
// the missing ordinals from the history before going on, holding the batches
// that arrive meanwhile; ordinals already trimmed from the history are
// reported as lost, with their exact number, except those of this node's own
// records that the target already got directly (a node's tails and, while
// Redis was away, its drains get its lines without Redis): the history
// writer knows which ordinals were ours (RedisHistory.ownAmong), the target
// says which of those lines it had.
import type { RedisHistory } from './history.js';
import type { HistoryRead } from './history-read.js';
import type { Log } from '../obs/log.js';
import type { LineWatcher } from './bus.js';

export interface FollowTarget {
  /**
   * Lines recs[from..] in ordinal order (recs[i] has ordinal first + i), each
   * ordinal once. origin: the node that published them, -1 when read from the
   * history (any node: take it from each line's seq).
   */
  lines(recs: readonly Buffer[], from: number, first: number, origin: number): void;
  /**
   * n ordinals will never be seen: trimmed from the history before they were
   * read; sinceMs: when the stream was last known complete; through: the
   * highest of those ordinals. (Lines a node could not write to Redis come
   * as loss notices among the lines.)
   */
  lost(n: number, sinceMs: number, through: number): void;
  /**
   * A record of this node's own was trimmed before it was read: how many
   * lines of it the target did NOT already get (0 when it had the line).
   * seq: the line's seq, -n for a loss notice of n lines, or NaN for a line
   * of ours whose seq this node no longer keeps (own-ordinals.ts).
   */
  ownLost(seq: number): number;
  /**
   * The follower had no start (it never had a batch: e.g. it began while
   * Redis was unreachable) and read the history from its oldest record held:
   * what was trimmed before that is unknown to it (no loss is counted for
   * it); trimmedSeq is the highest seq ever trimmed (0: none). Called before
   * the records of that read are handed over.
   */
  readFromStart?(trimmedSeq: number): void;
  /**
   * The stream's incarnation is `epoch` from now on (redis/scripts.ts,
   * EPOCH_LUA). base: the stream was rewound and its ordinals count from
   * base + 1 again (what the target was handed above base was of the
   * incarnation before; lost() was told what of it the target never got);
   * null when nothing was rewound for the target (the ordinals it was handed
   * are the same in both). Called before the lines of the new epoch.
   */
  rebased?(epoch: number, base: number | null): void;
}

/** Lines held while a catch-up runs; beyond, the held batches are forgotten and read from the history instead. */
const MAX_HELD_LINES = 100_000;

const State = { LIVE: 0, CATCHING_UP: 1, WAITING: 2, CLOSED: 3 } as const;
type State = (typeof State)[keyof typeof State];

interface Held {
  recs: readonly Buffer[];
  first: number;
  origin: number;
  /** The epoch this batch began (0: none). */
  epoch: number;
}

/** The seq field of a record (a line's seq; -1 for a loss notice): what the catch-up compares to tell a rewound stream from the one it followed. */
function seqField(rec: Buffer): number {
  return rec.length >= 8 ? rec.readDoubleLE(0) : NaN;
}

export class StreamFollower implements LineWatcher {
  readonly appId: string;
  readonly #history: RedisHistory;
  readonly #target: FollowTarget;
  readonly #log: Log;
  readonly #now: () => number;
  #state: State = State.LIVE;
  /** Highest ordinal handed over; -1 = not known yet (start at the first batch seen). */
  last = -1;
  /** The incarnation of the stream `last` is an ordinal of (redis/scripts.ts, EPOCH_LUA); 0 = not known. */
  epoch = 0;
  /** The seq field of the record at ordinal `last` when it was handed (NaN: not known): a catch-up that finds another one there finds the stream rewound. */
  #lastSeq = NaN;
  /** A batch began an epoch at or below `last`: the catch-up re-bases on the history's word (0: none). */
  #rewoundTo = 0;
  /** Records of this node's own found trimmed by catch-ups (not lost for a target that had them; tests, diagnostics). */
  ownTrimmed = 0;
  #held: Held[] = [];
  #heldLines = 0;
  /** When the stream was last known complete (loss reports say "since"). */
  #completeAt: number;
  #retry: NodeJS.Timeout | null = null;
  /**
   * Set when batches may have been missed while a catch-up read was under
   * way (the subscription came back, or held batches were forgotten): that
   * read may have started before them, so the catch-up reads once more
   * before it goes live. Without it a stream that then goes quiet would stay
   * unread past that read's end.
   */
  #readAgain = false;
  /** While `last` is -1: the ordinal through which the target's start read the history (readThrough), -1 when none did. */
  #readThroughOrdinal = -1;

  /** waitForStart: hold every batch until startAfter() says where to begin (drain takeover). */
  constructor(appId: string, history: RedisHistory, target: FollowTarget, log: Log, waitForStart = false, now: () => number = Date.now) {
    this.appId = appId;
    if (waitForStart) this.#state = State.WAITING;
    this.#history = history;
    this.#target = target;
    this.#log = log;
    this.#now = now;
    this.#completeAt = now();
    history.follow(appId, this);
  }

  get live(): boolean {
    return this.#state === State.LIVE;
  }
  #closed(): boolean {
    return this.#state === State.CLOSED;
  }

  /** Follow from the ordinal after `after` (of this epoch: 0 when not known): the history first, then the batches (held meanwhile). */
  async startAfter(after: number, lostSinceMs: number, epoch = 0): Promise<void> {
    if (this.#closed()) return;
    this.last = after;
    this.epoch = epoch;
    this.#completeAt = lostSinceMs;
    this.#state = State.LIVE;
    await this.#catchUp();
  }

  /**
   * The target read the history through this ordinal (a tail's start). While
   * the follower never had a batch (a quiet stream), what is trimmed past it
   * before the follower's first read is counted as lost (the lowest such
   * ordinal: every target's start read at least that far).
   */
  readThrough(ordinal: number): void {
    if (this.last >= 0 || ordinal < 0) return;
    if (this.#readThroughOrdinal < 0 || ordinal < this.#readThroughOrdinal) this.#readThroughOrdinal = ordinal;
  }

  onBatch(recs: readonly Buffer[], first: number, origin: number, epoch = 0): void {
    if (this.#closed()) return;
    if (this.#state === State.CATCHING_UP || this.#state === State.WAITING) {
      this.#hold({ recs, first, origin, epoch });
      return;
    }
    if (this.last < 0) this.last = first - 1;
    // a batch of an incarnation older than the one followed (one Redis lost in turn): not this stream's
    if (epoch !== 0 && epoch < this.epoch) return;
    if (epoch !== 0 && epoch !== this.epoch && !this.#began(epoch, first)) {
      // a new incarnation of the stream begins at or below what was handed: the history says what the one before lost
      this.#hold({ recs, first, origin, epoch });
      void this.#catchUp();
      return;
    }
    if (first > this.last + 1) {
      this.#hold({ recs, first, origin, epoch });
      void this.#catchUp();
      return;
    }
    this.#hand(recs, first, origin);
    this.#completeAt = this.#now();
  }

  onResubscribed(): void {
    // batches published while we were away are only in the history (from the start of it when we never had a batch)
    if (this.#state === State.LIVE) void this.#catchUp();
    else if (this.#state === State.CATCHING_UP) this.#readAgain = true;
  }

  #hold(h: Held): void {
    if (this.#heldLines + h.recs.length > MAX_HELD_LINES) {
      this.#held = [];
      this.#heldLines = 0;
      this.#readAgain = true;
      return;
    }
    this.#held.push(h);
    this.#heldLines += h.recs.length;
  }

  /**
   * A batch began epoch at ordinal first: adopted when nothing handed is at
   * or above first (true); else false, and the catch-up re-bases.
   */
  #began(epoch: number, first: number): boolean {
    if (this.last >= first) {
      this.#rewoundTo = epoch;
      return false;
    }
    this.#adopt(epoch, null);
    return true;
  }

  #adopt(epoch: number, base: number | null): void {
    this.epoch = epoch;
    this.#rewoundTo = 0;
    this.#history.sawEpoch(this.appId, epoch, this.last);
    this.#target.rebased?.(epoch, base);
  }

  #hand(recs: readonly Buffer[], first: number, origin: number): void {
    const from = Math.max(0, this.last + 1 - first);
    if (from >= recs.length) return;
    this.last = first + recs.length - 1;
    this.#lastSeq = seqField(recs[recs.length - 1]!);
    this.#target.lines(recs, from, first, origin);
  }

  /**
   * The stream in Redis is not the one this follower handed through `last`
   * (redis/scripts.ts, EPOCH_LUA): re-base `last` on the ordinal the new
   * incarnation began after, and report what the target was not handed of
   * the incarnation before that is gone with it. True when re-based (the
   * caller reads again from there).
   */
  #rewind(h: HistoryRead): boolean {
    if (h.epoch === 0 || h.epoch === this.epoch) return false;
    // ordinals at or below the new incarnation's start are the same in both: nothing handed is undone
    const base = h.rewindBase;
    let rewound = false;
    if (this.last > base) {
      // the record at `last` says (the read began there) when it is still held; else the epochs do, when this follower knew its own
      const at = this.last - h.first;
      if (this.last > h.total) rewound = true;
      else if (at >= 0 && at < h.records.length && !Number.isNaN(this.#lastSeq)) rewound = seqField(h.records[at]!) !== this.#lastSeq;
      else rewound = this.#rewoundTo !== 0 || this.epoch !== 0;
    }
    if (!rewound) {
      this.#adopt(h.epoch, null);
      return false;
    }
    const lost = Math.max(0, h.rewindTop - this.last);
    this.#log.warn({ at: 'cluster.stream_rewound', app: this.appId, handed: this.last, base, lost }, 'the app\'s stream in Redis went back (a failover to a replica that lagged, or a Redis restart that lost writes): following it from where it began again');
    if (lost > 0) this.#target.lost(lost, this.#completeAt, Infinity);
    this.last = base;
    this.#lastSeq = NaN;
    this.#adopt(h.epoch, base);
    return true;
  }

  /** Read everything after `last` from the history, then the held batches in order. */
  async #catchUp(): Promise<void> {
    if (this.#state === State.CATCHING_UP || this.#closed()) return;
    this.#state = State.CATCHING_UP;
    await this.#run();
  }

  /** The catch-up itself; batches arriving meanwhile are held (also while a failed read waits to be retried). */
  async #run(): Promise<void> {
    try {
      for (;;) {
        this.#readAgain = false;
        // from the ordinal handed last when its record is known: a stream that went back has another one there
        const h = await this.#history.read(this.appId, this.last >= 1 && !Number.isNaN(this.#lastSeq) ? this.last : this.last + 1);
        if (this.#closed()) return;
        if (this.#rewind(h)) continue;
        // a batch began an epoch the history does not have (Redis lost it in turn): its batches are not this stream's
        const stale = h.epoch === this.epoch ? this.#rewoundTo : 0;
        if (stale !== 0) this.#rewoundTo = 0;
        if (this.last > h.total && h.epoch === this.epoch) {
          // went back, and no append began a new incarnation yet: this node's next one will (what it saw is its floor)
          this.#history.sawEpoch(this.appId, this.epoch, this.last);
        }
        if (this.last < 0) this.#target.readFromStart?.(h.trimmedSeq);
        // never had a batch: the read is from the oldest record held, and lost is what was trimmed past the target's start
        const known = this.last >= 0 ? this.last : this.#readThroughOrdinal;
        const missing = h.first - (known + 1);
        if (missing > 0 && known >= 0) {
          // our own records among them count only for what the target did not get directly
          let ownLost = 0;
          const own = this.#history.ownAmong(this.appId, known + 1, h.first - 1, (seq) => {
            ownLost += this.#target.ownLost(seq);
          });
          this.ownTrimmed += own;
          // another node's loss notice among them stands for the lines it announced, not one
          let announced = 0;
          for (const x of h.trimmedNotices) if (x.ordinal > known && x.ordinal <= h.first - 1 && !this.#history.isOwn(this.appId, x.ordinal)) announced += x.n - 1;
          const lost = missing - own + ownLost + announced;
          if (lost > 0) {
            this.#log.warn({ at: 'cluster.lines_lost', app: this.appId, lines: lost }, 'lines trimmed from the history before this node could read them');
            this.#target.lost(lost, this.#completeAt, h.first - 1);
          }
        }
        if (this.last < h.first - 1) this.last = h.first - 1;
        if (h.records.length > 0) this.#hand(h.records, h.first, -1);
        const held = this.#held;
        this.#held = [];
        this.#heldLines = 0;
        let again = this.#readAgain;
        for (let i = 0; i < held.length; i++) {
          const b = held[i]!;
          if (b.epoch !== 0 && (b.epoch < this.epoch || b.epoch === stale)) continue;
          if ((b.epoch !== 0 && b.epoch !== this.epoch && !this.#began(b.epoch, b.first)) || b.first > this.last + 1) {
            this.#held = held.slice(i);
            this.#heldLines = this.#held.reduce((n, x) => n + x.recs.length, 0);
            again = true;
            break;
          }
          this.#hand(b.recs, b.first, b.origin);
        }
        if (!again) break;
      }
      this.#completeAt = this.#now();
      this.#state = State.LIVE;
    } catch (err) {
      if (this.#closed()) return;
      // still catching up: batches stay held (bounded) until the read works
      this.#log.warn({ at: 'cluster.catch_up_failed', app: this.appId, err: (err as Error).message }, 'cannot read the history to catch up; retrying');
      if (!this.#retry) {
        this.#retry = setTimeout(() => {
          this.#retry = null;
          if (!this.#closed()) void this.#run();
        }, 1000);
        this.#retry.unref();
      }
    }
  }

  close(): void {
    if (this.#state !== State.CLOSED) this.#history.unfollow(this.appId, this);
    this.#state = State.CLOSED;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#held = [];
  }
}
