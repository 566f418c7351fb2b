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

/**
 * Ordinals [first, first + n) written by this node whose seqs are no longer
 * kept (past the bound): seq NaN for lines (still ours, seq unknown), or -k
 * for one loss notice of k lines (n = 1).
 */
interface Forgotten {
  first: number;
  n: number;
  seq: number;
}

/** Per app: own runs with their seqs (newest), before them runs kept as ranges only (oldest first). */
interface AppOwn {
  forgotten: Forgotten[];
  runs: OwnRun[];
  /** Ordinals in runs. */
  kept: number;
}

/** Most ranges kept without seqs per app (ranges of consecutive own ordinals merge; other nodes' lines in between split them). */
const MAX_FORGOTTEN = 100_000;

/** Someone reading an app's stream on this node: own ordinals at or below its last are no longer needed for it (-1: not started). */
export interface StreamReader {
  readonly last: number;
}

export class OwnOrdinals {
  /** Stream readers on this node, per app; own ordinals are kept only for these apps. */
  readonly #readers = new Map<string, Set<StreamReader>>();
  /** Per app: ordinals of this node's own records, oldest first, not yet read past by every reader. */
  readonly #own = new Map<string, AppOwn>();
  /** Most ordinals kept with their seqs per app (historyLines + maxPendingLines); older ones are kept as ranges. */
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
   * notice of n lines, NaN for a line whose seq is no longer kept) and
   * returns how many there were.
   */
  among(appId: string, from: number, to: number, visit: (seq: number) => void): number {
    const own = this.#own.get(appId);
    if (!own) return 0;
    let n = 0;
    for (const f of own.forgotten) {
      const end = f.first + f.n - 1;
      if (end < from) continue;
      if (f.first > to) return n;
      const k = Math.min(to, end) - Math.max(from, f.first) + 1;
      for (let i = 0; i < k; i++) visit(f.seq);
      n += k;
    }
    for (const r of own.runs) {
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
    const own = this.#own.get(appId);
    if (!own) return false;
    for (const f of own.forgotten) if (ordinal >= f.first && ordinal < f.first + f.n) return true;
    for (const r of own.runs) if (ordinal >= r.first && ordinal < r.first + r.seqs.length) return true;
    return false;
  }

  /** The app's stream began a new epoch after ordinal base (redis/scripts.ts, EPOCH_LUA): own ordinals above it were of the one before. */
  rebase(appId: string, base: number): void {
    const own = this.#own.get(appId);
    if (!own) return;
    own.forgotten = own.forgotten.filter((f) => f.first + f.n - 1 <= base);
    const runs: OwnRun[] = [];
    own.kept = 0;
    for (const r of own.runs) {
      if (r.first > base) continue;
      const keep = r.first + r.seqs.length - 1 <= base ? r : { first: r.first, seqs: r.seqs.subarray(0, base - r.first + 1) };
      runs.push(keep);
      own.kept += keep.seqs.length;
    }
    own.runs = runs;
  }

  /** True while someone on this node reads the app's stream (wrote() keeps ordinals only then). */
  wants(appId: string): boolean {
    return this.#readers.has(appId);
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
    let own = this.#own.get(appId);
    if (!own) {
      own = { forgotten: [], runs: [], kept: 0 };
      this.#own.set(appId, own);
    }
    own.runs.push({ first: total - n + 1, seqs });
    own.kept += n;
    this.#prune(appId);
  }

  /**
   * Forget own ordinals every reader has passed. Past historyLines +
   * maxPendingLines of them per app (a reader whose subscription stays away
   * while this node writes), the oldest keep only their ordinals, not their
   * seqs: still ours, so never reported lost to this node's tails.
   */
  #prune(appId: string): void {
    const own = this.#own.get(appId);
    if (!own) return;
    let min = Infinity;
    for (const r of this.#readers.get(appId) ?? []) if (r.last < min) min = r.last;
    if (min >= 0) {
      const f = own.forgotten;
      let k = 0;
      while (k < f.length && f[k]!.first + f[k]!.n - 1 <= min) k++;
      if (k > 0) f.splice(0, k);
      const runs = own.runs;
      let drop = 0;
      while (drop < runs.length && runs[drop]!.first + runs[drop]!.seqs.length - 1 <= min) own.kept -= runs[drop++]!.seqs.length;
      if (drop > 0) runs.splice(0, drop);
    }
    if (own.kept <= this.#max) return;
    const runs = own.runs;
    let drop = 0;
    while (own.kept > this.#max && drop < runs.length - 1) {
      const r = runs[drop++]!;
      own.kept -= r.seqs.length;
      this.#forget(own.forgotten, r);
    }
    runs.splice(0, drop);
    if (own.forgotten.length > MAX_FORGOTTEN) own.forgotten.splice(0, own.forgotten.length - MAX_FORGOTTEN);
  }

  /** Keep a run as ranges: its lines merged into one range (with the range before it when adjacent), a loss notice as itself. */
  #forget(f: Forgotten[], r: OwnRun): void {
    for (let i = 0; i < r.seqs.length; i++) {
      const seq = r.seqs[i]! < 0 ? r.seqs[i]! : NaN;
      const ordinal = r.first + i;
      const prev = f[f.length - 1];
      if (Number.isNaN(seq) && prev && Number.isNaN(prev.seq) && prev.first + prev.n === ordinal) prev.n++;
      else f.push({ first: ordinal, n: 1, seq });
    }
  }
}
