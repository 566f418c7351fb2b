// Syslog drains over TCP and TLS (SPEC 6.4): octet-counted
// `LEN <PRI>1 TS d.<token> SOURCE DYNO - - MSG\n` frames on one long-lived
// connection. A batch is delivered once the socket has taken it; a broken
// connection is re-opened after 2^failures units (at most reconnectMaxMs) and
// the batch is sent again. On a TLS certificate failure the app gets one
// `Error L14 (certificate validation)` line per failure episode.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { lineFrom, rfc3339 } from '../line.js';
import { Drain } from './drain.js';
import type { Batch, DrainOptions } from './options.js';
import { syslogDrainEncoder, type FrameEncoder } from './frame.js';
import { checkLiteral, guardedLookup, type Lookup } from './guard.js';
import { errorOutcome, reconnectMs, type Outcome } from './retry.js';
import { tlsServername } from './servername.js';
import { DrainKind } from './url.js';

/** OpenSSL / Node verification errors that mean "the peer certificate is not acceptable". */
const CERT_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_CRL', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE', 'CRL_SIGNATURE_FAILURE', 'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID', 'CRL_HAS_EXPIRED', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED',
  'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function isCertificateError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && CERT_ERRORS.has(code);
}

/** `Error L14 (certificate validation)` as a platform line (source heroku, dyno logplex). */
export function certificateLine(reason: string, uri: string, nowMs: number): Buffer {
  const clean = (s: string) => s.replace(/["\r\n]/g, "'");
  return lineFrom({
    pri: 172,
    ts: rfc3339(nowMs),
    source: 'heroku',
    dyno: 'logplex',
    msg: `Error L14 (certificate validation): error="${clean(reason)}" uri="${clean(uri)}"`,
    receivedMs: nowMs,
  });
}

function timeoutError(what: string, ms: number): Error {
  return Object.assign(new Error(`${what} timeout after ${ms} ms`), { code: 'ETIMEDOUT' });
}

abstract class SyslogDrain extends Drain {
  protected readonly encoder: FrameEncoder;
  protected readonly lookup: Lookup;
  #sock: Socket | null = null;
  /** Consecutive failed attempts (connect or write); reset by a delivered batch. */
  #failures = 0;
  /** Settles the attempt in flight (also called when the socket closes under it). */
  #pending: ((o: Outcome) => void) | null = null;

  constructor(opts: DrainOptions) {
    super(opts);
    this.encoder = syslogDrainEncoder(opts.token);
    this.lookup = guardedLookup(opts.allowPrivate, opts.lookup);
  }

  /** Start connecting; returns the socket and the event that means "ready to write". */
  protected abstract open(): { sock: Socket; ready: 'connect' | 'secureConnect' };
  /** A connect attempt failed with this error (TLS: L14 on certificate errors). */
  protected onConnectError(_err: Error): void {}
  protected onConnected(): void {}

  get failures(): number {
    return this.#failures;
  }
  /** A connection is open (or being opened). */
  get connected(): boolean {
    return this.#sock !== null;
  }

  protected override retryDelay(_attempt: number): number {
    return reconnectMs(this.#failures, this.opts.reconnectBaseMs, this.opts.reconnectMaxMs);
  }
  protected override onDelivered(): void {
    this.#failures = 0;
  }

  protected deliver(batch: Batch): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      let settled = false;
      const finish = (o: Outcome): void => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        this.#pending = null;
        if (o.kind !== 'ok') {
          this.#failures++;
          const s = this.#sock;
          this.#sock = null;
          s?.destroy();
        }
        resolve(o);
      };
      this.#pending = finish;
      const write = (sock: Socket): void => {
        timer = setTimeout(() => finish(errorOutcome(timeoutError('write', this.opts.responseTimeoutMs))), this.opts.responseTimeoutMs);
        sock.write(batch.body, (err) => finish(err ? errorOutcome(err) : { kind: 'ok' }));
      };
      if (this.#sock !== null) {
        write(this.#sock);
        return;
      }
      const refused = checkLiteral(this.target.host, this.opts.allowPrivate);
      if (refused) {
        finish(errorOutcome(refused));
        return;
      }
      this.setConnecting();
      let opened: { sock: Socket; ready: 'connect' | 'secureConnect' };
      try {
        opened = this.open();
      } catch (err) {
        finish(errorOutcome(err));
        return;
      }
      const { sock, ready } = opened;
      this.#sock = sock;
      let connected = false;
      timer = setTimeout(() => finish(errorOutcome(timeoutError('connect', this.opts.connectTimeoutMs))), this.opts.connectTimeoutMs);
      sock.on('error', (err) => {
        if (!connected) this.onConnectError(err);
        if (this.#sock === sock) this.#sock = null;
        if (this.#pending === finish) finish(errorOutcome(err));
      });
      sock.on('close', () => {
        if (this.#sock === sock) this.#sock = null;
        if (this.#pending === finish) finish({ kind: 'error', code: 'ECONNRESET', message: 'connection closed' });
      });
      // the peer has nothing to say; read and discard so it cannot stall us
      sock.on('data', () => {});
      sock.once(ready, () => {
        connected = true;
        if (timer) clearTimeout(timer);
        sock.setKeepAlive(true, 30_000);
        this.onConnected();
        if (this.#pending === finish) write(sock);
      });
    });
  }

  protected release(): void {
    const s = this.#sock;
    this.#sock = null;
    s?.destroy();
    this.#pending?.({ kind: 'error', code: 'ECANCELED', message: 'drain closed' });
  }
}

export class SyslogTcpDrain extends SyslogDrain {
  constructor(opts: DrainOptions) {
    if (opts.target.kind !== DrainKind.SYSLOG) throw new TypeError(`SyslogTcpDrain cannot deliver to ${opts.target.kind}`);
    super(opts);
  }
  protected open(): { sock: Socket; ready: 'connect' } {
    const t = this.target;
    const sock = netConnect({ host: t.host, port: t.port, lookup: this.lookup as never, noDelay: true });
    return { sock, ready: 'connect' };
  }
}

export class SyslogTlsDrain extends SyslogDrain {
  /** One L14 line per failure episode (until the next good connection). */
  #l14Sent = false;

  constructor(opts: DrainOptions) {
    if (opts.target.kind !== DrainKind.SYSLOG_TLS) throw new TypeError(`SyslogTlsDrain cannot deliver to ${opts.target.kind}`);
    super(opts);
  }
  protected open(): { sock: Socket; ready: 'secureConnect' } {
    const t = this.target;
    const sock = tlsConnect({
      host: t.host,
      port: t.port,
      ...tlsServername(t.host),
      rejectUnauthorized: !t.insecure,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
      lookup: this.lookup as never,
    });
    sock.setNoDelay(true);
    return { sock, ready: 'secureConnect' };
  }
  protected override onConnectError(err: Error): void {
    if (this.#l14Sent || !isCertificateError(err)) return;
    this.#l14Sent = true;
    this.log?.warn({ at: 'drain.certificate_failed', drain: this.id, error: err.message }, 'syslog TLS drain certificate validation failed');
    this.emitLine(certificateLine(err.message, this.target.display, this.clock.now()));
  }
  protected override onConnected(): void {
    this.#l14Sent = false;
  }
}
