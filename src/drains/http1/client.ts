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
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Lookup } from '../guard.js';
import { errorOutcome, type Outcome } from '../retry.js';
import { tlsServername } from '../servername.js';
import { BAD, NEED_MORE, ResponseParser } from './parser.js';

/** TCP keep-alive probe delay on drain connections (as the old Agent's keepAliveMsecs). */
const TCP_KEEPALIVE_MS = 30_000;

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
          ...tlsServername(o.host),
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
