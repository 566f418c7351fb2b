// A lean HTTP/1.1 client for HTTP(S) drains (SPEC 6.3). One kept-alive
// connection per drain and one request at a time, as the drain sends them:
// the drain hands over the whole request (head and body) as one Buffer, the
// client writes it in one go and reads the answer through a static buffer
// (the socket's `onread`, no Readable stream) with a small incremental
// parser that keeps the status and skips the body. Node's http client did
// the same job with a ClientRequest, Agent bookkeeping, header validation,
// an IncomingMessage stream, listeners and timers per request: the largest
// drain cost on the main thread at thousands of POSTs per second.
//
// Kept from that client: connect timeout (TCP and TLS handshake) and
// response timeout, certificate verification against the system store or
// `ca`, SNI for names, the guarded `lookup`, TCP keep-alive probes, TLS
// session reuse, idle connections not holding the process open.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Lookup } from './guard.js';
import { errorOutcome, type Outcome } from './retry.js';

/** Bytes a status line plus headers may take (Node's limit is 16 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** TCP keep-alive probe delay on drain connections (as the old Agent's keepAliveMsecs). */
const TCP_KEEPALIVE_MS = 30_000;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

const enum St {
  STATUS,
  HEADERS,
  BODY,
  CHUNK_SIZE,
  CHUNK_DATA,
  CHUNK_END,
  TRAILERS,
  UNTIL_CLOSE,
  DONE,
}

/** Result of ResponseParser.execute: still reading. */
export const NEED_MORE = -1;
/** Result of ResponseParser.execute: malformed response (see .error). */
export const BAD = -2;

/** Case-insensitive compare of bytes [s, e) with a lowercase ASCII name. */
function nameIs(b: Buffer, s: number, e: number, name: string): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) if ((b[s + i]! | 0x20) !== name.charCodeAt(i)) return false;
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

  #state = St.STATUS;
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
    if (e - s < 12 || b[s] !== 0x48 || b[s + 1] !== 0x54 || b[s + 2] !== 0x54 || b[s + 3] !== 0x50 || b[s + 4] !== 0x2f || b[s + 5] !== 0x31 || b[s + 6] !== 0x2e) {
      return this.#bad('HPE_INVALID_CONSTANT', 'not an HTTP/1.x status line');
    }
    const minor = b[s + 7]!;
    if ((minor !== 0x30 && minor !== 0x31) || b[s + 8] !== SP) return this.#bad('HPE_INVALID_VERSION', 'unsupported HTTP version');
    let status = 0;
    for (let i = s + 9; i < s + 12; i++) {
      const d = b[i]! - 0x30;
      if (d < 0 || d > 9) return this.#bad('HPE_INVALID_STATUS', 'invalid status code');
      status = status * 10 + d;
    }
    if (status < 100 || (e > s + 12 && b[s + 12] !== SP)) return this.#bad('HPE_INVALID_STATUS', 'invalid status code');
    this.status = status;
    this.#http10 = minor === 0x30;
    this.#state = St.HEADERS;
    return true;
  }

  #header(b: Buffer, s: number, e: number): boolean {
    const c = b[s]! | 0x20;
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
        const d = b[i]! - 0x30;
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
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x61 + 10;
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

export interface Http1Options {
  host: string;
  port: number;
  tls: boolean;
  /** TLS: verify the peer certificate (false for #insecure). */
  rejectUnauthorized: boolean;
  /** TLS: the CA certificates to trust instead of the system store (tests). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Name resolution (the private-address guard). */
  lookup?: Lookup;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  /** A new connection is being opened for a request. */
  onConnecting?: () => void;
}

export type Done = (o: Outcome) => void;

function timeoutOutcome(what: string, ms: number): Outcome {
  return { kind: 'error', code: 'ETIMEDOUT', message: `${what} timeout after ${ms} ms` };
}
const CLOSED_EARLY: Outcome = { kind: 'error', code: 'ECONNRESET', message: 'connection closed before the response ended' };
const CANCELLED: Outcome = { kind: 'error', code: 'ECANCELED', message: 'drain closed' };

/**
 * Responses are read into this one buffer by every drain connection, so idle
 * drains hold no read buffers. Safe because a read is parsed to the end
 * before anyone is called back (#onRead calls done last), and the parser
 * copies only a line split across reads.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(16 * 1024);

/** One connection to one drain endpoint, one request at a time. */
export class Http1Client {
  readonly #opts: Http1Options;
  readonly #parser = new ResponseParser();
  #sock: Socket | null = null;
  /** Connected (and, for TLS, the handshake done). */
  #ready = false;
  /** The request waiting for the connection to open. */
  #wire: Buffer | null = null;
  /** The request in flight's callback. */
  #done: Done | null = null;
  /** The request was written; its response is awaited. */
  #responding = false;
  #connectTimer: NodeJS.Timeout | null = null;
  /** Re-armed (refresh) for each request; firing with no request in flight is a no-op. */
  #responseTimer: NodeJS.Timeout | null = null;
  #session: Buffer | undefined;
  #closed = false;

  constructor(opts: Http1Options) {
    this.#opts = opts;
  }

  /** A connection is open or opening. */
  get connected(): boolean {
    return this.#sock !== null;
  }

  /**
   * Send one request (head and body in wire) and call done once with its
   * outcome: the response status once the response has been read to its
   * end, or a network error / timeout. done is never called from within
   * send(). One request at a time.
   */
  send(wire: Buffer, done: Done): void {
    if (this.#done !== null) throw new Error('Http1Client: a request is already in flight');
    if (this.#closed) {
      queueMicrotask(() => done(CANCELLED));
      return;
    }
    this.#done = done;
    this.#parser.reset();
    const sock = this.#sock;
    if (sock !== null && this.#ready) {
      sock.ref();
      this.#write(sock, wire);
      return;
    }
    this.#wire = wire;
    if (sock === null) this.#connect();
  }

  /** Close the connection; a request in flight ends with ECANCELED. */
  close(): void {
    this.#closed = true;
    if (this.#responseTimer !== null) clearTimeout(this.#responseTimer);
    this.#responseTimer = null;
    this.#fail(CANCELLED);
  }

  #write(sock: Socket, wire: Buffer): void {
    sock.write(wire);
    this.#responding = true;
    const t = this.#responseTimer;
    if (t === null) this.#responseTimer = setTimeout(this.#onResponseTimeout, this.#opts.responseTimeoutMs).unref();
    else t.refresh();
  }

  readonly #onResponseTimeout = (): void => {
    // refreshed when the request in flight was written: its time is up
    if (this.#responding) this.#fail(timeoutOutcome('response', this.#opts.responseTimeoutMs));
  };

  #connect(): void {
    const o = this.#opts;
    o.onConnecting?.();
    let sock: Socket;
    const onread = { buffer: READ_BUFFER, callback: (n: number): boolean => this.#onRead(sock, n) };
    try {
      if (o.tls) {
        const options: ConnectionOptions & { onread: typeof onread } = {
          host: o.host,
          port: o.port,
          rejectUnauthorized: o.rejectUnauthorized,
          onread,
          ...(isIP(o.host) === 0 ? { servername: o.host } : {}),
          ...(o.lookup ? { lookup: o.lookup } : {}),
          ...(o.ca ? { ca: o.ca } : {}),
          ...(this.#session ? { session: this.#session } : {}),
        };
        const tls: TLSSocket = tlsConnect(options);
        tls.on('session', (session: Buffer) => {
          this.#session = session;
        });
        sock = tls;
      } else {
        sock = netConnect({ host: o.host, port: o.port, onread, ...(o.lookup ? { lookup: o.lookup } : {}) });
      }
    } catch (err) {
      const outcome = errorOutcome(err);
      queueMicrotask(() => this.#fail(outcome));
      return;
    }
    this.#sock = sock;
    this.#ready = false;
    sock.setNoDelay(true);
    sock.setKeepAlive(true, TCP_KEEPALIVE_MS);
    this.#connectTimer = setTimeout(() => {
      if (sock === this.#sock) this.#fail(timeoutOutcome('connect', o.connectTimeoutMs));
    }, o.connectTimeoutMs);
    sock.once(o.tls ? 'secureConnect' : 'connect', () => {
      if (sock !== this.#sock) return;
      this.#ready = true;
      this.#clearConnectTimer();
      const wire = this.#wire;
      this.#wire = null;
      if (wire !== null && this.#done !== null) this.#write(sock, wire);
      else sock.unref();
    });
    sock.on('error', (err: Error) => {
      if (sock !== this.#sock) return;
      // a failed resumption must not be tried again
      if (o.tls) this.#session = undefined;
      this.#fail(errorOutcome(err));
    });
    const onEnd = (): void => {
      if (sock !== this.#sock) return;
      if (this.#responding && this.#parser.endOfInput()) this.#complete(sock, false);
      else this.#fail(CLOSED_EARLY);
    };
    sock.on('end', onEnd);
    sock.on('close', onEnd);
  }

  /** Bytes read into READ_BUFFER; returning true keeps reading. */
  #onRead(sock: Socket, n: number): boolean {
    if (sock !== this.#sock) return true;
    if (!this.#responding) {
      // nothing asked: the peer is not speaking HTTP to us; start afresh next time
      this.#fail(CLOSED_EARLY);
      return true;
    }
    const p = this.#parser;
    const r = p.execute(READ_BUFFER, 0, n);
    if (r === NEED_MORE) return true;
    if (r === BAD) {
      this.#fail({ kind: 'error', code: p.code, message: `invalid HTTP response: ${p.error}` });
      return true;
    }
    // bytes after the response were not asked for: do not reuse the connection
    this.#complete(sock, !p.close && r === n);
    return true;
  }

  /** The response was read to its end. */
  #complete(sock: Socket, reuse: boolean): void {
    const done = this.#done!;
    this.#done = null;
    this.#responding = false;
    if (reuse) sock.unref();
    else this.#drop();
    done({ kind: 'status', status: this.#parser.status });
  }

  /** End the request in flight (if any) with o and drop the connection. */
  #fail(o: Outcome): void {
    this.#drop();
    const done = this.#done;
    if (done === null) return;
    this.#done = null;
    this.#responding = false;
    done(o);
  }

  #drop(): void {
    this.#clearConnectTimer();
    const sock = this.#sock;
    this.#sock = null;
    this.#ready = false;
    this.#wire = null;
    sock?.destroy();
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
  }
}
