// The bit layout of a distributed seq (a hybrid logical clock, stamped in
// cluster/seq.ts):
//
//   seq = (ms since 2026-01-01) * 8192 + counter * 256 + node
//
// Kept here because tails read the origin node out of a seq too; only
// cluster/ makes seqs. Seqs stay below 2^53 until 2060, so they are exact in
// a double and in JSON.

export const SEQ_EPOCH_MS = Date.UTC(2026, 0, 1);
/** Node indexes: the low 8 bits of every seq. */
export const NODE_SLOTS = 256;
/** Seq values per millisecond (32 counter values x 256 nodes). */
export const SEQ_PER_MS = 8192;

/** The node index a distributed seq was stamped by. */
export function originOf(seq: number): number {
  return seq % NODE_SLOTS;
}

/** The highest seq whose time part is at or before ms. */
export function seqCeilingAt(ms: number): number {
  return (Math.floor(ms) - SEQ_EPOCH_MS) * SEQ_PER_MS + SEQ_PER_MS - 1;
}

/** The time part of a distributed seq, ms since epoch. */
export function msOfSeq(seq: number): number {
  return Math.floor(seq / SEQ_PER_MS) + SEQ_EPOCH_MS;
}
