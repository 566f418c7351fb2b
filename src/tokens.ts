// Token lookup by bytes: one hash and one compare per line, no string per
// line. Used by the registry (main thread) and by ingest workers, which keep a
// replica of the token -> app table. Both the hash and the compare read the
// line's bytes as 32-bit words (bytes.ts wordView): a token is 38 bytes.

import { wordView } from './basics/bytes.js';

export interface TokenKey {
  /** `t.<uuid4>` */
  readonly token: string;
  /** The token as bytes. */
  readonly bytes: Buffer;
  /** False once removed from the table: holders of a cached reference must look up again. */
  live: boolean;
}

/** One token in a hash bucket, with a view of its bytes for word compares. */
interface Slot<E> {
  readonly e: E;
  readonly view: DataView;
  readonly length: number;
}

/**
 * FNV-1a by 32-bit words over the last 16 bytes of a range (the random end of
 * the uuid spreads tokens well enough; equality is always checked on every
 * byte), seeded with its length; shorter ranges byte by byte. Kept in 30 bits:
 * a small integer key, which a Map hashes without boxing.
 */
function hashOf(v: DataView, start: number, end: number): number {
  let h = 0x811c9dc5 ^ (end - start);
  if (end - start >= 16) {
    h = Math.imul(h ^ v.getInt32(end - 16, true), 0x01000193);
    h = Math.imul(h ^ v.getInt32(end - 12, true), 0x01000193);
    h = Math.imul(h ^ v.getInt32(end - 8, true), 0x01000193);
    h = Math.imul(h ^ v.getInt32(end - 4, true), 0x01000193);
  } else {
    for (let i = start; i < end; i++) h = Math.imul(h ^ v.getUint8(i), 0x01000193);
  }
  return (h ^ (h >>> 15)) & 0x3fffffff;
}

/** True when v[start, start+slot.length) is the slot's token: the last word first (where tokens differ), then by words. */
function sameBytes<E>(slot: Slot<E>, v: DataView, start: number): boolean {
  const n = slot.length;
  const t = slot.view;
  if (n < 4) {
    for (let i = 0; i < n; i++) if (v.getUint8(start + i) !== t.getUint8(i)) return false;
    return true;
  }
  if (v.getInt32(start + n - 4, true) !== t.getInt32(n - 4, true)) return false;
  for (let i = 0; i + 4 <= n; i += 4) if (v.getInt32(start + i, true) !== t.getInt32(i, true)) return false;
  return true;
}

function slotOf<E extends TokenKey>(e: E): Slot<E> {
  return { e, view: new DataView(e.bytes.buffer, e.bytes.byteOffset, e.bytes.length), length: e.bytes.length };
}

/** Token lookup by bytes, without making a string per line. */
export class TokenTable<E extends TokenKey> {
  readonly #byHash = new Map<number, Slot<E>[]>();
  readonly #byToken = new Map<string, E>();

  get size(): number {
    return this.#byToken.size;
  }
  add(e: E): void {
    this.remove(e.token);
    this.#byToken.set(e.token, e);
    const slot = slotOf(e);
    const h = hashOf(slot.view, 0, slot.length);
    const list = this.#byHash.get(h);
    if (list) list.push(slot);
    else this.#byHash.set(h, [slot]);
  }
  remove(token: string): void {
    const e = this.#byToken.get(token);
    if (!e) return;
    e.live = false;
    this.#byToken.delete(token);
    const h = hashOf(new DataView(e.bytes.buffer, e.bytes.byteOffset, e.bytes.length), 0, e.bytes.length);
    const list = this.#byHash.get(h);
    if (!list) return;
    const rest = list.filter((x) => x.e !== e);
    if (rest.length) this.#byHash.set(h, rest);
    else this.#byHash.delete(h);
  }
  get(token: string): E | undefined {
    return this.#byToken.get(token);
  }
  lookup(buf: Buffer, start: number, end: number): E | undefined {
    const v = wordView(buf);
    const list = this.#byHash.get(hashOf(v, start, end));
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.length === end - start && sameBytes(s, v, start)) return s.e;
    }
    return undefined;
  }
}
