// One POST /logs at a time to a logplane (or any Logplex HTTP input) over a
// kept-alive connection, and what its outcome means: delivered, retry (the
// server may take it later), or drop (it never will). The same
// classification as the drains' (SPEC 6.3): 2xx delivered; 408, 429, 5xx,
// timeouts and network errors retried; any other 4xx dropped.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export const Outcome = { OK: 'ok', RETRY: 'retry', DROP: 'drop' } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

export interface PostResult {
  outcome: Outcome;
  /** HTTP status, when the server answered. */
  status?: number;
  /** Network error code or reason, when it did not. */
  error?: string;
}

export interface SenderOptions {
  /** Base URL of the server: `<url>/logs` is posted to. */
  url: string;
  /** No answer within this long: the attempt failed (retried). */
  timeoutMs: number;
  userAgent: string;
}

export class HttpSender {
  readonly #target: URL;
  readonly #agent: HttpAgent;
  readonly #https: boolean;
  readonly #opts: SenderOptions;

  constructor(opts: SenderOptions) {
    this.#opts = opts;
    const base = new URL(opts.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new RangeError(`url: must be http:// or https:// (got ${base.protocol})`);
    this.#target = new URL(`${base.pathname.replace(/\/+$/, '')}/logs`, base);
    this.#https = base.protocol === 'https:';
    this.#agent = this.#https ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  }

  post(body: Buffer, count: number, token: string, frameId: string): Promise<PostResult> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: PostResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const request = this.#https ? httpsRequest : httpRequest;
      const req = request(this.#target, {
        method: 'POST',
        agent: this.#agent,
        headers: {
          'content-type': 'application/logplex-1',
          'content-length': body.length,
          'logplex-msg-count': count,
          'logplex-frame-id': frameId,
          'user-agent': this.#opts.userAgent,
          authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}`,
        },
      });
      const timer = setTimeout(() => {
        req.destroy(new Error('ETIMEDOUT'));
      }, this.#opts.timeoutMs);
      req.on('response', (res: IncomingMessage) => {
        res.resume();
        res.on('end', () => done({ outcome: classify(res.statusCode ?? 0), status: res.statusCode ?? 0 }));
        res.on('error', (err: NodeJS.ErrnoException) => done({ outcome: Outcome.RETRY, error: err.code ?? err.message }));
      });
      req.on('error', (err: NodeJS.ErrnoException) => done({ outcome: Outcome.RETRY, error: err.code ?? err.message }));
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** What an answer means for the batch. */
export function classify(status: number): Outcome {
  if (status >= 200 && status < 300) return Outcome.OK;
  if (status === 408 || status === 429 || status >= 500) return Outcome.RETRY;
  return Outcome.DROP;
}
