// Per-app history: the newest `capacity` cooked lines, packed into one byte
// slab (a circular allocator) with two small offset arrays. Memory per line
// is its bytes plus 6 bytes of offsets; no per-line object is kept.
import { seqOf } from '../line.js';

const MIN_SLAB = 4096;
/** Slab headroom when sized to fit: live bytes x this. */
const FIT = 1.2;
/** A full ring whose slab exceeds live bytes x this is compacted on its next wrap. */
const SHRINK_FULL = 1.28;
/** Same, while the ring is still filling (it grows by doubling). */
const SHRINK_FILLING = 2.5;

export class Ring {
  readonly capacity: number;
  #slab: Buffer = Buffer.alloc(0);
  #starts: Uint32Array;
  #lens: Uint16Array;
  /** Index (into starts/lens) of the oldest record. */
  #head = 0;
  #count = 0;
  /** Byte position where the next record goes. */
  #write = 0;
  #liveBytes = 0;
  /** seq of the newest record (0 = none yet). */
  #lastSeq = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be a positive integer');
    this.capacity = capacity;
    const n = Math.min(capacity, 64);
    this.#starts = new Uint32Array(n);
    this.#lens = new Uint16Array(n);
  }

  get count(): number {
    return this.#count;
  }
  /** seq of the newest line held, or of the newest ever pushed (0 if none). */
  get lastSeq(): number {
    return this.#lastSeq;
  }
  /** seq of the oldest line held (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.#count === 0 ? this.#lastSeq + 1 : seqOf(this.at(0));
  }
  /** Bytes of the lines held. */
  get liveBytes(): number {
    return this.#liveBytes;
  }
  /** Bytes this ring holds in memory (slab + offset arrays). */
  get memoryBytes(): number {
    return this.#slab.length + this.#starts.byteLength + this.#lens.byteLength;
  }

  /** Copy one cooked line in; the oldest drops out when full. */
  push(rec: Buffer): void {
    const len = rec.length;
    if (len > 0xffff) throw new RangeError('line record too large for the ring');
    if (this.#count === this.capacity) this.#dropOldest();
    else if (this.#count === this.#starts.length) this.#growIndex();
    const pos = this.#place(len);
    rec.copy(this.#slab, pos);
    const idx = (this.#head + this.#count) % this.#starts.length;
    this.#starts[idx] = pos;
    this.#lens[idx] = len;
    this.#count++;
    this.#write = pos + len;
    this.#liveBytes += len;
    this.#lastSeq = seqOf(rec);
  }

  /** View of the i-th oldest record; valid until the next push. */
  at(i: number): Buffer {
    const idx = (this.#head + i) % this.#starts.length;
    const s = this.#starts[idx]!;
    return this.#slab.subarray(s, s + this.#lens[idx]!);
  }

  /** Index of the first record with seq > after (count when none). */
  indexAfter(after: number): number {
    if (this.#count === 0) return 0;
    const first = this.firstSeq;
    if (after < first) return 0;
    // seqs in one ring are consecutive when fed by route(); search to be safe.
    let lo = Math.min(this.#count, after - first + 1);
    if (lo > 0 && lo <= this.#count && seqOf(this.at(lo - 1)) === after) return lo;
    let hi = this.#count;
    lo = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqOf(this.at(mid)) <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Copies of the newest n records, oldest first. */
  tail(n: number): Buffer[] {
    const out: Buffer[] = [];
    for (let i = Math.max(0, this.#count - n); i < this.#count; i++) out.push(Buffer.from(this.at(i)));
    return out;
  }

  /** Drop everything (app destroyed). */
  clear(): void {
    this.#slab = Buffer.alloc(0);
    this.#head = this.#count = this.#write = this.#liveBytes = 0;
  }

  /** Restore the seq counter without lines (e.g. after a restart with an empty ring). */
  set lastSeq(seq: number) {
    if (this.#count === 0) this.#lastSeq = seq;
  }

  #dropOldest(): void {
    this.#liveBytes -= this.#lens[this.#head]!;
    this.#head = (this.#head + 1) % this.#starts.length;
    this.#count--;
  }

  #growIndex(): void {
    const n = Math.min(this.capacity, this.#starts.length * 2);
    const starts = new Uint32Array(n);
    const lens = new Uint16Array(n);
    for (let i = 0; i < this.#count; i++) {
      const idx = (this.#head + i) % this.#starts.length;
      starts[i] = this.#starts[idx]!;
      lens[i] = this.#lens[idx]!;
    }
    this.#starts = starts;
    this.#lens = lens;
    this.#head = 0;
  }

  /** Find room for len bytes without touching live records; compact or grow if none. */
  #place(len: number): number {
    const size = this.#slab.length;
    if (this.#count === 0) {
      if (len <= size && size <= Math.max(MIN_SLAB, len * 4)) return 0;
      this.#resize(len);
      return 0;
    }
    const oldest = this.#starts[this.#head]!;
    const w = this.#write;
    if (w > oldest) {
      // live region [oldest, w): room at the end, or wrap to the front.
      if (w + len <= size) return w;
      if (len < oldest) {
        // Wrapping: a good moment to give back memory if the slab is too big.
        const slack = this.#count + 1 >= this.capacity ? SHRINK_FULL : SHRINK_FILLING;
        if (size > MIN_SLAB && size > (this.#liveBytes + len) * slack) return this.#resize(len);
        return 0;
      }
    } else if (w + len < oldest) {
      // wrapped: live region is [oldest, size) + [0, w)
      return w;
    }
    return this.#resize(len);
  }

  /** Compact live records to the front of a new slab sized for them plus len; returns where len goes. */
  #resize(len: number): number {
    const need = this.#liveBytes + len;
    const filling = this.#count + 1 < this.capacity;
    const target = Math.max(MIN_SLAB, Math.ceil(need * (filling ? 2 : FIT)));
    const slab = Buffer.allocUnsafeSlow(target);
    let p = 0;
    for (let i = 0; i < this.#count; i++) {
      const idx = (this.#head + i) % this.#starts.length;
      const s = this.#starts[idx]!;
      const l = this.#lens[idx]!;
      this.#slab.copy(slab, p, s, s + l);
      this.#starts[idx] = p;
      p += l;
    }
    this.#slab = slab;
    this.#write = p;
    return p;
  }
}
