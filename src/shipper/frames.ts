// What the shipper sends: `application/logplex-1` bodies of octet-counted
// RFC 5424 frames (SPEC 3.1), `LEN <PRI>1 TS HOST APP-NAME DYNO - - MSG`.
// The server takes the source from the token, not from APP-NAME, except for
// the L12 / L13 notices (noticeHeader below).
import { randomBytes } from 'node:crypto';
import type { LineBuffer } from './buffer.js';

/** local7.info, what Heroku uses for app output. */
export const APP_PRI = 190;
/** local5.warning, as Logplex's own L10 line. */
export const NOTICE_PRI = 172;

/** RFC 3339 with microseconds and +00:00 (as Logplex writes its own). */
export function timestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000+00:00`;
}

/** The L12 line (SPEC 14): n lines dropped from the full buffer, the first at sinceMs. */
export function l12Text(n: number, sinceMs: number): string {
  return `Error L12 (Local buffer overflow): ${n} messages dropped since ${timestamp(sinceMs)}.`;
}

/** The L13 line (SPEC 14): n lines in batches given up, the first attempt of the first at sinceMs. */
export function l13Text(n: number, sinceMs: number): string {
  return `Error L13 (Local delivery error): ${n} messages could not be delivered since ${timestamp(sinceMs)}.`;
}

/**
 * The header of a notice frame, `<172>1 TS HOST heroku logplane - - `. The
 * server cooks such a frame whose message is exactly an L12 or L13 line as
 * heroku[logplane] whatever token sent it (ingest/local-notice.ts), so the
 * notices need no `heroku` token.
 */
export function noticeHeader(ms: number, host: string): Buffer {
  return Buffer.from(`<${NOTICE_PRI}>1 ${timestamp(ms)} ${host} heroku logplane - - `, 'utf8');
}

/** A 32-hex-digit Logplex-Frame-Id: the same on every retry of one batch, so the server stores it once. */
export function frameId(): string {
  return randomBytes(16).toString('hex').toUpperCase();
}

/** `<PRI>1 TS HOST NAME DYNO - - ` per receive time (lines read together share one). */
export class HeaderCache {
  readonly #rest: string;
  readonly #pri: number;
  #ms = NaN;
  #header: Buffer = Buffer.alloc(0);

  constructor(pri: number, host: string, name: string, dyno: string) {
    this.#pri = pri;
    this.#rest = ` ${host} ${name} ${dyno} - - `;
  }

  at(ms: number): Buffer {
    if (ms !== this.#ms) {
      this.#header = Buffer.from(`<${this.#pri}>1 ${timestamp(ms)}${this.#rest}`, 'utf8');
      this.#ms = ms;
    }
    return this.#header;
  }
}

/** Decimal digits of n (n >= 0). */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** The body of the oldest n lines of buf, in one Buffer. Does not take them. */
export function encodeLines(buf: LineBuffer, n: number, headers: HeaderCache): Buffer {
  let size = 0;
  for (let i = 0; i < n; i++) {
    const len = headers.at(buf.timeAt(i)).length + buf.peek(i).length;
    size += digits(len) + 1 + len;
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const h = headers.at(buf.timeAt(i));
    const line = buf.peek(i);
    pos += out.write(String(h.length + line.length), pos, 'latin1');
    out[pos++] = 0x20;
    pos += h.copy(out, pos);
    pos += line.copy(out, pos);
  }
  return out;
}

/** A body of whole messages (notices). */
export function encodeMessages(header: Buffer, msgs: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of msgs) {
    const body = Buffer.concat([header, Buffer.from(m, 'utf8')]);
    parts.push(Buffer.from(`${body.length} `, 'latin1'), body);
  }
  return Buffer.concat(parts);
}
