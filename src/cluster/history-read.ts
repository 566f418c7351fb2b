// Reads of an app's history in Redis (the HISTORY script's reply, decoded):
// the records from an ordinal on, with what was trimmed before them.

/** A loss notice that was appended at `ordinal`: node `origin` could not write n lines. */
export interface NoticeMark {
  ordinal: number;
  origin: number;
  n: number;
}

export interface HistoryRead {
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
}

/** Decode the history script's reply `{trimmed, tseq, notices, records...}` for a read from ordinal `from`. */
export function decodeHistory(out: readonly Buffer[], from: number): HistoryRead {
  const trimmed = Number(out[0]!.toString('latin1'));
  const trimmedSeq = Number(out[1]!.toString('latin1'));
  const trimmedNotices: NoticeMark[] = [];
  const notices = out[2]!.toString('latin1');
  if (notices.length > 0) {
    for (const e of notices.split(',')) {
      const [o, origin, n] = e.split(':').map(Number) as [number, number, number];
      if (o >= from && o <= trimmed && Number.isFinite(n)) trimmedNotices.push({ ordinal: o, origin, n });
    }
  }
  const records = out.slice(3);
  return { trimmed, trimmedNotices, trimmedSeq, first: Math.max(from, trimmed + 1), records };
}
