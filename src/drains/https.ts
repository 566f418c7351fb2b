// HTTPS and HTTP drains (SPEC 6.3): one POST per batch of Logplex frames over
// a kept-alive connection, exact headers, connect and response timeouts,
// certificates verified unless the URL says #insecure, private addresses
// refused at connect time.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Drain, type Batch, type DrainOptions } from './drain.js';
import { logplexFrames, type FrameEncoder } from './frame.js';
import { checkLiteral, guardedLookup } from './guard.js';
import { errorOutcome, type Outcome } from './retry.js';
import { DrainKind } from './url.js';

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

function timeoutError(what: string, ms: number): Error {
  return Object.assign(new Error(`${what} timeout after ${ms} ms`), { code: 'ETIMEDOUT' });
}

export class HttpsDrain extends Drain {
  protected readonly encoder: FrameEncoder = logplexFrames;
  readonly #agent: HttpAgent;
  readonly #tls: boolean;
  #req: ClientRequest | null = null;

  constructor(opts: DrainOptions) {
    super(opts);
    const t = opts.target;
    if (t.kind !== DrainKind.HTTPS && t.kind !== DrainKind.HTTP) throw new TypeError(`HttpsDrain cannot deliver to ${t.kind}`);
    this.#tls = t.kind === DrainKind.HTTPS;
    const lookup = guardedLookup(opts.allowPrivate, opts.lookup);
    // One connection per drain, kept alive between batches.
    const common = { keepAlive: true, keepAliveMsecs: 30_000, maxSockets: 1, maxFreeSockets: 1, scheduling: 'lifo' as const, lookup };
    this.#agent = this.#tls
      ? new HttpsAgent({ ...common, rejectUnauthorized: !t.insecure, ...(opts.ca ? { ca: opts.ca } : {}) })
      : new HttpAgent(common);
  }

  protected deliver(batch: Batch): Promise<Outcome> {
    const t = this.target;
    const refused = checkLiteral(t.host, this.opts.allowPrivate);
    if (refused) return Promise.resolve(errorOutcome(refused));
    return new Promise<Outcome>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      let settled = false;
      const finish = (o: Outcome): void => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        this.#req = null;
        resolve(o);
      };
      const headers: Record<string, string | number> = {
        'Content-Type': CONTENT_TYPE,
        'Content-Length': batch.body.length,
        'Logplex-Msg-Count': batch.msgCount,
        'Logplex-Frame-Id': batch.frameId,
        'Logplex-Drain-Token': this.token,
        'User-Agent': USER_AGENT,
      };
      if (t.authorization !== null) headers['Authorization'] = t.authorization;
      let req: ClientRequest;
      try {
        req = (this.#tls ? httpsRequest : httpRequest)({
          agent: this.#agent,
          method: 'POST',
          host: t.host,
          port: t.port,
          path: t.path,
          headers,
        }, (res: IncomingMessage) => {
          // the body is not used; read it to the end so the connection is reused
          res.on('error', (err) => finish(errorOutcome(err)));
          res.on('end', () => finish({ kind: 'status', status: res.statusCode ?? 0 }));
          res.on('close', () => finish({ kind: 'error', code: 'ECONNRESET', message: 'connection closed before the response ended' }));
          res.resume();
        });
      } catch (err) {
        finish(errorOutcome(err));
        return;
      }
      this.#req = req;
      const responseTimeout = (): void => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => req.destroy(timeoutError('response', this.opts.responseTimeoutMs)), this.opts.responseTimeoutMs);
      };
      req.on('socket', (sock: Socket) => {
        if (!sock.connecting) {
          // reused keep-alive connection
          responseTimeout();
          return;
        }
        this.setConnecting();
        timer = setTimeout(() => req.destroy(timeoutError('connect', this.opts.connectTimeoutMs)), this.opts.connectTimeoutMs);
        sock.once(this.#tls ? 'secureConnect' : 'connect', responseTimeout);
      });
      req.on('error', (err) => finish(errorOutcome(err)));
      req.end(batch.body);
    });
  }

  protected release(): void {
    this.#req?.destroy();
    this.#req = null;
    this.#agent.destroy();
  }
}
