// The in-process ingest (SPEC 14, lp.publish and the emitters): a platform
// component hands a line's fields; they are written into one reused scratch
// buffer the way a scanned syslog message sits in a socket chunk, cooked by
// the same cookMessage as every other ingest (trailing CR/LF removed, a
// message with LF becomes several lines, over 10,000 bytes split, tokens
// replaced in a split one) and routed with route(). Synchronous, no network,
// no object per line but the cooked line itself.
import type { App } from '../apps.js';
import type { Context } from '../context.js';
import { BadRequestError } from '../errors.js';
import { cookMessage, type LineWriter, type TokenFinder } from '../ingest/cook.js';
import { MAX_FRAME } from '../ingest/framing.js';
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
/** The timestamps RFC 3339 can write (a four-digit year): 0000-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z, ms. */
const MIN_TIME = -62_167_219_200_000;
const MAX_TIME = 253_402_300_799_999;
/** Distinct sources and dynos remembered as validated bytes; past it the cache starts over. */
const NAME_CACHE = 10_000;
const NIL_TS = Buffer.from('-', 'latin1');
/** NameCache's last name before its first lookup. */
const NO_NAME = Symbol('no name yet');

/** Routes each cooked line to one app with one source. */
class PublishWriter implements LineWriter {
  app: App | null = null;
  source: Buffer = NIL_TS;
  /** Lines of the current message the rate limit dropped. */
  limited = 0;
  line(p: LineParts): void {
    const app = this.app!;
    // the per-app ingest rate limit (ingest/rate-limit.ts), as on every other ingest path
    const limit = app.admission;
    if (limit !== null && !limit.admit(Math.floor(p.receivedMs))) {
      this.limited++;
      return;
    }
    route(app, cook(p, this.source));
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
  /** Starts as a value no caller can pass: a missing name (undefined) must be looked up, and refused, on the first call too. */
  #lastName: unknown = NO_NAME;
  #lastBuf: Buffer = NIL_TS;

  get(name: unknown): Buffer {
    if (name === this.#lastName) return this.#lastBuf;
    const buf = this.#lookup(name);
    this.#lastName = name;
    this.#lastBuf = buf;
    return buf;
  }

  #lookup(name: unknown): Buffer {
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

/** Where the fields sit in the scratch buffer: the timestamp, the dyno, then the message. */
const TS_AT = 0;
const DYNO_AT = 64;
const MSG_AT = DYNO_AT + 256;

/** Dyno names: at most this many bytes. */
const MAX_DYNO = 128;
/** Bytes of the RFC 3339 timestamp logplane writes (`2024-01-02T03:04:05.678000+00:00`). */
const TS_LEN = 32;

/**
 * Bytes of the frame `<PRI>1 TS host SOURCE DYNO - ` before the message: the
 * line as `GET .../logs` and drains write it, and as a component would POST
 * it. A message is refused when this plus its bytes pass MAX_FRAME, the
 * network ingest's frame limit (SPEC 3.3).
 */
function frameHead(pri: number, source: Buffer, dyno: Buffer): number {
  return 1 + String(pri).length + 3 + TS_LEN + 6 + source.length + 1 + dyno.length + 1 + 2;
}
/** The largest frameHead (PRI 191, the longest source and dyno). */
const MAX_FRAME_HEAD = 1 + 3 + 3 + TS_LEN + 6 + MAX_FIELD + 1 + MAX_DYNO + 1 + 2;

/** Short field copy: a byte loop (a native copy costs more than these few bytes). */
function copyShort(src: Buffer, dst: Buffer, at: number): number {
  const n = src.length;
  for (let i = 0; i < n; i++) dst[at + i] = src[i]!;
  return n;
}

/** Buffer's own UTF-8 writer, without Buffer#write's argument handling (Node's internal fast path); Buffer#write where absent. */
type Utf8Writer = (this: Buffer, s: string, offset: number, length: number) => number;
const utf8Write: Utf8Writer =
  (Buffer.prototype as unknown as { utf8Write?: Utf8Writer }).utf8Write ??
  function (this: Buffer, s: string, offset: number, length: number): number {
    return this.write(s, offset, length, 'utf8');
  };

/** The publish path of one instance: its metrics, its scratch buffer. */
export class Publisher {
  readonly #lines: { value: number };
  readonly #limited: { value: number };
  readonly #writer = new PublishWriter();
  /** The registry's tokens: a published message split into lines has them replaced, as on every ingest (cook.ts). */
  readonly #tokens: TokenFinder;
  readonly #hdr = new SyslogHeader();
  readonly #sources = new NameCache('source', MAX_FIELD);
  readonly #dynos = new NameCache('dyno', MAX_DYNO);
  /**
   * Never grows: the frame limit bounds a message to MAX_FRAME bytes, so one
   * buffer of MSG_AT + MAX_FRAME (~64 KiB) per instance holds any message.
   */
  readonly #scratch = Buffer.allocUnsafe(MSG_AT + MAX_FRAME);
  /** The timestamp and dyno now in the scratch buffer (written again only when they change). */
  #tsIn: Buffer | null = null;
  #dynoIn: Buffer | null = null;
  #tsMs = NaN;
  #ts: Buffer = NIL_TS;

  constructor(ctx: Context) {
    this.#lines = ctx.metrics.ingestLines.labels('publish');
    this.#tokens = ctx.registry.tokens;
    this.#limited = ctx.metrics.ingestDropped.labels('publish', 'rate_limited');
  }

  /** Cook and route one message to app; returns the lines it became (routed or dropped by the app's rate limit). */
  publish(app: App, f: PublishFields): number {
    const source = this.#sources.get(f.source);
    const dyno = this.#dynos.get(f.dyno);
    const pri = f.pri ?? DEFAULT_PRI;
    if (pri !== DEFAULT_PRI && (!Number.isInteger(pri) || pri < 0 || pri > 191)) throw new BadRequestError('pri: must be a whole number from 0 to 191', 'invalid_params');
    const ts = f.time === undefined ? NIL_TS : this.#timestamp(f.time);
    const msg = f.msg;
    const isString = typeof msg === 'string';
    if (!isString && !(msg instanceof Uint8Array)) throw new BadRequestError('msg: must be a string or bytes', 'invalid_params');
    // the per-app ingest rate limit (SPEC 17) admits or drops here, as it does for every other transport
    // a string's UTF-8 is at most 3 bytes per UTF-16 unit: counted only when that bound is not small enough
    const most = isString ? msg.length * 3 : msg.length;
    if (most + MAX_FRAME_HEAD > MAX_FRAME) {
      // a string has at least as many bytes as UTF-16 units: one far too long is refused without counting them
      const bytes = isString && msg.length <= MAX_FRAME ? Buffer.byteLength(msg, 'utf8') : msg.length;
      const room = MAX_FRAME - frameHead(pri, source, dyno);
      if (bytes > room) throw new BadRequestError(`msg: more than ${room} bytes (its frame \`<PRI>1 TS host SOURCE DYNO - MSG\` would pass the ${MAX_FRAME}-byte frame limit, SPEC 3.3)`, 'invalid_params');
    }
    const buf = this.#scratch;
    const h = this.#hdr;
    h.pri = pri;
    if (ts !== this.#tsIn) {
      h.tsStart = TS_AT;
      h.tsEnd = TS_AT + copyShort(ts, buf, TS_AT);
      this.#tsIn = ts;
    }
    if (dyno !== this.#dynoIn) {
      h.procStart = DYNO_AT;
      h.procEnd = DYNO_AT + copyShort(dyno, buf, DYNO_AT);
      this.#dynoIn = dyno;
    }
    h.msgStart = MSG_AT;
    let end: number;
    if (isString) end = MSG_AT + utf8Write.call(buf, msg, MSG_AT, buf.length - MSG_AT);
    else {
      buf.set(msg, MSG_AT);
      end = MSG_AT + msg.length;
    }
    // trailing CR/LF removed, as the syslog scan does for every other ingest
    while (end > MSG_AT && (buf[end - 1] === 0x0a || buf[end - 1] === 0x0d)) end--;
    h.msgEnd = end;
    const w = this.#writer;
    w.app = app;
    w.source = source;
    w.limited = 0;
    const n = cookMessage(h, buf, Date.now(), w, this.#tokens);
    w.app = null;
    // accepted = routed (SPEC 10); the rate-limited ones under their own reason
    this.#lines.value += n - w.limited;
    if (w.limited > 0) this.#limited.value += w.limited;
    return n;
  }

  #timestamp(t: Date | number): Buffer {
    const ms = typeof t === 'number' ? t : t instanceof Date ? t.getTime() : NaN;
    if (!Number.isFinite(ms)) throw new BadRequestError('time: must be a Date or milliseconds since the epoch', 'invalid_params');
    if (ms !== this.#tsMs) {
      // the network ingest keeps a sender's TIMESTAMP bytes as sent; publish writes them, so only valid RFC 3339
      if (ms < MIN_TIME || ms > MAX_TIME) throw new BadRequestError('time: must be within the years 0000 to 9999', 'invalid_params');
      this.#ts = Buffer.from(rfc3339(ms), 'latin1');
      this.#tsMs = ms;
    }
    return this.#ts;
  }
}
