// Per-app history: the newest `capacity` cooked lines. Lines are packed back to
// back into pages from a shared pool (buffer/pages.ts): a small one first (an
// app with a few lines holds 2 KiB, not 16), full ones after; a page goes
// back to the pool when its last line drops out. Per line the ring keeps 8
// bytes of index (page; offset and length) and no object. Lines over
// LARGE_LINE bytes (rare: messages near the 10,000-byte limit) get a buffer of
// their own so they do not waste the rest of a page.
//
// pushFrom() runs once per line on the main thread for 1,000s of apps in
// turn, so it touches as little per-app memory as it can: one index array
// (page and offset|length side by side), the page being filled (its DataView
// and line count are kept in the ring, not looked up in the pool), and it
// copies straight from the worker's batch, 8 bytes at a time (bytes.ts
// copyWords), with the seq it is given rather than read back.
import { arrayBufferView, copyWords } from '../basics/bytes.js';
import { HEADER, seqOf } from '../line.js';
import { SMALL_PAGE, pagePool, type PagePool } from './pages.js';

/** Lines longer than this are stored in a buffer of their own. */
export const LARGE_LINE = 4096;
const LARGE = 0xffffffff;


export class Ring {
  readonly capacity: number;
  readonly #pool: PagePool;
  /** Two u32 per slot: the page (LARGE for a line of its own), then offset | length << 16. */
  #idx: Uint32Array;
  /** Slots in #idx. */
  #size: number;
  /** Large lines by slot. */
  #large = new Map<number, Buffer>();
  #largeBytes = 0;
  /** Slot of the oldest line. */
  #head = 0;
  #count = 0;
  /** Page being filled (-1 none), its view, its size, where the next line goes in it and how many live lines it holds. */
  #cur = -1;
  #curView: DataView | null = null;
  #curSize = 0;
  #curOff = 0;
  /** pool.live of the page being filled is written when the ring leaves it. */
  #curLines = 0;
  #pagesHeld = 0;
  #pageBytes = 0;
  #liveBytes = 0;
  /** seq of the newest line pushed (0 = none yet). */
  #lastSeq = 0;

  constructor(capacity: number, pool: PagePool = pagePool) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be a positive integer');
    this.capacity = capacity;
    this.#pool = pool;
    this.#size = Math.min(capacity, 64);
    this.#idx = new Uint32Array(this.#size * 2);
  }

  get count(): number {
    return this.#count;
  }
  /** seq of the newest line held, or of the newest ever pushed (0 if none). */
  get lastSeq(): number {
    return this.#lastSeq;
  }
  /** Restore the seq counter of an empty ring (after a restart). */
  set lastSeq(seq: number) {
    if (this.#count === 0) this.#lastSeq = seq;
  }
  /** Raise the seq counter (its newest lines were given seqs above it: cluster/history.ts, reindex). */
  raiseLastSeq(seq: number): void {
    if (seq > this.#lastSeq) this.#lastSeq = seq;
  }
  /** seq of the oldest line held (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.#count === 0 ? this.#lastSeq + 1 : seqOf(this.at(0));
  }
  /** Bytes of the lines held. */
  get liveBytes(): number {
    return this.#liveBytes;
  }
  /** Memory this ring holds: its pages, large lines and index. */
  get memoryBytes(): number {
    return this.#pageBytes + this.#largeBytes + this.#idx.byteLength;
  }
  /** Pages this ring holds (tests). */
  get pagesHeld(): number {
    return this.#pagesHeld;
  }

  /** Copy one cooked line in, as it is (seq included); the oldest drops out when full. */
  push(rec: Buffer): void {
    const len = rec.length;
    if (len > 0xffff) throw new RangeError('line record too large for the ring');
    const src = arrayBufferView(rec);
    if (len > LARGE_LINE) {
      copyWords(src, rec.byteOffset, rec.byteOffset + len, this.#putLarge(len), 0);
    } else {
      const d = this.#put(len); // may move to a new page: #curView after it
      copyWords(src, rec.byteOffset, rec.byteOffset + len, this.#curView!, d);
    }
    this.#lastSeq = src.getFloat64(rec.byteOffset, true); // seqOf(rec), through the view at hand
  }

  /**
   * Copy in the cooked line at src[pos, pos+len) (a worker's batch) and stamp
   * the copy with seq: the line needs no Buffer of its own to be kept here.
   */
  pushFrom(src: DataView, pos: number, len: number, seq: number): void {
    if (len > 0xffff) throw new RangeError('line record too large for the ring');
    if (len < HEADER) throw new RangeError('line record shorter than its header');
    let dst: DataView;
    let d: number;
    if (len > LARGE_LINE) {
      dst = this.#putLarge(len);
      d = 0;
    } else {
      d = this.#put(len);
      dst = this.#curView!;
    }
    // seq is the first 8 bytes of a cooked line (line.ts)
    dst.setFloat64(d, seq, true);
    copyWords(src, pos + 8, pos + len, dst, d + 8);
    this.#lastSeq = seq;
  }

  /** Make room for one more line: the slot it goes in. */
  #slot(): number {
    if (this.#count === this.capacity) this.#dropOldest();
    else if (this.#count === this.#size) this.#growIndex();
    const slot = this.#head + this.#count;
    return slot < this.#size ? slot : slot - this.#size;
  }

  /** Index a line of len bytes on the page being filled (a new one if it does not fit): where to copy it. */
  #put(len: number): number {
    const slot = this.#slot();
    if (this.#cur === -1 || this.#curOff + len > this.#curSize) {
      // Leave the current page: give it back now if none of its lines is live,
      // else it goes back when its last line drops out (#dropOldest).
      const pool = this.#pool;
      if (this.#cur !== -1) {
        if (this.#curLines === 0) {
          pool.release(this.#cur);
          this.#pagesHeld--;
          this.#pageBytes -= this.#curSize;
        } else {
          pool.live[this.#cur] = this.#curLines;
        }
      }
      // a ring holding no page starts on a small one
      this.#cur = pool.acquire(this.#pagesHeld === 0 && len <= SMALL_PAGE);
      this.#curView = pool.views[this.#cur]!;
      this.#curSize = this.#curView.byteLength;
      this.#curOff = 0;
      this.#curLines = 0;
      this.#pagesHeld++;
      this.#pageBytes += this.#curSize;
    }
    const off = this.#curOff;
    this.#idx[slot << 1] = this.#cur;
    this.#idx[(slot << 1) + 1] = off | (len << 16);
    this.#curOff = off + len;
    this.#curLines++;
    this.#count++;
    this.#liveBytes += len;
    return off;
  }

  /** Index a line of len bytes in a buffer of its own: the buffer (a view of exactly it) to copy it into. */
  #putLarge(len: number): DataView {
    const slot = this.#slot();
    const own = Buffer.allocUnsafeSlow(len);
    this.#large.set(slot, own);
    this.#largeBytes += len;
    this.#idx[slot << 1] = LARGE;
    this.#idx[(slot << 1) + 1] = len << 16;
    this.#count++;
    this.#liveBytes += len;
    return new DataView(own.buffer, own.byteOffset, len);
  }

  /** View of the i-th oldest line; valid until the next push. */
  at(i: number): Buffer {
    const slot = (this.#head + i) % this.#size;
    const p = this.#idx[slot << 1]!;
    if (p === LARGE) return this.#large.get(slot)!;
    const ol = this.#idx[(slot << 1) + 1]!;
    const o = ol & 0xffff;
    return this.#pool.pages[p]!.subarray(o, o + (ol >>> 16));
  }

  /**
   * Copy the newest n lines (n <= count) back to back into dst at off, and
   * append their lengths to lens; returns the end in dst. Lines side by side
   * on one page (a run pushed one after another) go in one copy: the Redis
   * batch takes a tick's lines of an app this way (cluster/pending.ts).
   */
  copyNewest(n: number, dst: Buffer, off: number, lens: number[]): number {
    if (n > this.#count) throw new RangeError('fewer lines held than asked for');
    const idx = this.#idx;
    const pages = this.#pool.pages;
    let slot = this.#head + this.#count - n;
    if (slot >= this.#size) slot -= this.#size;
    let runPage = -1;
    let runStart = 0;
    let runEnd = 0;
    for (let k = 0; k < n; k++) {
      const p = idx[slot << 1]!;
      const ol = idx[(slot << 1) + 1]!;
      const len = ol >>> 16;
      lens.push(len);
      if (p === LARGE) {
        if (runPage !== -1) off += pages[runPage]!.copy(dst, off, runStart, runEnd);
        runPage = -1;
        off += this.#large.get(slot)!.copy(dst, off);
      } else {
        const o = ol & 0xffff;
        if (p === runPage && o === runEnd) runEnd = o + len;
        else {
          if (runPage !== -1) off += pages[runPage]!.copy(dst, off, runStart, runEnd);
          runPage = p;
          runStart = o;
          runEnd = o + len;
        }
      }
      if (++slot === this.#size) slot = 0;
    }
    if (runPage !== -1) off += pages[runPage]!.copy(dst, off, runStart, runEnd);
    return off;
  }

  /** Index of the first line with seq > after (count when none). */
  indexAfter(after: number): number {
    if (this.#count === 0) return 0;
    const first = this.firstSeq;
    if (after < first) return 0;
    // seqs in one ring are consecutive when fed by route(): try the direct index first.
    const guess = after - first + 1;
    if (guess <= this.#count && seqOf(this.at(guess - 1)) === after && (guess === this.#count || seqOf(this.at(guess)) > after)) return guess;
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqOf(this.at(mid)) <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Copies of the newest n lines, oldest first. */
  tail(n: number): Buffer[] {
    const out: Buffer[] = [];
    for (let i = Math.max(0, this.#count - n); i < this.#count; i++) out.push(Buffer.from(this.at(i)));
    return out;
  }

  /** Drop everything and give the pages back (app destroyed). */
  clear(): void {
    while (this.#count > 0) this.#dropOldest();
    if (this.#cur !== -1) {
      this.#pool.release(this.#cur);
      this.#cur = -1;
      this.#curView = null;
      this.#pagesHeld--;
      this.#pageBytes -= this.#curSize;
    }
  }

  #dropOldest(): void {
    const slot = this.#head;
    const p = this.#idx[slot << 1]!;
    const len = this.#idx[(slot << 1) + 1]! >>> 16;
    this.#liveBytes -= len;
    if (p === LARGE) {
      this.#largeBytes -= len;
      this.#large.delete(slot);
    } else if (p === this.#cur) {
      this.#curLines--;
    } else if (--this.#pool.live[p]! === 0) {
      this.#pool.release(p);
      this.#pagesHeld--;
      this.#pageBytes -= this.#pool.pages[p]!.length;
    }
    this.#head = slot + 1 < this.#size ? slot + 1 : 0;
    this.#count--;
  }

  /** Double the index (up to capacity), oldest line first. */
  #growIndex(): void {
    const size = Math.min(this.capacity, this.#size * 2);
    const idx = new Uint32Array(size * 2);
    // the lines are idx[head..] then idx[..head) (a full index: count === #size)
    const h = this.#head << 1;
    idx.set(this.#idx.subarray(h));
    idx.set(this.#idx.subarray(0, h), this.#idx.length - h);
    if (this.#large.size > 0) {
      const large = new Map<number, Buffer>();
      for (const [slot, own] of this.#large) large.set(slot >= this.#head ? slot - this.#head : slot + this.#size - this.#head, own);
      this.#large = large;
    }
    this.#idx = idx;
    this.#size = size;
    this.#head = 0;
  }
}

/** Lines, line bytes and memory of many rings together (metrics, benches). */
export function ringTotals(owners: Iterable<{ readonly ring: Ring }>): { lines: number; liveBytes: number; memoryBytes: number } {
  let lines = 0;
  let liveBytes = 0;
  let memoryBytes = 0;
  for (const { ring } of owners) {
    lines += ring.count;
    liveBytes += ring.liveBytes;
    memoryBytes += ring.memoryBytes;
  }
  return { lines, liveBytes, memoryBytes };
}
