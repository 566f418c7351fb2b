// One reader of one session over one transport. A Tail replays history,
// then takes the tick's lines from its app's TailHub (hub.ts) and writes
// straight to its socket while the socket keeps up; when the socket's buffer
// passes a bound it queues into its own bounded TailQueue, which drops the
// oldest and counts exactly. The client is told with a gap (SPEC 5.4).
// Nothing here ever waits on a socket: a slow reader costs only its own queue.
import type { App } from '../apps.js';
import type { TimeSource } from '../basics/clock.js';
import { NODE_SLOTS } from '../basics/seq.js';
import { receivedOf, seqOf } from '../line.js';
import type { Gap } from './encode.js';
import type { LineFilter } from '../line-filter.js';
import { belowMark, estimateMissing, historyLosses, LateCount, partialGap, partialStart, placeStop, seqBefore, type PartialStart, type RemoteLoss, type StartHistory, type Stop } from './start.js';
import type { TailHub } from './hub.js';
import { TailQueue } from './queue.js';
import type { Session } from './session.js';

/** Lines per frame / write when flushing (keeps one frame bounded). */
export const CHUNK_LINES = 512;

export const Transport = { WS: 'ws', SSE: 'sse', TEXT: 'text', LIB: 'lib' } as const;
export type Transport = (typeof Transport)[keyof typeof Transport];

/** The transport side of a tail: encodes and writes, reports its socket buffer. */
export interface TailSink {
  readonly transport: Transport;
  /** Bytes accepted but not yet handed to the kernel. */
  buffered(): number;
  /** Call cb once when the socket has drained (the tail re-checks buffered()). */
  onDrain(cb: () => void): void;
  /** Sent first (WebSocket hello). */
  hello(app: string, head: number): void;
  /** Encode recs[from, to) and write them, synchronously (ring views die at the next push). */
  writeLines(recs: readonly Buffer[], from: number, to: number): void;
  writeGap(gap: Gap): void;
  /** History done and no tail: finish normally (end frame + close 1000, end of response). */
  finish(): void;
  /** Stop now (server closing, app deleted, the creating key revoked or out of scope). */
  close(reason: 'shutdown' | 'deleted' | 'revoked'): void;
}

export interface TailOptions {
  queueLines: number;
  /** Socket buffer above which the tail stops writing and queues. */
  maxBufferedBytes: number;
  clock: TimeSource;
}

/** How long to wait for a drain event before re-checking the buffer anyway. */
const DRAIN_POLL_MS = 250;

/** One reader of one session over one transport. */
export class Tail {
  readonly session: Session;
  readonly app: App;
  readonly sink: TailSink;
  readonly #filter: LineFilter;
  readonly #queue: TailQueue;
  readonly #opts: TailOptions;
  /** Highest seq delivered or queued: nothing at or below it is sent again. */
  #lastSeq = 0;
  #blocked = false;
  #closed = false;
  #released = false;
  #pollTimer: NodeJS.Timeout | null = null;
  readonly #out: Buffer[] = [];
  #hub: TailHub | null = null;
  /** Distributed mode: highest seq delivered per origin node (a line at or below it is a duplicate, above it but below #lastSeq came too late). */
  #marks: Float64Array | null = null;
  /** Distributed mode: history is being fetched; live lines wait in the queue. */
  #starting = false;
  /** Distributed mode: waiting for the hub to release the lines up to the history's newest. */
  #startTimer: NodeJS.Timeout | null = null;
  /** Distributed mode: losses reported while starting, counted once the history says which of them it covered. */
  #startLosses: RemoteLoss[] = [];
  /** Distributed mode: the ordinal up to which the start counted what other nodes lost (a later report at or below it was counted then). */
  #coveredOrdinal = -1;
  /** Distributed mode: started without the other nodes' lines, and not yet told what the stream trimmed before this node could read it (unreadTrimmed). */
  #partial: PartialStart | null = null;
  /** Distributed mode: unreadTrimmed() while starting, -1 when not called. */
  #trimmedWhileStarting = -1;
  /** Lines handed to the socket (metrics). */
  linesOut = 0;
  /** Lines that arrived after newer ones had been sent (distributed mode; metrics). */
  lateTotal = 0;
  /** A resume's late lines (distributed mode; metrics): appended after the line it resumed from, with older seqs. */
  resumeLateTotal = 0;
  onClose: ((t: Tail) => void) | null = null;

  constructor(session: Session, app: App, sink: TailSink, filter: LineFilter, opts: TailOptions) {
    this.session = session;
    this.app = app;
    this.sink = sink;
    this.#filter = filter;
    this.#queue = new TailQueue(opts.queueLines);
    this.#opts = opts;
  }

  get closed(): boolean {
    return this.#closed;
  }
  get queue(): TailQueue {
    return this.#queue;
  }

  /**
   * Hello, the resume gap if any, history from the ring, then either finish
   * (no tail) or subscribe to the hub. All synchronous: the ring views are
   * encoded before any other line can be routed.
   */
  start(hub: TailHub | null, after: number | null): void {
    const app = this.app;
    const ring = app.ring;
    const head = app.seq;
    const spec = this.session.spec;
    this.sink.hello(app.id, head);
    if (after !== null) {
      const a = Math.min(after, head);
      const first = ring.count === 0 ? head + 1 : ring.firstSeq;
      if (a < first - 1) {
        const since = ring.count === 0 ? this.#opts.clock.now() : receivedOf(ring.at(0));
        this.sink.writeGap({ dropped: first - 1 - a, since, from: a + 1, to: first - 1 });
      }
      const at = (i: number): Buffer => ring.at(i);
      this.#replay(at, ring.indexAfter(a), ring.count, 0);
    } else if (spec.num > 0) {
      this.#replay((i) => ring.at(i), 0, ring.count, spec.num);
    }
    this.#lastSeq = head;
    if (!spec.tail || hub === null) {
      this.#closed = true;
      this.sink.finish();
      return;
    }
    this.#hub = hub;
    hub.add(this);
    if (this.sink.buffered() > this.#opts.maxBufferedBytes) this.#block();
  }

  /**
   * Distributed mode: subscribe first (live lines wait in the queue), then
   * hello, the resume gap, history from `history`, then every line after it.
   * `history.lines` is the history as of the subscription (read when the
   * tail opened: it is what `num` counts back from and what a resume point
   * is looked up in); every line after it is sent: the other nodes' lines
   * appended before the subscription was confirmed (`history.newer`) and the
   * live lines, merged in seq order once the hub has released every line up
   * to the newest of them.
   */
  startFrom(hub: TailHub | null, after: number | null, history: Promise<StartHistory>): void {
    const spec = this.session.spec;
    this.#marks = new Float64Array(NODE_SLOTS);
    if (spec.tail && hub !== null) {
      this.#hub = hub;
      this.#starting = true;
      hub.add(this);
    }
    history.then(
      (h) => this.#begin(h, after),
      () => this.#begin({ lines: [], trimmedSeq: 0, complete: false }, after),
    );
  }

  #begin(h: StartHistory, after: number | null): void {
    this.#startTimer = null;
    if (this.#closed) return;
    const hub = this.#hub;
    const lines = h.lines;
    const newer = h.newer?.lines ?? [];
    if (hub !== null) {
      // merge only once every line up to the newest seq here has left the hub (later ones come after it, in order)
      const top = Math.max(lines.length > 0 ? seqOf(lines[lines.length - 1]!) : 0, newer.length > 0 ? seqOf(newer[newer.length - 1]!) : 0);
      if (hub.settledThrough() < top) {
        this.#startTimer = setTimeout(() => this.#begin(h, after), hub.settleMs).unref();
        return;
      }
    }
    const app = this.app;
    const spec = this.session.spec;
    const marks = this.#marks!;
    const head = app.seq;
    this.sink.hello(app.id, head);
    // the history part sent: lines[from, length)
    let from = lines.length;
    let last = 0;
    if (after !== null) {
      // (the marks stay at the history's lines: a line of another node at or below the resume point that comes
      // later was appended after the line resumed from, so after the reader had it: late, as for a resume's history)
      last = after;
      from = 0;
      while (from < lines.length && seqOf(lines[from]!) <= after) from++;
      if (h.trimmedSeq > after) {
        // lines after the resume point were trimmed from the shared history
        const first = from < lines.length ? seqOf(lines[from]!) : h.trimmedSeq + 1;
        const since = from < lines.length ? receivedOf(lines[from]!) : this.#opts.clock.now();
        this.sink.writeGap({ dropped: estimateMissing(lines, after, first), since, from: after + 1, to: Math.max(after + 1, first - 1) });
      }
    } else if (spec.num > 0) {
      from = this.#windowStart(lines, spec.num);
    }
    // Redis could not be read: the lines are this node's only, and other nodes' lines at or below the floor never count as lost
    const partial = h.complete === false ? partialStart(lines, from, after, spec.num, spec.tail, this.#filter, head, this.#opts.clock.now()) : null;
    if (partial !== null) marks.fill(partial.floor);
    // every line of the history counts as seen: a copy of one arriving live is not sent (again)
    for (let i = 0; i < lines.length; i++) {
      const seq = seqOf(lines[i]!);
      const o = seq % NODE_SLOTS;
      if (seq > marks[o]!) marks[o] = seq;
      if (seq > last) last = seq;
    }
    // the marks of the history alone (the lines after it raise them below), for the losses reported while starting
    const historyMarks = this.#startLosses.length > 0 ? marks.slice() : marks;
    // loss notices among the history lines sent (a resume's: those it cannot have been told of, docs/tail.md)
    const stops = after !== null || spec.num > 0 ? historyLosses(lines, from, h.losses, after !== null, this.#filter, this.#opts.clock.now()) : [];
    for (const x of stops) if (x.late) this.resumeLateTotal += x.gap.dropped;
    if (!spec.tail || hub === null) {
      for (const x of stops) placeStop(x, x.at, seqBefore(lines, x.at, after));
      this.#replayWith((i) => lines[i]!, from, lines.length, stops, 0);
      if (partial !== null) this.sink.writeGap(partialGap(partial, head));
      this.#lastSeq = last;
      this.#closed = true;
      this.sink.finish();
      return;
    }
    // the lines after the history: newer, and the live lines queued meanwhile that are past their node's lines in the history
    const queue = this.#queue;
    const gap = queue.takeGap();
    // (a catch-up line at or below its node's mark is history already: not sent; one at or below a resume point
    // is not sent either, and came too late, as a live one would: Tail.deliver's count)
    const after2: Buffer[] = [];
    const late = new LateCount();
    const take = (r: Buffer): void => {
      const seq = seqOf(r);
      const o = seq % NODE_SLOTS;
      if (seq <= marks[o]!) return;
      if (after === null || seq > after) after2.push(r);
      else if (this.#filter.matches(r)) {
        late.add(seq);
        marks[o] = seq;
      }
    };
    for (const r of newer) take(r);
    const out = this.#out;
    while (queue.count > 0) {
      queue.shiftInto(out, CHUNK_LINES);
      for (const r of out) take(r);
      out.length = 0;
    }
    after2.sort((a, b) => seqOf(a) - seqOf(b));
    // one sequence in seq order, each seq once; the gaps go before the first line after the history
    // (a loss notice's gap before the history line it preceded)
    const all: Buffer[] = [];
    let split = -1;
    let i = from;
    let j = 0;
    let prev = -1;
    let s = 0;
    let afterHistory = 0;
    // a stop at pos goes after the line before it there (or, first, after its history line's predecessor)
    const place = (stop: Stop, pos: number): void => placeStop(stop, pos, pos > 0 ? seqOf(all[pos - 1]!) : seqBefore(lines, stop.at, after));
    while (i < lines.length || j < after2.length) {
      const takeHistory = j >= after2.length || (i < lines.length && seqOf(lines[i]!) <= seqOf(after2[j]!));
      if (takeHistory) while (s < stops.length && stops[s]!.at <= i) place(stops[s++]!, all.length);
      const rec = takeHistory ? lines[i++]! : after2[j++]!;
      const seq = seqOf(rec);
      if (seq !== prev) {
        prev = seq;
        if (!takeHistory && split < 0) split = all.length;
        all.push(rec);
        if (seq > last) last = seq;
        const o = seq % NODE_SLOTS;
        if (seq > marks[o]!) marks[o] = seq;
      }
      if (takeHistory) afterHistory = all.length;
    }
    while (s < stops.length) place(stops[s++]!, afterHistory);
    if (split < 0) split = all.length;
    const at = (k: number): Buffer => all[k]!;
    const stopsLeft = this.#replayWith(at, 0, split, stops, 0);
    // the history part could not hold other nodes' lines: said before the first line after it (to: below that line)
    if (partial !== null) this.sink.writeGap(partialGap(partial, split < all.length ? seqOf(all[split]!) - 1 : head));
    // the other nodes' lines between the history and the live lines that will not come: counted by the
    // catch-up read, reported while starting past what that read covered, or (the read failed) estimated
    const later = h.newer;
    let lost = later?.lost ?? 0;
    let since = later?.since ?? this.#opts.clock.now();
    const covered = later?.through ?? h.through ?? -1;
    for (const x of this.#startLosses) {
      if (x.ordinal <= covered || belowMark(x.before, historyMarks)) continue;
      lost += x.n;
      if (x.since < since) since = x.since;
    }
    this.#startLosses = [];
    this.#coveredOrdinal = covered;
    // the hole starts past the last line sent, the resume point, or the history's newest line (num 0 sends none of it)
    const a = split > 0 ? seqOf(all[split - 1]!) + 1 : after !== null ? after + 1 : lines.length > 0 ? seqOf(lines[lines.length - 1]!) + 1 : 0;
    const b = split < all.length ? Math.max(a, seqOf(all[split]!) - 1) : a;
    if (later !== undefined && !later.complete) lost += split < all.length ? estimateMissing(lines, a - 1, b + 1) : 1;
    if (lost > 0) {
      this.lateTotal += lost;
      this.sink.writeGap({ dropped: lost, since, from: a, to: b });
    }
    if (late.n > 0) {
      this.lateTotal += late.n;
      this.sink.writeGap(late.gap(this.#opts.clock.now()));
    }
    if (gap) this.sink.writeGap(gap);
    this.#replayWith(at, split, all.length, stops, stopsLeft);
    this.#lastSeq = last;
    this.#starting = false;
    this.#partial = partial;
    if (partial !== null && this.#trimmedWhileStarting >= 0) this.unreadTrimmed(this.#trimmedWhileStarting);
    if (!this.#blocked && this.sink.buffered() > this.#opts.maxBufferedBytes) this.#block();
  }

  /**
   * Distributed mode: the app's stream was read from its oldest record held,
   * with nothing known of the records trimmed before (its follower never had
   * a batch: it was started while Redis was unreachable); trimmedSeq: the
   * highest seq ever trimmed. A tail that started without the other nodes'
   * lines may have wanted some of those (any above its floor): a gap saying
   * so, after the last seq sent, as the live path reports a loss; how many is
   * not known (0, a lower bound). Once: later losses are counted exactly.
   */
  unreadTrimmed(trimmedSeq: number): void {
    if (this.#closed) return;
    if (this.#starting) {
      if (trimmedSeq > this.#trimmedWhileStarting) this.#trimmedWhileStarting = trimmedSeq;
      return;
    }
    const p = this.#partial;
    if (p === null) return;
    this.#partial = null;
    if (trimmedSeq <= p.floor) return;
    const at = this.#lastSeq + 1;
    if (this.#blocked) this.#queue.noteLoss(0, at, at, p.since, true);
    else this.sink.writeGap({ dropped: 0, since: p.since, from: at, to: at, lowerBound: true });
  }

  /** #replay of at(i), i in [from, to), with the gaps of stops[k..] whose pos is at most `to` written before the line at their pos; returns the next stop's index. */
  #replayWith(at: (i: number) => Buffer, from: number, to: number, stops: readonly Stop[], k: number): number {
    let p = from;
    while (k < stops.length && stops[k]!.pos <= to) {
      const stop = stops[k++]!;
      if (stop.pos > p) {
        this.#replay(at, p, stop.pos, 0);
        p = stop.pos;
      }
      this.sink.writeGap(stop.gap);
    }
    this.#replay(at, p, to, 0);
    return k;
  }

  /** Where the newest `num` lines matching the filter start in sorted lines. */
  #windowStart(lines: readonly Buffer[], num: number): number {
    const filter = this.#filter;
    let i = lines.length - 1;
    let n = 0;
    for (; i >= 0 && n < num; i--) if (filter.matches(lines[i]!)) n++;
    return i + 1;
  }

  /**
   * History replay, the one loop for the ring and for a merged history: the
   * lines at(i), i in [from, to), that match the filter (with newest > 0,
   * only the newest that many of them), oldest first, CHUNK_LINES a write.
   * Synchronous: a ring view is written before the next line is routed.
   */
  #replay(at: (i: number) => Buffer, from: number, to: number, newest: number): void {
    const filter = this.#filter;
    if (newest > 0) {
      let i = to - 1;
      let n = 0;
      for (; i >= from && n < newest; i--) if (filter.matches(at(i))) n++;
      from = i + 1;
    }
    const out = this.#out;
    out.length = 0;
    for (let i = from; i < to; i++) {
      const rec = at(i);
      if (!filter.matches(rec)) continue;
      out.push(rec);
      if (out.length === CHUNK_LINES) this.#write(out);
    }
    if (out.length > 0) this.#write(out);
  }

  /** A tick's lines from the hub (called once per tick per tail). */
  deliver(batch: readonly Buffer[], n: number): void {
    if (this.#closed) return;
    const queue = this.#queue;
    const now = this.#opts.clock.now();
    if (this.#starting) {
      for (let i = 0; i < n; i++) queue.push(batch[i]!, now);
      return;
    }
    const filter = this.#filter;
    const marks = this.#marks;
    let last = this.#lastSeq;
    let late: LateCount | null = null;
    const out = this.#out;
    out.length = 0;
    for (let i = 0; i < n; i++) {
      const rec = batch[i]!;
      const seq = seqOf(rec);
      if (seq <= last) {
        // distributed mode: not a duplicate, but after newer lines went out (a duplicate: at or below the
        // highest of its origin sent, and not above what of this node's may be in Redis under an index it lost)
        if (marks !== null && (seq > marks[seq % NODE_SLOTS]! || seq > this.#ownCeiling(seq % NODE_SLOTS)) && filter.matches(rec)) {
          (late ??= new LateCount()).add(seq);
          if (seq > marks[seq % NODE_SLOTS]!) marks[seq % NODE_SLOTS] = seq;
        }
        continue;
      }
      if (!filter.matches(rec)) continue;
      last = seq;
      if (marks !== null) marks[seq % NODE_SLOTS] = seq;
      if (this.#blocked) {
        queue.push(rec, now);
        continue;
      }
      out.push(rec);
      if (out.length === CHUNK_LINES) {
        this.#write(out);
        if (this.sink.buffered() > this.#opts.maxBufferedBytes) this.#block();
      }
    }
    this.#lastSeq = last;
    if (out.length > 0) {
      this.#write(out);
      if (!this.#blocked && this.sink.buffered() > this.#opts.maxBufferedBytes) this.#block();
    }
    if (late !== null) {
      this.lateTotal += late.n;
      if (this.#blocked) queue.noteLoss(late.n, late.from, late.to, now);
      else this.sink.writeGap(late.gap(now));
    }
  }

  #ownCeiling(origin: number): number {
    return this.#hub?.ownCeiling(origin) ?? Infinity;
  }

  /**
   * Lines that will never arrive (distributed mode): a gap after the last seq
   * sent. While starting, kept until the history is in: the ones its
   * catch-up read covered (ordinal up to the read's) are counted there.
   * before: for a loss notice, the seq of its node's line after it (belowMark).
   */
  remoteLoss(n: number, since: number, ordinal = Infinity, before = Infinity): void {
    if (this.#closed) return;
    if (this.#starting) {
      this.#startLosses.push({ n, since, ordinal, before });
      return;
    }
    // a report the start already counted (its catch-up read covered that ordinal): not again
    if (ordinal <= this.#coveredOrdinal) return;
    if (this.#marks !== null && belowMark(before, this.#marks)) return;
    const at = this.#lastSeq + 1;
    this.lateTotal += n;
    if (this.#blocked) this.#queue.noteLoss(n, at, at, since);
    else this.sink.writeGap({ dropped: n, since, from: at, to: at });
  }

  #write(out: Buffer[]): void {
    this.sink.writeLines(out, 0, out.length);
    this.linesOut += out.length;
    out.length = 0;
  }

  #block(): void {
    if (this.#blocked || this.#closed) return;
    this.#blocked = true;
    this.#waitDrain();
  }

  #waitDrain(): void {
    let fired = false;
    const resume = (): void => {
      if (fired) return;
      fired = true;
      if (this.#pollTimer) clearTimeout(this.#pollTimer);
      this.#pollTimer = null;
      this.#resume();
    };
    this.sink.onDrain(resume);
    // a drain event can be missed (nothing was over the socket's own mark); re-check
    const poll = (): void => {
      if (fired || this.#closed) return;
      if (this.sink.buffered() <= this.#opts.maxBufferedBytes / 2) resume();
      else this.#pollTimer = setTimeout(poll, DRAIN_POLL_MS).unref();
    };
    this.#pollTimer = setTimeout(poll, DRAIN_POLL_MS).unref();
  }

  /** The socket drained: the gap first, then queued lines while the socket keeps up. */
  #resume(): void {
    if (this.#closed) return;
    const queue = this.#queue;
    const gap = queue.takeGap();
    if (gap) this.sink.writeGap(gap);
    const out = this.#out;
    const max = this.#opts.maxBufferedBytes;
    while (queue.count > 0) {
      if (this.sink.buffered() > max) {
        this.#waitDrain();
        return;
      }
      queue.shiftInto(out, CHUNK_LINES);
      this.#write(out);
    }
    if (this.sink.buffered() > max) {
      this.#waitDrain();
      return;
    }
    this.#blocked = false;
  }

  /** The reader went away (or we stop it): unsubscribe and release the session once. */
  close(): void {
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = null;
    if (this.#startTimer) clearTimeout(this.#startTimer);
    this.#startTimer = null;
    this.#closed = true;
    if (this.#released) return;
    this.#released = true;
    this.#hub?.remove(this);
    this.#hub = null;
    this.onClose?.(this);
  }
}
