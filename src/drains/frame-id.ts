// Logplex-Frame-Id values for drain batches (SPEC 6.3): 32 uppercase hex
// digits from 16 random bytes, one id per batch, repeated on every retry.
// Drawn from a pool filled 4 KiB at a time (one getrandom call per 256 ids,
// hex-encoded once per fill) instead of a randomBytes(16) call per batch,
// which cost ~2% of the main thread at a few thousand POSTs per second.
// Every pool byte is used once, so ids stay unpredictable and unique.
import { randomFillSync } from 'node:crypto';

const ID_BYTES = 16;
const POOL_BYTES = 4096;
const HEX_PER_ID = ID_BYTES * 2;

const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
/** The pool as uppercase hex; ids are substrings of it. */
let hex = '';
/** Offset of the next unused id in hex; hex.length when used up. */
let next = 0;

/** A fresh frame id: 32 uppercase hex characters. */
export function newFrameId(): string {
  if (next === hex.length) {
    randomFillSync(pool);
    hex = pool.toString('hex').toUpperCase();
    next = 0;
  }
  const id = hex.slice(next, next + HEX_PER_ID);
  next += HEX_PER_ID;
  return id;
}
