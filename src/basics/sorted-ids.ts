// Ids kept in sorted order for paged listing: a page is a binary search and
// a slice, not a sort of every id. Built by one sort (build(), or the first
// page asked for), then kept up to date one insert or removal at a time, so a
// start that installs 100,000 apps pays for one sort, not 100,000 inserts.

/** The index of the first id in `ids` greater than `after` (ids.length when none). */
function firstAfter(ids: readonly string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedIds {
  /** null until a page is asked for. */
  #ids: string[] | null = null;
  readonly #all: () => Iterable<string>;

  /** `all`: every id, read once when the order is first needed. */
  constructor(all: () => Iterable<string>) {
    this.#all = all;
  }

  /** Sort now (at start, before anything is served: the sort of 100,000 ids takes tens of milliseconds). */
  build(): void {
    this.#ids ??= [...this.#all()].sort();
  }

  /** A new id (not present). */
  add(id: string): void {
    if (this.#ids === null) return;
    const at = firstAfter(this.#ids, id);
    if (this.#ids[at - 1] !== id) this.#ids.splice(at, 0, id);
  }

  remove(id: string): void {
    if (this.#ids === null) return;
    const at = firstAfter(this.#ids, id) - 1;
    if (at >= 0 && this.#ids[at] === id) this.#ids.splice(at, 1);
  }

  /** Up to `limit` ids after `after` (from the first when null), in order. */
  page(after: string | null, limit: number): string[] {
    this.build();
    const ids = this.#ids!;
    const from = after === null ? 0 : firstAfter(ids, after);
    return ids.slice(from, from + limit);
  }
}
