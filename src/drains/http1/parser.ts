// The response side of the drain HTTP/1.1 client (client.ts): an
// incremental parser fed bytes split anywhere, an integer-state machine that
// keeps the status and skips the body.
import * as chars from '../../basics/chars.js';

// local bindings: the byte loops read them as constants
const { CASE_BIT, COLON, CR, DIGIT_0, DIGIT_1, DIGIT_9, DOT, HTAB, LF, LOWER_A, LOWER_F, SLASH, SP } = chars;

/** Bytes a status line plus headers may take (Node's limit is 16 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;

/** Parser states. */
const St = {
  STATUS: 0,
  HEADERS: 1,
  BODY: 2,
  CHUNK_SIZE: 3,
  CHUNK_DATA: 4,
  CHUNK_END: 5,
  TRAILERS: 6,
  UNTIL_CLOSE: 7,
  DONE: 8,
} as const;
type St = (typeof St)[keyof typeof St];

/** Result of ResponseParser.execute: still reading. */
export const NEED_MORE = -1;
/** Result of ResponseParser.execute: malformed response (see .error). */
export const BAD = -2;

/** Case-insensitive compare of bytes [s, e) with a lowercase ASCII name. */
function nameIs(b: Buffer, s: number, e: number, name: string): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) if ((b[s + i]! | CASE_BIT) !== name.charCodeAt(i)) return false;
  return true;
}

function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

/**
 * An HTTP/1.x response parser fed bytes split anywhere. It keeps the status,
 * whether the connection can carry another request, and skips the body
 * (Content-Length, chunked, or up to the end of the connection). Interim 1xx
 * responses are skipped. No strings are made for lines it does not need.
 */
export class ResponseParser {
  /** Final status, once the status line is in. */
  status = 0;
  /** The connection cannot be reused after this response. */
  close = false;
  /** Why execute() returned BAD. */
  error = '';
  /** errno-style code for error. */
  code = '';

  #state: St = St.STATUS;
  /** Bytes left in the body or the current chunk. */
  #left = 0;
  #headBytes = 0;
  #http10 = false;
  #keepAlive = false;
  #length = -1;
  #chunked = false;
  #te = false;
  /** A line split across reads, gathered here. */
  #line: Buffer | null = null;
  #lineLen = 0;

  /** Ready for the next response on the same connection. */
  reset(): void {
    this.status = 0;
    this.close = false;
    this.error = '';
    this.code = '';
    this.#state = St.STATUS;
    this.#lineLen = 0;
    this.#resetMessage();
  }

  #resetMessage(): void {
    this.#left = 0;
    this.#headBytes = 0;
    this.#http10 = false;
    this.#keepAlive = false;
    this.#length = -1;
    this.#chunked = false;
    this.#te = false;
  }

  /** The body runs to the end of the connection (no length, not chunked). */
  get untilClose(): boolean {
    return this.#state === St.UNTIL_CLOSE;
  }

  /**
   * Feed buf[start, end). Returns NEED_MORE while the response is
   * incomplete, BAD on a malformed one, or the offset just past the end of
   * the response (bytes after it are not ours).
   */
  execute(buf: Buffer, start: number, end: number): number {
    let p = start;
    while (p < end) {
      const st = this.#state;
      if (st === St.BODY || st === St.CHUNK_DATA) {
        const n = Math.min(this.#left, end - p);
        p += n;
        this.#left -= n;
        if (this.#left === 0) this.#state = st === St.BODY ? St.DONE : St.CHUNK_END;
        continue;
      }
      if (st === St.UNTIL_CLOSE) return NEED_MORE;
      if (st === St.DONE) return p;
      // a line: status, header, chunk size, chunk end or trailer
      let lf = buf.indexOf(LF, p);
      if (lf >= end) lf = -1;
      const stop = lf === -1 ? end : lf;
      if (st === St.STATUS || st === St.HEADERS) {
        this.#headBytes += stop - p + 1;
        if (this.#headBytes > MAX_HEAD_BYTES) {
          this.#bad('HPE_HEADER_OVERFLOW', 'response head too large');
          return BAD;
        }
      } else if (this.#lineLen + stop - p > MAX_HEAD_BYTES) {
        this.#bad('HPE_INVALID_CHUNK_SIZE', 'chunk line too long');
        return BAD;
      }
      if (lf === -1) {
        this.#stash(buf, p, end);
        return NEED_MORE;
      }
      let ok: boolean;
      if (this.#lineLen > 0) {
        this.#stash(buf, p, lf);
        const line = this.#line!;
        const len = this.#lineLen;
        this.#lineLen = 0;
        ok = this.#onLine(line, 0, len > 0 && line[len - 1] === CR ? len - 1 : len);
      } else {
        ok = this.#onLine(buf, p, lf > p && buf[lf - 1] === CR ? lf - 1 : lf);
      }
      if (!ok) return BAD;
      p = lf + 1;
    }
    return this.#state === St.DONE ? p : NEED_MORE;
  }

  /** The peer closed the connection; true when that completes the response. */
  endOfInput(): boolean {
    if (this.#state !== St.UNTIL_CLOSE) return this.#state === St.DONE;
    this.#state = St.DONE;
    return true;
  }

  #stash(buf: Buffer, s: number, e: number): void {
    const need = this.#lineLen + (e - s);
    let line = this.#line;
    if (line === null || line.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(256, need * 2));
      if (line !== null) line.copy(grown, 0, 0, this.#lineLen);
      line = this.#line = grown;
    }
    buf.copy(line, this.#lineLen, s, e);
    this.#lineLen = need;
  }

  #bad(code: string, error: string): false {
    this.code = code;
    this.error = error;
    return false;
  }

  /** One line without its CRLF; false when malformed. */
  #onLine(b: Buffer, s: number, e: number): boolean {
    switch (this.#state) {
      case St.STATUS:
        return this.#statusLine(b, s, e);
      case St.HEADERS:
        return e === s ? this.#endOfHead() : this.#header(b, s, e);
      case St.CHUNK_SIZE:
        return this.#chunkSize(b, s, e);
      case St.CHUNK_END:
        if (e !== s) return this.#bad('HPE_STRICT', 'no CRLF after chunk data');
        this.#state = St.CHUNK_SIZE;
        return true;
      case St.TRAILERS:
        if (e === s) this.#state = St.DONE;
        return true;
      default:
        return true;
    }
  }

  // HTTP/1.1 200 OK
  #statusLine(b: Buffer, s: number, e: number): boolean {
    // `HTTP/1.` then the minor version digit
    if (e - s < 12 || b[s] !== 0x48 || b[s + 1] !== 0x54 || b[s + 2] !== 0x54 || b[s + 3] !== 0x50 || b[s + 4] !== SLASH || b[s + 5] !== DIGIT_1 || b[s + 6] !== DOT) {
      return this.#bad('HPE_INVALID_CONSTANT', 'not an HTTP/1.x status line');
    }
    const minor = b[s + 7]!;
    if ((minor !== DIGIT_0 && minor !== DIGIT_1) || b[s + 8] !== SP) return this.#bad('HPE_INVALID_VERSION', 'unsupported HTTP version');
    let status = 0;
    for (let i = s + 9; i < s + 12; i++) {
      const d = b[i]! - DIGIT_0;
      if (d < 0 || d > 9) return this.#bad('HPE_INVALID_STATUS', 'invalid status code');
      status = status * 10 + d;
    }
    if (status < 100 || (e > s + 12 && b[s + 12] !== SP)) return this.#bad('HPE_INVALID_STATUS', 'invalid status code');
    this.status = status;
    this.#http10 = minor === DIGIT_0;
    this.#state = St.HEADERS;
    return true;
  }

  #header(b: Buffer, s: number, e: number): boolean {
    const c = b[s]! | CASE_BIT;
    // only Content-Length, Connection and Transfer-Encoding matter
    if (c !== 0x63 /* c */ && c !== 0x74 /* t */) return true;
    const colon = b.indexOf(COLON, s);
    if (colon === -1 || colon >= e) return true;
    let vs = colon + 1;
    let ve = e;
    while (vs < ve && isOws(b[vs]!)) vs++;
    while (ve > vs && isOws(b[ve - 1]!)) ve--;
    if (nameIs(b, s, colon, 'content-length')) {
      if (vs === ve || ve - vs > 15) return this.#bad('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
      let n = 0;
      for (let i = vs; i < ve; i++) {
        const d = b[i]! - DIGIT_0;
        if (d < 0 || d > 9) return this.#bad('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
        n = n * 10 + d;
      }
      if (this.#length !== -1 && this.#length !== n) return this.#bad('HPE_UNEXPECTED_CONTENT_LENGTH', 'conflicting Content-Length headers');
      this.#length = n;
    } else if (nameIs(b, s, colon, 'transfer-encoding')) {
      // chunked only when it is the last coding
      this.#te = true;
      let ts = ve;
      while (ts > vs && b[ts - 1] !== 0x2c /* , */) ts--;
      while (ts < ve && isOws(b[ts]!)) ts++;
      this.#chunked = nameIs(b, ts, ve, 'chunked');
    } else if (nameIs(b, s, colon, 'connection')) {
      let i = vs;
      while (i < ve) {
        let j = b.indexOf(0x2c, i);
        if (j === -1 || j > ve) j = ve;
        let ts = i;
        let te = j;
        while (ts < te && isOws(b[ts]!)) ts++;
        while (te > ts && isOws(b[te - 1]!)) te--;
        if (nameIs(b, ts, te, 'close')) this.close = true;
        else if (nameIs(b, ts, te, 'keep-alive')) this.#keepAlive = true;
        i = j + 1;
      }
    }
    return true;
  }

  #endOfHead(): boolean {
    const status = this.status;
    if (status < 200) {
      // 101 would hand the connection to another protocol: we never ask for it
      if (status === 101) return this.#bad('HPE_UNEXPECTED_UPGRADE', 'unexpected 101 Switching Protocols');
      // interim response (100 Continue, 103 Early Hints): the real one follows
      const close = this.close;
      this.#resetMessage();
      this.close = close;
      this.#state = St.STATUS;
      return true;
    }
    if (this.#http10 && !this.#keepAlive) this.close = true;
    if (status === 204 || status === 304) {
      this.#state = St.DONE;
    } else if (this.#te) {
      // RFC 9112 6.3: Transfer-Encoding overrides Content-Length, and a
      // response that had both must not be followed by another on this connection
      if (this.#length !== -1) this.close = true;
      if (this.#chunked) this.#state = St.CHUNK_SIZE;
      else {
        this.close = true;
        this.#state = St.UNTIL_CLOSE;
      }
    } else if (this.#length > 0) {
      this.#left = this.#length;
      this.#state = St.BODY;
    } else if (this.#length === 0) {
      this.#state = St.DONE;
    } else {
      this.close = true;
      this.#state = St.UNTIL_CLOSE;
    }
    return true;
  }

  #chunkSize(b: Buffer, s: number, e: number): boolean {
    let n = 0;
    let i = s;
    for (; i < e; i++) {
      const c = b[i]!;
      let d: number;
      if (c >= DIGIT_0 && c <= DIGIT_9) d = c - DIGIT_0;
      else if ((c | CASE_BIT) >= LOWER_A && (c | CASE_BIT) <= LOWER_F) d = (c | CASE_BIT) - LOWER_A + 10;
      else break;
      n = n * 16 + d;
      if (i - s >= 12) return this.#bad('HPE_INVALID_CHUNK_SIZE', 'chunk size too large');
    }
    // a chunk extension or whitespace may follow the size
    if (i === s || (i < e && b[i] !== 0x3b /* ; */ && !isOws(b[i]!))) return this.#bad('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
    if (n === 0) this.#state = St.TRAILERS;
    else {
      this.#left = n;
      this.#state = St.CHUNK_DATA;
    }
    return true;
  }
}
