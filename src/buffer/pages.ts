// A process-wide pool of fixed-size pages for rings. Pages are carved from
// 1 MiB blocks that are never freed, and a ring gives a page back as soon as
// its last live line leaves it, so memory is reused across apps instead of
// going back and forth through malloc (which left RSS at ~2x the live bytes
// with per-ring slabs that were resized).

/** Page size. Every line up to LARGE_LINE bytes is packed into pages. */
export const PAGE = 16 * 1024;
const BLOCK_PAGES = 64;

export class PagePool {
  /** Page number -> its bytes. */
  readonly pages: Buffer[] = [];
  /** Page number -> a DataView of exactly its bytes (rings copy lines in through it). */
  readonly views: DataView[] = [];
  /** Live lines on each page (kept by the rings; a ring keeps the count of the page it is filling itself). */
  live = new Uint32Array(BLOCK_PAGES);
  readonly #free: number[] = [];

  acquire(): number {
    if (this.#free.length === 0) this.#grow();
    const n = this.#free.pop()!;
    this.live[n] = 0;
    return n;
  }
  release(n: number): void {
    this.#free.push(n);
  }
  /** Bytes allocated for pages (held by rings or free). */
  get allocatedBytes(): number {
    return this.pages.length * PAGE;
  }
  get freePages(): number {
    return this.#free.length;
  }

  #grow(): void {
    const block = Buffer.allocUnsafeSlow(PAGE * BLOCK_PAGES);
    const first = this.pages.length;
    for (let i = 0; i < BLOCK_PAGES; i++) {
      this.pages.push(block.subarray(i * PAGE, (i + 1) * PAGE));
      this.views.push(new DataView(block.buffer, block.byteOffset + i * PAGE, PAGE));
    }
    if (this.live.length < this.pages.length) {
      const live = new Uint32Array(this.live.length * 2);
      live.set(this.live);
      this.live = live;
    }
    for (let i = BLOCK_PAGES - 1; i >= 0; i--) this.#free.push(first + i);
  }
}

/** The pool every ring uses unless given another. */
export const pagePool = new PagePool();
