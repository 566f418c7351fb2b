// Lines per second of one app over the last 5 minutes, by source: what the
// console's chart and the apps page's sparklines show. route() counts every
// line with integer work only (no allocation, no string): one bucket per
// second and per source class, in a ring of RATE_WINDOW_S seconds taken once
// an app's lines span two seconds. The second is the line's receive time, so
// lines of one ingest batch land in one second whatever the event loop's
// delay.
//
// Sources are classed into a small fixed set (RATE_SOURCES): `app` (the app's
// own output), `heroku` (router and platform lines) and `other` (every other
// token name). A fixed set keeps the counter a flat array and the route's
// answer bounded whatever the token names.

/** The source classes, in bucket order. */
export const RATE_SOURCES = ['app', 'heroku', 'other'] as const;
export type RateSource = (typeof RATE_SOURCES)[number];
/** Seconds of history kept. */
export const RATE_WINDOW_S = 300;

const NSRC = RATE_SOURCES.length;
// cooked line layout (line.ts): tsLen at 17, sourceLen at 18, fields from 20
const OFF_TSLEN = 17;
const OFF_SRCLEN = 18;
const HEADER = 20;
const A = 0x61;
const P = 0x70;
const H = 0x68;
const E = 0x65;
const R = 0x72;
const O = 0x6f;
const K = 0x6b;
const U = 0x75;

/** One app's counts, by second and source class. */
export interface RateSeries {
  /** Unix second of the first point; points are one second apart. */
  start: number;
  /** Per source class, RATE_WINDOW_S counts, oldest first (the last one is the current, unfinished second). */
  counts: Record<RateSource, number[]>;
}

const WINDOW_WORDS = RATE_WINDOW_S * NSRC;
const SLAB_WINDOWS = 256;

/**
 * Windows for every app's counter, carved from shared blocks of 256 (900 KB
 * each) and reused: made one by one, 10,000 apps starting in one second
 * allocated 36 MB of small typed arrays at once, and the garbage collection
 * that followed held every line of that second for up to ~100 ms.
 */
export class RateSlab {
  readonly #blocks: Uint32Array[] = [];
  readonly #free: number[] = [];

  /** A zeroed window: its number (block * SLAB_WINDOWS + index). */
  take(): number {
    if (this.#free.length === 0) {
      const b = this.#blocks.length;
      this.#blocks.push(new Uint32Array(WINDOW_WORDS * SLAB_WINDOWS));
      for (let i = SLAB_WINDOWS - 1; i >= 0; i--) this.#free.push(b * SLAB_WINDOWS + i);
    }
    return this.#free.pop()!;
  }
  /** Window n is free again: zeroed now (a new block is zero already, so taking one writes nothing). */
  give(n: number): void {
    this.block(n).fill(0, base(n), base(n) + WINDOW_WORDS);
    this.#free.push(n);
  }
  /** The block holding window n. */
  block(n: number): Uint32Array {
    return this.#blocks[Math.floor(n / SLAB_WINDOWS)]!;
  }
  /** Windows handed out (tests, metrics). */
  get inUse(): number {
    return this.#blocks.length * SLAB_WINDOWS - this.#free.length;
  }
}

/** Where window n starts in its block. */
function base(n: number): number {
  return (n % SLAB_WINDOWS) * WINDOW_WORDS;
}

/** The slab every counter uses unless given another. */
export const rateSlab = new RateSlab();

export class LineRates {
  readonly #slab: RateSlab;
  /** The window's block (counts[base + (second % WINDOW) * NSRC + source] of the seconds before the newest); null until lines of two different seconds came. */
  #counts: Uint32Array | null = null;
  #base = 0;
  /** The window's number in the slab. */
  #window = -1;
  #cleared = false;
  /** The newest second counted; its counts are the three fields below until a later second starts. */
  #sec = 0;
  /** The newest second's span in ms, [#fromMs, #toMs): most lines land there with two compares. */
  #fromMs = 0;
  #toMs = -1;
  #app = 0;
  #heroku = 0;
  #other = 0;

  constructor(slab: RateSlab = rateSlab) {
    this.#slab = slab;
  }

  /** Count one cooked line. */
  count(rec: Uint8Array, receivedMs: number): void {
    if (receivedMs >= this.#fromMs && receivedMs < this.#toMs) this.#bump(sourceClass(rec, 0));
    else this.#add(receivedMs, sourceClass(rec, 0));
  }

  /** Count one line whose source class is known (a line of an ingest worker's batch: the worker classed its token's name). */
  countClass(src: number, receivedMs: number): void {
    if (receivedMs >= this.#fromMs && receivedMs < this.#toMs) this.#bump(src);
    else this.#add(receivedMs, src);
  }

  #bump(src: number): void {
    if (src === 0) this.#app++;
    else if (src === 1) this.#heroku++;
    else this.#other++;
  }

  /** The newest second's counts into the window. */
  #store(c: Uint32Array): void {
    const at = this.#base + (this.#sec % RATE_WINDOW_S) * NSRC;
    c[at] = this.#app;
    c[at + 1] = this.#heroku;
    c[at + 2] = this.#other;
  }

  /**
   * The slow path, once a second: a line of a new second, or a late line.
   * The window's array is made when a second line's second differs from
   * the first's: an app whose lines all came in one second (most apps of a
   * platform between deploys) holds the three fields only, not 3.6 KB.
   */
  #add(receivedMs: number, src: number): void {
    if (this.#cleared) return;
    const sec = Math.floor(receivedMs / 1000);
    if (this.#toMs === -1 || this.#quietAt(sec)) {
      // the first line, or the first after the whole window went by quiet: the window, if any, holds nothing any more
      this.#release();
      this.#app = this.#heroku = this.#other = 0;
      this.#sec = sec;
      this.#fromMs = sec * 1000;
      this.#toMs = this.#fromMs + 1000;
      this.#bump(src);
      return;
    }
    if (this.#counts === null) {
      this.#window = this.#slab.take();
      this.#counts = this.#slab.block(this.#window);
      this.#base = base(this.#window);
    }
    const c = this.#counts;
    const b = this.#base;
    const newest = this.#sec;
    if (sec > newest) {
      this.#store(c);
      // clear the buckets of the seconds skipped (at most the whole window)
      for (let s = Math.max(newest + 1, sec - RATE_WINDOW_S + 1); s <= sec; s++) c.fill(0, b + (s % RATE_WINDOW_S) * NSRC, b + (s % RATE_WINDOW_S) * NSRC + NSRC);
      this.#sec = sec;
      this.#fromMs = sec * 1000;
      this.#toMs = this.#fromMs + 1000;
      this.#app = this.#heroku = this.#other = 0;
      this.#bump(src);
    } else if (sec > newest - RATE_WINDOW_S) {
      c[b + (sec % RATE_WINDOW_S) * NSRC + src]!++; // a late line of an earlier second in the window
    }
  }

  /** The last RATE_WINDOW_S seconds up to and including nowSec. */
  series(nowSec: number): RateSeries {
    const start = nowSec - RATE_WINDOW_S + 1;
    const counts = { app: [], heroku: [], other: [] } as Record<RateSource, number[]>;
    const c = this.#counts;
    if (c !== null) this.#store(c);
    const newest = this.#sec;
    const any = this.#toMs !== -1;
    const only = [this.#app, this.#heroku, this.#other]; // the one second counted while there is no window yet
    for (let s = start; s <= nowSec; s++) {
      const valid = any && s <= newest && s > newest - RATE_WINDOW_S;
      for (let k = 0; k < NSRC; k++) counts[RATE_SOURCES[k]!].push(!valid ? 0 : c !== null ? c[this.#base + (s % RATE_WINDOW_S) * NSRC + k]! : s === newest ? only[k]! : 0);
    }
    return { start, counts };
  }

  /** The newest second counted, or -1 before any line (a cheap "anything since?" for the cluster's rate writer). */
  get newest(): number {
    return this.#toMs === -1 ? -1 : this.#sec;
  }

  /**
   * The counts of the n seconds from fromSec into out, NSRC per second in
   * RATE_SOURCES order (the same figures series() gives, without making its
   * arrays): what the cluster's rate writer copies to Redis. True when any
   * count is not 0.
   */
  read(fromSec: number, n: number, out: number[]): boolean {
    const c = this.#counts;
    if (c !== null) this.#store(c);
    const newest = this.#sec;
    const any = this.#toMs !== -1;
    let some = false;
    for (let i = 0; i < n; i++) {
      const s = fromSec + i;
      const valid = any && s <= newest && s > newest - RATE_WINDOW_S;
      for (let k = 0; k < NSRC; k++) {
        const v = !valid ? 0 : c !== null ? c[this.#base + (s % RATE_WINDOW_S) * NSRC + k]! : s === newest ? k === 0 ? this.#app : k === 1 ? this.#heroku : this.#other : 0;
        out[i * NSRC + k] = v;
        if (v !== 0) some = true;
      }
    }
    return some;
  }

  /** Bytes of the window: 0 until an app's lines span two seconds. */
  get memoryBytes(): number {
    return this.#counts === null ? 0 : WINDOW_WORDS * 4;
  }

  /**
   * Give the window back when the app has been quiet for the whole window
   * (nothing in it would be shown any more): true when one was given. The
   * node calls it for every app once a minute (Registry.sweepRates), so an
   * app that goes quiet for good does not keep 3.6 KB until its next line.
   */
  releaseIfQuiet(nowSec: number): boolean {
    if (this.#counts === null || !this.#quietAt(nowSec)) return false;
    this.#release();
    return true;
  }

  /** True when second sec is a whole window after the newest second counted: nothing counted is shown any more. */
  #quietAt(sec: number): boolean {
    return sec - this.#sec >= RATE_WINDOW_S;
  }

  /** Give the window back (the app is deleted, or its lines start again after 5 quiet minutes). */
  #release(): void {
    if (this.#counts === null) return;
    this.#slab.give(this.#window);
    this.#counts = null;
    this.#window = -1;
  }

  /** Forget every count and give the window back for good (the app is deleted: a line routed to it late counts nowhere). */
  clear(): void {
    this.#release();
    this.#cleared = true;
    this.#toMs = -1;
    this.#fromMs = 0;
    this.#sec = 0;
    this.#app = this.#heroku = this.#other = 0;
  }
}

/** 0 for `app`, 1 for `heroku`, 2 for anything else: the source name in b[at, at+len). */
function classOf(b: Uint8Array, at: number, len: number): number {
  if (len === 3) return b[at] === A && b[at + 1] === P && b[at + 2] === P ? 0 : 2;
  if (len === 6) return b[at] === H && b[at + 1] === E && b[at + 2] === R && b[at + 3] === O && b[at + 4] === K && b[at + 5] === U ? 1 : 2;
  return 2;
}

/** The source class of the cooked line at b[pos]. */
function sourceClass(b: Uint8Array, pos: number): number {
  return classOf(b, pos + HEADER + b[pos + OFF_TSLEN]!, b[pos + OFF_SRCLEN]!);
}

/** The source class of a token's name (an ingest worker classes each token once; its lines carry the class). */
export function sourceClassOfName(name: Uint8Array): number {
  return classOf(name, 0, name.length);
}
