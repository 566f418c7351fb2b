// Lines of this node that will never reach Redis (dropped while it was
// unreachable, or refused), per app, until they are announced: this node's
// owned drains are told at once (onLost), every reader of the app's stream
// by a loss notice record (batch.ts) that the writer appends once Redis
// takes writes again. A notice that itself could not be written counts
// again, with its n.
import { receivedOf } from '../line.js';
import { decodeLossNotice, encodeLossNotice } from './batch.js';
import { chunkOf, type AppBatch, type Chunk, type ChunkQueue } from './pending.js';

/** Lines lost of one app and when the oldest of them was received. */
export interface Loss {
  n: number;
  since: number;
  /** Called once the notice of this loss is written (a stopped node's saved loss: cluster/unwritten.ts); dropped if the notice itself is lost. */
  written?: Array<() => void>;
}

export class Losses {
  #lost = new Map<AppBatch, Loss>();
  readonly #onLost: ((appId: string, recs: readonly Buffer[]) => void) | undefined;

  constructor(onLost?: (appId: string, recs: readonly Buffer[]) => void) {
    this.#onLost = onLost;
  }

  /** Apps with losses not yet announced. */
  get size(): number {
    return this.#lost.size;
  }

  /** These records of the app will never be written. */
  add(b: AppBatch, recs: readonly Buffer[]): void {
    if (recs.length === 0) return;
    let n = 0;
    let since = Infinity;
    const lines: Buffer[] = [];
    for (const r of recs) {
      const notice = decodeLossNotice(r);
      if (notice) {
        n += notice.n;
        if (notice.since < since) since = notice.since;
      } else {
        n++;
        lines.push(r);
        const t = receivedOf(r);
        if (t < since) since = t;
      }
    }
    if (lines.length > 0) this.#onLost?.(b.appId, lines);
    const l = this.#lost.get(b);
    if (l) {
      l.n += n;
      if (since < l.since) l.since = since;
    } else this.#lost.set(b, { n, since });
  }

  /**
   * n lines of the app that a node which stopped could not write (saved in
   * its data dir, cluster/unwritten.ts): announced like the others; written()
   * is called once the notice is in Redis. The drains of this node are not
   * told here: they read the notice from the stream.
   */
  addSaved(b: AppBatch, n: number, since: number, written: () => void): void {
    const l = this.#lost.get(b);
    if (l) {
      l.n += n;
      if (since < l.since) l.since = since;
      (l.written ??= []).push(written);
    } else this.#lost.set(b, { n, since, written: [written] });
  }

  /** The losses not yet announced (read only: what is left unwritten at a stop). */
  entries(): IterableIterator<[AppBatch, Loss]> {
    return this.#lost.entries();
  }

  /**
   * Announce the losses now (forgotten here): each app's notice goes in
   * front of the app's first queued chunk while it was never sent (in one
   * append with the lines that follow it: no reader sees the notice without
   * them, or the history trimmed between them), else in a chunk of its own,
   * returned (these go first in the round).
   */
  announce(queue: ChunkQueue, origin: number): Chunk[] {
    const lost = this.#lost;
    this.#lost = new Map();
    const own: Chunk[] = [];
    for (const [b, l] of lost) {
      if (b.removed) continue;
      const rec = encodeLossNotice(origin, l.n, l.since);
      const next = queue.firstOf(b);
      let c: Chunk;
      if (next !== undefined && next.id === 0 && next.origin === origin) {
        queue.prepend(next, rec);
        c = next;
      } else {
        c = chunkOf(b, [rec], origin);
        own.push(c);
      }
      if (l.written !== undefined) {
        const calls = l.written;
        const before = c.onWritten;
        c.onWritten = () => {
          before?.();
          for (const f of calls) f();
        };
      }
    }
    return own;
  }
}
