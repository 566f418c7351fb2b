// Token lookup by bytes: one FNV-1a hash and one byte compare per line, no
// string per line. Used by the registry (main thread) and by ingest workers,
// which keep a replica of the token -> app table.
import { equalBytes } from './bytes.js';

export interface TokenKey {
  /** `t.<uuid4>` */
  readonly token: string;
  /** The token as bytes. */
  readonly bytes: Buffer;
  /** False once removed from the table: holders of a cached reference must look up again. */
  live: boolean;
}

/** FNV-1a over the tail of a byte range, seeded with its length. */
function hashBytes(buf: Buffer, start: number, end: number): number {
  // The last 16 bytes (the random end of the uuid) spread tokens well enough;
  // equality is always checked on every byte.
  let h = 0x811c9dc5 ^ (end - start);
  for (let i = Math.max(start, end - 16); i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}

/** Token lookup by bytes, without making a string per line. */
export class TokenTable<E extends TokenKey> {
  readonly #byHash = new Map<number, E[]>();
  readonly #byToken = new Map<string, E>();

  get size(): number {
    return this.#byToken.size;
  }
  add(e: E): void {
    this.remove(e.token);
    this.#byToken.set(e.token, e);
    const h = hashBytes(e.bytes, 0, e.bytes.length);
    const list = this.#byHash.get(h);
    if (list) list.push(e);
    else this.#byHash.set(h, [e]);
  }
  remove(token: string): void {
    const e = this.#byToken.get(token);
    if (!e) return;
    e.live = false;
    this.#byToken.delete(token);
    const h = hashBytes(e.bytes, 0, e.bytes.length);
    const list = this.#byHash.get(h);
    if (!list) return;
    const rest = list.filter((x) => x !== e);
    if (rest.length) this.#byHash.set(h, rest);
    else this.#byHash.delete(h);
  }
  get(token: string): E | undefined {
    return this.#byToken.get(token);
  }
  lookup(buf: Buffer, start: number, end: number): E | undefined {
    const list = this.#byHash.get(hashBytes(buf, start, end));
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (e.bytes.length === end - start && equalBytes(buf, start, e.bytes, 0, e.bytes.length)) return e;
    }
    return undefined;
  }
}

