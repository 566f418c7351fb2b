// Helpers shared by the tail and session tests: a server with one app, line
// routing, session creation, and collecting clients for each transport.
import { request } from 'node:http';
import { after } from 'node:test';
import WebSocket from 'ws';
import type { App } from '../../src/apps.js';
import { lineFrom } from '../../src/line.js';
import { route } from '../../src/router.js';
import type { TailService } from '../../src/tail/service.js';
import { api } from './api.js';
import { startServer, type TestServer } from './server.js';

export interface Setup {
  ts: TestServer;
  app: App;
  service: TailService;
}

export async function setup(env: Record<string, string> = {}, appId = 'myapp'): Promise<Setup> {
  const ts = await startServer(env);
  const { app } = await ts.server.ctx.registry.putApp(appId, ['app', 'heroku']);
  return { ts, app, service: ts.server.tails };
}

/** Deterministic test line number i. */
export function line(i: number, over: Partial<{ source: string; dyno: string; msg: string | Buffer; ts: string; pri: number }> = {}): Buffer {
  return lineFrom({
    pri: over.pri ?? 190,
    ts: over.ts ?? `2024-05-01T12:00:${String(i % 60).padStart(2, '0')}.000000+00:00`,
    source: over.source ?? 'app',
    dyno: over.dyno ?? 'web.1',
    msg: over.msg ?? `line ${i}`,
    receivedMs: Date.UTC(2024, 4, 1, 12, 0, 0) + i,
  });
}

/** Route lines [from, to) built by make (default: line(i)). */
export function push(app: App, from: number, to: number, make: (i: number) => Buffer = (i) => line(i)): void {
  for (let i = from; i < to; i++) route(app, make(i));
}


/** POST /v3/sessions and return the session URL. */
export async function session(ts: TestServer, body: Record<string, unknown>): Promise<string> {
  const r = await api(ts, 'POST', '/v3/sessions', body);
  if (r.status !== 201) throw new Error(`session: ${r.status} ${r.text}`);
  return r.json.url as string;
}


/** A WebSocket client that keeps every text frame. */
/**
 * Every client still open when the test file ends is closed then, whatever
 * happened (a failed assertion skips a test's own close calls; an open
 * socket would keep the file's process alive until the runner's timeout).
 */
const open = new Set<{ release(): void }>();
after(() => {
  for (const c of open) c.release();
  open.clear();
});

export class WsClient {
  readonly ws: WebSocket;
  readonly frames: string[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  status: number | null = null;

  constructor(url: string, opts: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false, ...opts });
    open.add(this);
    this.ws.once('close', () => open.delete(this));
    this.ws.on('message', (d: Buffer, isBinary: boolean) => {
      if (isBinary) throw new Error('binary frame from the server');
      this.frames.push(d.toString('utf8'));
    });
    this.ws.on('unexpected-response', (_req, res) => {
      this.status = res.statusCode ?? null;
      this.ws.terminate();
    });
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('close', () => reject(new Error(`closed before open (status ${this.status})`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Drop the connection now (no close handshake). */
  release(): void {
    this.ws.terminate();
  }

  json(): any[] {
    return this.frames.map((f) => JSON.parse(f));
  }
  /** Every line object received, in order. */
  lines(): any[] {
    return this.json().flatMap((m) => (m.type === 'lines' ? m.lines : []));
  }
}

/** A streaming HTTP GET (text or SSE) that keeps the body bytes. */
export class HttpStream {
  readonly chunks: Buffer[] = [];
  status = 0;
  headers: Record<string, string | string[] | undefined> = {};
  readonly done: Promise<void>;
  readonly #req;

  constructor(url: string, headers: Record<string, string> = {}) {
    let resolve!: () => void;
    this.done = new Promise((r) => (resolve = r));
    this.#req = request(url, { headers }, (res) => {
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      res.on('data', (c: Buffer) => this.chunks.push(c));
      res.on('end', resolve);
      res.on('close', resolve);
      res.on('error', resolve);
    });
    this.#req.on('error', (err) => {
      // a request that failed before any answer is not an empty stream: reading it throws
      if (this.status === 0 && !this.#closing) this.error = err;
      resolve();
    });
    this.#req.end();
    open.add(this);
    void this.done.then(() => open.delete(this));
  }

  release(): void {
    this.#req.destroy();
  }

  /** Why the request failed before the server answered (then body and text throw). */
  error: Error | null = null;
  #closing = false;

  get body(): Buffer {
    if (this.error) throw new Error(`tail request failed: ${this.error.message}`);
    return Buffer.concat(this.chunks);
  }
  get text(): string {
    return this.body.toString('utf8');
  }
  close(): void {
    this.#closing = true;
    this.#req.destroy();
  }
}

/** The text-format line for line(i)-style fields. */
export function textOf(i: number, over: { source?: string; dyno?: string; msg?: string; ts?: string } = {}): string {
  const ts = over.ts ?? `2024-05-01T12:00:${String(i % 60).padStart(2, '0')}.000000+00:00`;
  return `${ts} ${over.source ?? 'app'}[${over.dyno ?? 'web.1'}]: ${over.msg ?? `line ${i}`}`;
}

/** What a WebSocket client saw, in order: line messages, and `gap` for each gap frame (frames kept in gaps). */
export function seen(ws: WsClient): { items: string[]; gaps: any[]; seqOf: Map<string, number> } {
  const items: string[] = [];
  const gaps: any[] = [];
  const seqOf = new Map<string, number>();
  for (const f of ws.json()) {
    if (f.type === 'lines') {
      for (const l of f.lines) {
        items.push(l.msg);
        seqOf.set(l.msg, l.seq);
      }
    } else if (f.type === 'gap') {
      items.push('gap');
      gaps.push(f);
    }
  }
  return { items, gaps, seqOf };
}
