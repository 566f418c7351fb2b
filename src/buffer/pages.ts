// A process-wide pool of pages for rings, in two sizes. Pages are carved
// from 1 MiB blocks that are never freed, and a ring gives a page back as
// soon as its last live line leaves it, so memory is reused across apps
// instead of going back and forth through malloc (which left RSS at ~2x the
// live bytes with per-ring slabs that were resized).
//
// A ring starts on a small page and goes on with full ones: most apps of a
// platform hold a few lines, and a full page each cost 100,000 apps of 10
// lines 1.6 GB of pages for 150 MB of lines.

/** Page size. Every line up to LARGE_LINE bytes is packed into pages. */
export const PAGE = 16 * 1024;
/** A ring's first page (13 lines of 150 bytes). */
export const SMALL_PAGE = 2 * 1024;
const BLOCK_BYTES = 1 << 20;

export class PagePool {
  /** Page number -> its bytes (PAGE or SMALL_PAGE of them). */
  readonly pages: Buffer[] = [];
  /** Page number -> a DataView of exactly its bytes (rings copy lines in through it). */
  readonly views: DataView[] = [];
  /** Live lines on each page (kept by the rings; a ring keeps the count of the page it is filling itself). */
  live = new Uint32Array(64);
  readonly #free: number[] = [];
  readonly #freeSmall: number[] = [];
  #allocated = 0;

  /** A free page, full-size or small. */
  acquire(small = false): number {
    const free = small ? this.#freeSmall : this.#free;
    if (free.length === 0) this.#grow(small ? SMALL_PAGE : PAGE, free);
    const n = free.pop()!;
    this.live[n] = 0;
    return n;
  }
  release(n: number): void {
    (this.pages[n]!.length === SMALL_PAGE ? this.#freeSmall : this.#free).push(n);
  }
  /** Bytes allocated for pages (held by rings or free). */
  get allocatedBytes(): number {
    return this.#allocated;
  }
  get freePages(): number {
    return this.#free.length + this.#freeSmall.length;
  }
  /** Of freePages, the small ones. */
  get freeSmallPages(): number {
    return this.#freeSmall.length;
  }

  #grow(size: number, free: number[]): void {
    const block = Buffer.allocUnsafeSlow(BLOCK_BYTES);
    this.#allocated += BLOCK_BYTES;
    const first = this.pages.length;
    const n = BLOCK_BYTES / size;
    for (let i = 0; i < n; i++) {
      this.pages.push(block.subarray(i * size, (i + 1) * size));
      this.views.push(new DataView(block.buffer, block.byteOffset + i * size, size));
    }
    if (this.live.length < this.pages.length) {
      const live = new Uint32Array(Math.max(this.live.length * 2, this.pages.length));
      live.set(this.live);
      this.live = live;
    }
    for (let i = n - 1; i >= 0; i--) free.push(first + i);
  }
}

/** The pool every ring uses unless given another. */
export const pagePool = new PagePool();
