// Line filters (SPEC 5.1), shared by sessions (tail/: history and live lines)
// and drains (SPEC 16: only matching lines are queued): source exact;
// ps/dyno equal or prefix followed by `.`; grep substring of the message.
// Byte compares on the cooked line, no strings per line.
import * as chars from './basics/chars.js';
import { msgStartOf, sourceEndOf, tsEndOf, dynoEndOf } from './line.js';

// local bindings: the byte loops read them as constants
const { DOT } = chars;

export interface FilterSpec {
  source: string | null;
  dyno: string | null;
  grep: string | null;
}

export class LineFilter {
  readonly #source: Buffer | null;
  readonly #dyno: Buffer | null;
  readonly #grep: Buffer | null;
  /** True when every line matches (no filter set). */
  readonly all: boolean;

  constructor(spec: FilterSpec) {
    this.#source = spec.source ? Buffer.from(spec.source, 'utf8') : null;
    this.#dyno = spec.dyno ? Buffer.from(spec.dyno, 'utf8') : null;
    this.#grep = spec.grep ? Buffer.from(spec.grep, 'utf8') : null;
    this.all = this.#source === null && this.#dyno === null && this.#grep === null;
  }

  matches(rec: Buffer): boolean {
    if (this.all) return true;
    const tsEnd = tsEndOf(rec);
    const srcEnd = sourceEndOf(rec);
    const src = this.#source;
    if (src !== null && (srcEnd - tsEnd !== src.length || rec.compare(src, 0, src.length, tsEnd, srcEnd) !== 0)) return false;
    const dyno = this.#dyno;
    if (dyno !== null) {
      const dynoEnd = dynoEndOf(rec);
      const n = dyno.length;
      const len = dynoEnd - srcEnd;
      if (len < n || rec.compare(dyno, 0, n, srcEnd, srcEnd + n) !== 0) return false;
      // equal, or the prefix is followed by a dot (web matches web.1, not webhook.1)
      if (len !== n && rec[srcEnd + n] !== DOT) return false;
    }
    const grep = this.#grep;
    if (grep !== null && rec.indexOf(grep, msgStartOf(rec)) === -1) return false;
    return true;
  }
}
