// The in-process ingest (SPEC 14, lp.publish and the emitters): a platform
// component hands a line's fields; they are written into one reused scratch
// buffer the way a scanned syslog message sits in a socket chunk, cooked by
// the same cookMessage as every other ingest (trailing CR/LF removed, a
// message with LF becomes several lines, over 10,000 bytes split) and routed
// with route(). Synchronous, no network, no object per line but the cooked
// line itself.
import type { App } from '../apps.js';
import type { Context } from '../context.js';
import { BadRequestError } from '../errors.js';
import { cookMessage, type LineWriter } from '../ingest/cook.js';
import { SyslogHeader } from '../ingest/syslog.js';
import { cook, MAX_FIELD, rfc3339, type LineParts } from '../line.js';
import { route } from '../router.js';

/** The fields of one published line. */
export interface PublishFields {
  source: string;
  dyno: string;
  msg: string | Uint8Array;
  /** The line's TIMESTAMP; default: the time it is published. */
  time?: Date | number;
  /** Syslog PRI; default 190 (local7.info, what Heroku uses for app output). */
  pri?: number;
}

export const DEFAULT_PRI = 190;
/** Distinct sources and dynos remembered as validated bytes; past it the cache starts over. */
const NAME_CACHE = 10_000;
const NIL_TS = Buffer.from('-', 'latin1');

/** Routes each cooked line to one app with one source. */
class PublishWriter implements LineWriter {
  app: App | null = null;
  source: Buffer = NIL_TS;
  line(p: LineParts): void {
    route(this.app!, cook(p, this.source));
  }
}

/** Validated name -> its bytes (sources and dynos repeat: one check and one encode each). */
class NameCache {
  readonly #map = new Map<string, Buffer>();
  readonly #what: string;
  readonly #max: number;
  constructor(what: string, max: number) {
    this.#what = what;
    this.#max = max;
  }
  get(name: unknown): Buffer {
    const hit = typeof name === 'string' ? this.#map.get(name) : undefined;
    if (hit !== undefined) return hit;
    if (typeof name !== 'string' || name === '') throw new BadRequestError(`${this.#what}: must be a non-empty string`, 'invalid_params');
    const buf = Buffer.from(name, 'utf8');
    if (buf.length > this.#max) throw new BadRequestError(`${this.#what}: at most ${this.#max} bytes`, 'invalid_params');
    // printable, no space: it is one field of a syslog header
    for (let i = 0; i < buf.length; i++) if (buf[i]! <= 0x20 || buf[i] === 0x7f) throw new BadRequestError(`${this.#what}: no spaces or control characters`, 'invalid_params');
    if (this.#map.size >= NAME_CACHE) this.#map.clear();
    this.#map.set(name, buf);
    return buf;
  }
}

/** The publish path of one instance: its metrics, its scratch buffer. */
export class Publisher {
  readonly #lines: { value: number };
  readonly #writer = new PublishWriter();
  readonly #hdr = new SyslogHeader();
  readonly #sources = new NameCache('source', MAX_FIELD);
  readonly #dynos = new NameCache('dyno', 128);
  #scratch = Buffer.allocUnsafe(16 * 1024);
  #tsMs = NaN;
  #ts: Buffer = NIL_TS;

  constructor(ctx: Context) {
    this.#lines = ctx.metrics.ingestLines.labels('publish');
  }

  /** Cook and route one message to app; returns the lines it became. */
  publish(app: App, f: PublishFields): number {
    const source = this.#sources.get(f.source);
    const dyno = this.#dynos.get(f.dyno);
    const pri = f.pri ?? DEFAULT_PRI;
    if (!Number.isInteger(pri) || pri < 0 || pri > 191) throw new BadRequestError('pri: must be a whole number from 0 to 191', 'invalid_params');
    const ts = f.time === undefined ? NIL_TS : this.#timestamp(f.time);
    const msg = f.msg;
    if (typeof msg !== 'string' && !(msg instanceof Uint8Array)) throw new BadRequestError('msg: must be a string or bytes', 'invalid_params');
    // the per-app ingest rate limit (SPEC 17) admits or drops here, as it does for every other transport
    const maxMsg = typeof msg === 'string' ? msg.length * 3 : msg.length;
    const need = ts.length + dyno.length + maxMsg;
    if (need > this.#scratch.length) this.#scratch = Buffer.allocUnsafe(Math.max(need, this.#scratch.length * 2));
    const buf = this.#scratch;
    const h = this.#hdr;
    h.pri = pri;
    h.tsStart = 0;
    h.tsEnd = ts.copy(buf, 0);
    h.procStart = h.tsEnd;
    h.procEnd = h.procStart + dyno.copy(buf, h.procStart);
    h.msgStart = h.procEnd;
    if (typeof msg === 'string') h.msgEnd = h.msgStart + buf.write(msg, h.msgStart, 'utf8');
    else {
      buf.set(msg, h.msgStart);
      h.msgEnd = h.msgStart + msg.length;
    }
    // trailing CR/LF removed, as the syslog scan does for every other ingest
    while (h.msgEnd > h.msgStart && (buf[h.msgEnd - 1] === 0x0a || buf[h.msgEnd - 1] === 0x0d)) h.msgEnd--;
    const w = this.#writer;
    w.app = app;
    w.source = source;
    const n = cookMessage(h, buf, Date.now(), w);
    w.app = null;
    this.#lines.value += n;
    return n;
  }

  #timestamp(t: Date | number): Buffer {
    const ms = typeof t === 'number' ? t : t instanceof Date ? t.getTime() : NaN;
    if (!Number.isFinite(ms)) throw new BadRequestError('time: must be a Date or milliseconds since the epoch', 'invalid_params');
    if (ms !== this.#tsMs) {
      if (Math.abs(ms) > 8.64e15) throw new BadRequestError('time: out of range', 'invalid_params');
      this.#ts = Buffer.from(rfc3339(ms), 'latin1');
      this.#tsMs = ms;
    }
    return this.#ts;
  }
}
