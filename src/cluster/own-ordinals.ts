// Which ordinals of an app's stream this node wrote (each line's seq, or -n
// for a loss notice of n lines), kept only while someone on this node reads
// the app's stream. When Redis trims this node's own lines before a follower's
// catch-up reads them, the follower asks here which of the trimmed ordinals
// were ours and does not report lines its target already got directly as lost.
import { seqOf } from '../line.js';
import { decodeLossNotice } from './batch.js';

/** Ordinals [first, first + seqs.length) written by this node: each line's seq, or -n for a loss notice of n lines. */
interface OwnRun {
  first: number;
  seqs: Float64Array;
}

/** Someone reading an app's stream on this node: own ordinals at or below its last are no longer needed for it (-1: not started). */
export interface StreamReader {
  readonly last: number;
}

export class OwnOrdinals {
  /** Stream readers on this node, per app; own ordinals are kept only for these apps. */
  readonly #readers = new Map<string, Set<StreamReader>>();
  /** Per app: ordinals of this node's own records, oldest first, not yet read past by every reader. */
  readonly #own = new Map<string, OwnRun[]>();
  /** Most ordinals kept per app (historyLines + maxPendingLines). */
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** Forget an app (deleted). */
  drop(appId: string): void {
    this.#own.delete(appId);
  }

  /** A reader of an app's stream starts: from now on this node's ordinals of the app are kept for it. */
  follow(appId: string, r: StreamReader): void {
    let set = this.#readers.get(appId);
    if (!set) {
      set = new Set();
      this.#readers.set(appId, set);
    }
    set.add(r);
  }

  unfollow(appId: string, r: StreamReader): void {
    const set = this.#readers.get(appId);
    if (!set || !set.delete(r)) return;
    if (set.size === 0) {
      this.#readers.delete(appId);
      this.#own.delete(appId);
    } else this.#prune(appId);
  }

  /**
   * This node's own records among the ordinals [from, to] (trimmed before a
   * reader got to them): calls visit with each one's seq (-n for a loss
   * notice of n lines) and returns how many there were.
   */
  among(appId: string, from: number, to: number, visit: (seq: number) => void): number {
    const runs = this.#own.get(appId);
    if (!runs) return 0;
    let n = 0;
    for (const r of runs) {
      const end = r.first + r.seqs.length - 1;
      if (end < from) continue;
      if (r.first > to) break;
      const a = Math.max(from, r.first) - r.first;
      const b = Math.min(to, end) - r.first;
      for (let i = a; i <= b; i++) visit(r.seqs[i]!);
      n += b - a + 1;
    }
    return n;
  }

  /** True when the record at this ordinal of the app is one this node wrote (and still remembers). */
  isOwn(appId: string, ordinal: number): boolean {
    for (const r of this.#own.get(appId) ?? []) if (ordinal >= r.first && ordinal < r.first + r.seqs.length) return true;
    return false;
  }

  /** An append of ours (recs) was acknowledged with the app's new total: remember its ordinals while someone reads the app here. */
  wrote(appId: string, recs: readonly Buffer[], total: number): void {
    if (!this.#readers.has(appId) || !Number.isFinite(total)) return;
    const n = recs.length;
    const seqs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = recs[i]!;
      const notice = decodeLossNotice(r);
      seqs[i] = notice ? -notice.n : seqOf(r);
    }
    let runs = this.#own.get(appId);
    if (!runs) {
      runs = [];
      this.#own.set(appId, runs);
    }
    runs.push({ first: total - n + 1, seqs });
    this.#prune(appId);
  }

  /** Forget own ordinals every reader has passed; keep at most historyLines + maxPendingLines of them per app. */
  #prune(appId: string): void {
    const runs = this.#own.get(appId);
    if (!runs || runs.length === 0) return;
    let min = Infinity;
    for (const r of this.#readers.get(appId) ?? []) if (r.last < min) min = r.last;
    let drop = 0;
    if (min >= 0) while (drop < runs.length && runs[drop]!.first + runs[drop]!.seqs.length - 1 <= min) drop++;
    let kept = 0;
    for (let i = drop; i < runs.length; i++) kept += runs[i]!.seqs.length;
    const max = this.#max;
    while (kept > max && drop < runs.length - 1) kept -= runs[drop++]!.seqs.length;
    if (drop > 0) runs.splice(0, drop);
  }
}
