// HTTPS and HTTP drains (SPEC 6.3): one POST per batch of Logplex frames over
// a kept-alive connection, exact headers, connect and response timeouts,
// certificates verified unless the URL says #insecure, private addresses
// refused at connect time. The request (head and body) is built once per
// batch by Drain#build and sent as is on every attempt by the lean client
// in http1/client.ts.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Drain } from './drain.js';
import type { Batch, DrainOptions } from './options.js';
import { logplexFrames, type FrameEncoder } from './frame.js';
import { Http1Client } from './http1/client.js';
import { checkLiteral, guardedLookup } from './guard.js';
import { errorOutcome, type Outcome } from './retry.js';
import { DrainKind, type DrainTarget } from './url.js';

/** Our version, from the nearest package.json named logplane. */
function findVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'logplane' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here; go up
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

export const VERSION = findVersion();
/** `User-Agent` of every HTTP drain request. */
export const USER_AGENT = `Logplex/logplane-${VERSION}`;
export const CONTENT_TYPE = 'application/logplex-1';

/**
 * The request head of a batch (SPEC 6.3, exact, in this order): the
 * constant parts are built once per drain, so a batch adds only its
 * Content-Length, Logplex-Msg-Count and Logplex-Frame-Id.
 */
export function requestHead(t: DrainTarget, token: string): { start: string; end: string } {
  const defaultPort = t.kind === DrainKind.HTTPS ? 443 : 80;
  let host = t.host.includes(':') ? `[${t.host}]` : t.host;
  if (t.port !== defaultPort) host += `:${t.port}`;
  return {
    start: `POST ${t.path} HTTP/1.1\r\nContent-Type: ${CONTENT_TYPE}\r\nContent-Length: `,
    end:
      `Logplex-Drain-Token: ${token}\r\nUser-Agent: ${USER_AGENT}\r\n` +
      (t.authorization !== null ? `Authorization: ${t.authorization}\r\n` : '') +
      `Host: ${host}\r\nConnection: keep-alive\r\n\r\n`,
  };
}

export class HttpsDrain extends Drain {
  protected readonly encoder: FrameEncoder = logplexFrames;
  readonly #client: Http1Client;
  readonly #headStart: string;
  readonly #headEnd: string;
  /** An IP literal the guard refuses (names are checked at every connect by the lookup). */
  readonly #refused: Outcome | null;

  constructor(opts: DrainOptions) {
    super(opts);
    const t = opts.target;
    if (t.kind !== DrainKind.HTTPS && t.kind !== DrainKind.HTTP) throw new TypeError(`HttpsDrain cannot deliver to ${t.kind}`);
    const head = requestHead(t, this.token);
    this.#headStart = head.start;
    this.#headEnd = head.end;
    const refused = checkLiteral(t.host, opts.allowPrivate);
    this.#refused = refused ? errorOutcome(refused) : null;
    // one connection per drain, kept alive between batches
    this.#client = new Http1Client({
      host: t.host,
      port: t.port,
      tls: t.kind === DrainKind.HTTPS,
      rejectUnauthorized: !t.insecure,
      ...(opts.ca ? { ca: opts.ca } : {}),
      lookup: guardedLookup(opts.allowPrivate, opts.lookup),
      connectTimeoutMs: opts.connectTimeoutMs,
      responseTimeoutMs: opts.responseTimeoutMs,
      onConnecting: () => this.setConnecting(),
    });
  }

  protected override head(bodyBytes: number, msgCount: number, frameId: string): string {
    return `${this.#headStart}${bodyBytes}\r\nLogplex-Msg-Count: ${msgCount}\r\nLogplex-Frame-Id: ${frameId}\r\n${this.#headEnd}`;
  }

  protected override send(batch: Batch, done: (o: Outcome) => void): void {
    const refused = this.#refused;
    if (refused !== null) {
      queueMicrotask(() => done(refused));
      return;
    }
    this.#client.send(batch.wire, done);
  }

  protected deliver(batch: Batch): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => this.send(batch, resolve));
  }

  protected release(): void {
    this.#client.close();
  }
}
