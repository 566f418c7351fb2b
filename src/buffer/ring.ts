// Per-app history: the newest `capacity` cooked lines. Lines are packed back to
// back into fixed-size pages from a shared pool (buffer/pages.ts); a page goes
// back to the pool when its last line drops out. Per line the ring keeps 8
// bytes of offsets (page, offset, length) and no object. Lines over
// LARGE_LINE bytes (rare: messages near the 10,000-byte limit) get a buffer of
// their own so they do not waste the rest of a page.
import { copyBytes } from '../bytes.js';
import { seqOf } from '../line.js';
import { PAGE, pagePool, type PagePool } from './pages.js';

/** Lines longer than this are stored in a buffer of their own. */
export const LARGE_LINE = 4096;
const LARGE = 0xffffffff;

export class Ring {
  readonly capacity: number;
  readonly #pool: PagePool;
  #pageOf: Uint32Array;
  #offs: Uint16Array;
  #lens: Uint16Array;
  /** Large lines by slot. */
  #large = new Map<number, Buffer>();
  #largeBytes = 0;
  /** Slot of the oldest line. */
  #head = 0;
  #count = 0;
  /** Page being filled (-1 none) and where the next line goes in it. */
  #cur = -1;
  #curOff = 0;
  #pagesHeld = 0;
  #liveBytes = 0;
  /** seq of the newest line pushed (0 = none yet). */
  #lastSeq = 0;

  constructor(capacity: number, pool: PagePool = pagePool) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be a positive integer');
    this.capacity = capacity;
    this.#pool = pool;
    const n = Math.min(capacity, 64);
    this.#pageOf = new Uint32Array(n);
    this.#offs = new Uint16Array(n);
    this.#lens = new Uint16Array(n);
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
  /** seq of the oldest line held (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.#count === 0 ? this.#lastSeq + 1 : seqOf(this.at(0));
  }
  /** Bytes of the lines held. */
  get liveBytes(): number {
    return this.#liveBytes;
  }
  /** Memory this ring holds: its pages, large lines and offset arrays. */
  get memoryBytes(): number {
    return this.#pagesHeld * PAGE + this.#largeBytes + this.#pageOf.byteLength + this.#offs.byteLength + this.#lens.byteLength;
  }

  /** Copy one cooked line in; the oldest drops out when full. */
  push(rec: Buffer): void {
    const len = rec.length;
    if (len > 0xffff) throw new RangeError('line record too large for the ring');
    if (this.#count === this.capacity) this.#dropOldest();
    else if (this.#count === this.#pageOf.length) this.#growIndex();
    const slot = (this.#head + this.#count) % this.#pageOf.length;
    if (len > LARGE_LINE) {
      const own = Buffer.allocUnsafeSlow(len);
      copyBytes(rec, 0, len, own, 0);
      this.#large.set(slot, own);
      this.#largeBytes += len;
      this.#pageOf[slot] = LARGE;
    } else {
      if (this.#cur === -1 || this.#curOff + len > PAGE) {
        // Leave the current page: give it back now if none of its lines is live,
        // else it goes back when its last line drops out (#dropOldest).
        if (this.#cur !== -1 && this.#pool.live[this.#cur] === 0) {
          this.#pool.release(this.#cur);
          this.#pagesHeld--;
        }
        this.#cur = this.#pool.acquire();
        this.#curOff = 0;
        this.#pagesHeld++;
      }
      copyBytes(rec, 0, len, this.#pool.pages[this.#cur]!, this.#curOff);
      this.#pool.live[this.#cur]!++;
      this.#pageOf[slot] = this.#cur;
      this.#offs[slot] = this.#curOff;
      this.#curOff += len;
    }
    this.#lens[slot] = len;
    this.#count++;
    this.#liveBytes += len;
    this.#lastSeq = seqOf(rec);
  }

  /** View of the i-th oldest line; valid until the next push. */
  at(i: number): Buffer {
    const slot = (this.#head + i) % this.#pageOf.length;
    const p = this.#pageOf[slot]!;
    if (p === LARGE) return this.#large.get(slot)!;
    const o = this.#offs[slot]!;
    return this.#pool.pages[p]!.subarray(o, o + this.#lens[slot]!);
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
      this.#pagesHeld--;
    }
  }

  #dropOldest(): void {
    const slot = this.#head;
    const p = this.#pageOf[slot]!;
    this.#liveBytes -= this.#lens[slot]!;
    if (p === LARGE) {
      this.#largeBytes -= this.#large.get(slot)!.length;
      this.#large.delete(slot);
    } else if (--this.#pool.live[p]! === 0 && p !== this.#cur) {
      this.#pool.release(p);
      this.#pagesHeld--;
    }
    this.#head = (this.#head + 1) % this.#pageOf.length;
    this.#count--;
  }

  #growIndex(): void {
    const n = Math.min(this.capacity, this.#pageOf.length * 2);
    const pageOf = new Uint32Array(n);
    const offs = new Uint16Array(n);
    const lens = new Uint16Array(n);
    const large = new Map<number, Buffer>();
    const size = this.#pageOf.length;
    for (let i = 0; i < this.#count; i++) {
      const slot = (this.#head + i) % size;
      pageOf[i] = this.#pageOf[slot]!;
      offs[i] = this.#offs[slot]!;
      lens[i] = this.#lens[slot]!;
      const big = this.#large.get(slot);
      if (big) large.set(i, big);
    }
    this.#pageOf = pageOf;
    this.#offs = offs;
    this.#lens = lens;
    this.#large = large;
    this.#head = 0;
  }
}
