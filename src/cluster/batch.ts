// The batch wire format of distributed mode: what the append script publishes
// on an app's channel (`f64 first ordinal | header | records`), the header
// it is given, and the loss notice, a record that is not a line.

/** Header bytes before the lengths in a published batch (after the f64 ordinal). */
export const MSG_HEAD = 8 + 6;

/** Seq field of a loss notice (a line's seq is never negative). */
const LOSS_MARK = -1;
/** f64 -1 | origin u8 | 1 u8 | count u32 LE | since f64 LE */
const LOSS_BYTES = 22;

/**
 * A record in an app's stream (not a line) saying that node `origin` could
 * not write n of its lines to Redis: appended, with an ordinal, when Redis is
 * back, so every follower sees it in order, catch-ups included. History
 * readers skip it (its seq field is -1).
 */
export function encodeLossNotice(origin: number, n: number, sinceMs: number): Buffer {
  const b = Buffer.alloc(LOSS_BYTES);
  b.writeDoubleLE(LOSS_MARK, 0);
  b[8] = origin;
  b[9] = 1;
  b.writeUInt32LE(n, 10);
  b.writeDoubleLE(sinceMs, 14);
  return b;
}

/** A loss notice, decoded; null when the record is a line. */
export function decodeLossNotice(rec: Buffer): { origin: number; n: number; since: number } | null {
  if (rec.length !== LOSS_BYTES || rec.readDoubleLE(0) !== LOSS_MARK || rec[9] !== 1) return null;
  return { origin: rec[8]!, n: rec.readUInt32LE(10), since: rec.readDoubleLE(14) };
}

/** True for a loss notice (history readers skip these). */
export function isLossNotice(rec: Buffer): boolean {
  return rec.length === LOSS_BYTES && rec.readDoubleLE(0) === LOSS_MARK;
}

/** A published batch, decoded: records are views into the message. */
export interface PublishedBatch {
  first: number;
  origin: number;
  recs: Buffer[];
}

/** Decode `f64 first ordinal | origin | kind | u32 count | u16 lengths | records`; null when malformed. */
export function decodeBatch(msg: Buffer): PublishedBatch | null {
  if (msg.length < MSG_HEAD) return null;
  return decodeChunk(msg.subarray(8), msg.readDoubleLE(0));
}

/** Decode a stored or published chunk `origin | kind | u32 count | u16 lengths | records` whose first ordinal is `first`; null when malformed. */
export function decodeChunk(blob: Buffer, first: number): PublishedBatch | null {
  if (blob.length < CHUNK_HEAD) return null;
  const origin = blob[0]!;
  const n = blob.readUInt32LE(2);
  let p = CHUNK_HEAD + 2 * n;
  if (p > blob.length) return null;
  const recs: Buffer[] = new Array<Buffer>(n);
  for (let i = 0; i < n; i++) {
    const len = blob.readUInt16LE(CHUNK_HEAD + 2 * i);
    if (p + len > blob.length) return null;
    recs[i] = blob.subarray(p, p + len);
    p += len;
  }
  return { first, origin, recs };
}

/** Header bytes of a chunk before its lengths. */
const CHUNK_HEAD = 6;

/** Kind byte of an ordinal message (published just before its chunk: `origin u8 | 0xff | f64 first ordinal`). */
const ORDINAL_KIND = 0xff;
const ORDINAL_BYTES = 10;

/** A ten-byte message `origin u8 | kind u8 | f64 LE value` (ordinal and epoch messages). */
function kindMessage(kind: number, origin: number, value: number): Buffer {
  const b = Buffer.alloc(ORDINAL_BYTES);
  b[0] = origin;
  b[1] = kind;
  b.writeDoubleLE(value, 2);
  return b;
}

/** The value of a ten-byte message of this kind; null when msg is not one. */
function decodeKind(msg: Buffer, kind: number): number | null {
  if (msg.length !== ORDINAL_BYTES || msg[1] !== kind) return null;
  return msg.readDoubleLE(2);
}

/** The ordinal message the append script publishes before a chunk (tests build it here). */
export function ordinalMessage(origin: number, first: number): Buffer {
  return kindMessage(ORDINAL_KIND, origin, first);
}

/** The first ordinal of the chunk that follows, when msg is an ordinal message; else null. */
export function decodeOrdinal(msg: Buffer): number | null {
  return decodeKind(msg, ORDINAL_KIND);
}

/**
 * Kind byte of an epoch message: `origin u8 | 0xfe | f64 epoch`, published
 * just before the ordinal message of the append that began a new
 * incarnation of the app's stream (redis/scripts.ts, EPOCH_LUA): its chunk
 * and the ones after it are of that epoch, their ordinals counted from the
 * ordinal before its first. Ten bytes like an ordinal message, so a node of
 * the release before, which knows neither, counts it as a malformed message
 * and goes on.
 */
const EPOCH_KIND = 0xfe;

/** The epoch message (tests build it here). */
export function epochMessage(origin: number, epoch: number): Buffer {
  return kindMessage(EPOCH_KIND, origin, epoch);
}

/** The epoch the chunk that follows begins, when msg is an epoch message; else null. */
export function decodeEpoch(msg: Buffer): number | null {
  return decodeKind(msg, EPOCH_KIND);
}

/** origin u8 | kind u8 | count u32 LE | count x u16 LE lengths; kind 1: the first record is a loss notice (the append remembers its count). */
export function makeHeader(origin: number, recs: readonly Buffer[]): Buffer {
  const n = recs.length;
  const header = Buffer.allocUnsafe(6 + 2 * n);
  header[0] = origin;
  header[1] = n > 0 && isLossNotice(recs[0]!) ? 1 : 0;
  header.writeUInt32LE(n, 2);
  for (let k = 0; k < n; k++) header.writeUInt16LE(recs[k]!.length, 6 + 2 * k);
  return header;
}

