// Reads of an app's history in Redis (the HISTORY script's reply, decoded):
// the records from an ordinal on, with what was trimmed before them.
import { seqOf } from '../line.js';
import { decodeChunk } from './batch.js';

/** A loss notice that was appended at `ordinal`: node `origin` could not write n lines. */
export interface NoticeMark {
  ordinal: number;
  origin: number;
  n: number;
}

export interface HistoryRead {
  /** Records ever appended to this app's history: the ordinal of the newest. */
  total: number;
  /** Lines trimmed from this app's history so far (ordinal of records[0] is trimmed + 1 when reading from 0). */
  trimmed: number;
  /** Loss notices among the ordinals asked for that were already trimmed (the last 100 notices of the app are known). */
  trimmedNotices: NoticeMark[];
  /** Highest seq ever trimmed (0 = none). */
  trimmedSeq: number;
  /** Ordinal of records[0]. */
  first: number;
  /** In append order (ordinal order), as stored. */
  records: Buffer[];
  /** The stream's incarnation (redis/scripts.ts, EPOCH_LUA); 0 before the app has one. */
  epoch: number;
  /** This incarnation began after this ordinal (0: with the app, or nothing known). */
  rewindBase: number;
  /** The highest ordinal of the incarnation before that the node beginning this one knew (rewindBase when none). */
  rewindTop: number;
}

/** A read's reply, with what a count of the lines no longer held needs (cluster/gone.ts). */
export interface HistoryDetail extends HistoryRead {
  /** Highest seq of a dropped element (meta tseq; trimmedSeq adds the records read past the cap). */
  droppedSeq: number;
  /** Lowest ordinal whose record the reply held (total + 1: none); the ones below were dropped. */
  readFrom: number;
  /** The records read past the cap (ordinals <= trimmed), in ordinal order. */
  pastCap: Buffer[];
  /** The meta field notices, all of it (the last 100 loss notices), when the read reached trimmed ordinals; else empty. */
  notices: NoticeMark[];
}

/**
 * Decode the history script's reply `{total, tseq, notices, k, epoch:R:T, k
 * firsts, k elements, [f, records]}` (the last part: the previous release's per-record
 * list, ordinals f, f + 1, ..., all before the chunks)
 * for a read from ordinal `from` of a history holding `cap` records: the
 * records of ordinals max(from, total - cap + 1)..total, as views into the
 * elements; the records held but past the cap count as trimmed.
 */
/** Fields of the reply before the firsts. */
const HEAD = 5;

export function decodeHistory(out: readonly Buffer[], from: number, cap: number): HistoryDetail {
  const total = Number(out[0]!.toString('latin1'));
  const droppedSeq = Number(out[1]!.toString('latin1'));
  let trimmedSeq = droppedSeq;
  const trimmed = Math.max(0, total - cap);
  const first = Math.max(from, trimmed + 1);
  const trimmedNotices: NoticeMark[] = [];
  const notices: NoticeMark[] = [];
  const noticeText = out[2]!.toString('latin1');
  if (noticeText.length > 0) {
    for (const e of noticeText.split(',')) {
      const [o, origin, n] = e.split(':').map(Number) as [number, number, number];
      if (!Number.isFinite(n)) continue;
      notices.push({ ordinal: o, origin, n });
      if (o >= from && o <= trimmed) trimmedNotices.push({ ordinal: o, origin, n });
    }
  }
  const records: Buffer[] = [];
  const pastCap: Buffer[] = [];
  let readFrom = total + 1;
  const k = Number(out[3]!.toString('latin1'));
  const [epoch, rewindBase, rewindTop] = out[4]!.toString('latin1').split(':').map(Number) as [number, number, number];
  const take = (r: Buffer, ordinal: number): void => {
    if (ordinal < readFrom) readFrom = ordinal;
    if (ordinal >= first) records.push(r);
    else if (ordinal <= trimmed) {
      pastCap.push(r);
      const s = seqOf(r);
      if (s > trimmedSeq) trimmedSeq = s;
    }
  };
  const olds = HEAD + 2 * k;
  if (out.length > olds) {
    const f = Number(out[olds]!.toString('latin1'));
    for (let i = olds + 1; i < out.length; i++) take(out[i]!, f + i - olds - 1);
  }
  for (let e = 0; e < k; e++) {
    const meta = out[HEAD + e]!.toString('latin1');
    const colon = meta.indexOf(':');
    const b = decodeChunk(out[HEAD + k + e]!, Number(meta.slice(0, colon)));
    if (b === null) continue;
    for (let i = 0; i < b.recs.length; i++) take(b.recs[i]!, b.first + i);
  }
  return { trimmed, trimmedNotices, trimmedSeq, first, records, total, droppedSeq, readFrom, pastCap, notices, epoch: epoch || 0, rewindBase: rewindBase || 0, rewindTop: rewindTop || 0 };
}
