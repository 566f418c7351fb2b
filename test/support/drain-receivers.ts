// Real drain endpoints on 127.0.0.1 for drain tests: HTTP(S) and syslog
// TCP/TLS receivers that parse octet-counted frames and can be told to fail,
// hang or answer a given status; test certificates made with openssl.
import { QUIET_AUDIT } from './quiet-audit.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { loadConfig } from '../../src/config.js';
import { silentLog } from '../../src/obs/log.js';
import { Server } from '../../src/server.js';
import { createDrain, type DrainManagerOptions } from '../../src/drains/manager.js';
import type { Drain } from '../../src/drains/drain.js';
import type { DrainOptions } from '../../src/drains/options.js';
import { parseDrainUrl, type DrainKind } from '../../src/drains/url.js';
import { lineFrom } from '../../src/line.js';
import { api } from './api.js';

export interface TestCerts {
  /** CA that signed `cert` (for 127.0.0.1 and localhost). */
  ca: string;
  cert: string;
  key: string;
  /** A self-signed certificate nobody trusts. */
  selfCert: string;
  selfKey: string;
}

let certs: TestCerts | null = null;

/** Test certificates, made once per process with openssl. */
export function testCerts(): TestCerts {
  if (certs) return certs;
  const dir = mkdtempSync(join(tmpdir(), 'logplane-certs-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3', '-subj', '/CN=logplane test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    ssl('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost');
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
    ssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '3', '-extfile', 'ext.cnf');
    ssl('req', '-x509', ...ec, '-keyout', 'self.key', '-out', 'self.pem', '-days', '3', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
    const r = (f: string) => readFileSync(join(dir, f), 'utf8');
    certs = { ca: r('ca.pem'), cert: r('srv.pem'), key: r('srv.key'), selfCert: r('self.pem'), selfKey: r('self.key') };
    return certs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Split an octet-counted stream into messages; returns the bytes left over. */
export function parseFrames(buf: Buffer, out: Buffer[]): Buffer {
  let p = 0;
  for (;;) {
    const sp = buf.indexOf(0x20, p);
    if (sp === -1) break;
    const len = Number(buf.toString('latin1', p, sp));
    if (!Number.isInteger(len) || len <= 0) throw new Error(`bad frame length at ${p}: ${JSON.stringify(buf.toString('latin1', p, Math.min(sp, p + 20)))}`);
    if (sp + 1 + len > buf.length) break;
    out.push(buf.subarray(sp + 1, sp + 1 + len));
    p = sp + 1 + len;
  }
  return buf.subarray(p);
}

/** How a receiver treats the next request or connection. */
export type Mode = 'ok' | 'fail' | 'hang' | number;

/** What the shared suite needs from any receiver. */
export interface Receiver {
  readonly kind: DrainKind;
  /** A drain URL pointing here. */
  url(): string;
  /** Messages (frame bodies, without LEN) accepted: from 2xx requests / healthy connections, in order. */
  messages(): Buffer[];
  mode: Mode;
  /** Optional per-attempt override (attempt index from 0). */
  plan: ((attempt: number) => Mode | undefined) | null;
  /** Requests (HTTP) or connections (syslog) seen. */
  attempts(): number;
  close(): Promise<void>;
}

export interface ReceivedRequest {
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  frames: Buffer[];
  status: number | null;
}

export class HttpReceiver implements Receiver {
  readonly kind: DrainKind;
  readonly server: HttpServer;
  readonly requests: ReceivedRequest[] = [];
  /** TLS only: the SNI server name of each connection (false when none was sent; null before the handshake). */
  readonly servernames: Array<string | false | null> = [];
  connections = 0;
  mode: Mode = 'ok';
  plan: ((attempt: number) => Mode | undefined) | null = null;
  /** Answer each request only after this many ms (a slow endpoint). */
  answerDelayMs = 0;
  readonly #hung = new Set<ServerResponse>();
  #port = 0;

  private constructor(kind: DrainKind, server: HttpServer) {
    this.kind = kind;
    this.server = server;
    server.keepAliveTimeout = 30_000;
    server.on('connection', () => this.connections++);
    server.on('secureConnection', (s: TLSSocket) => this.servernames.push(s.servername));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
  }

  /** tls: 'ca' = certificate signed by the test CA; 'self' = self-signed. */
  static async start(tls: false | 'ca' | 'self' = false): Promise<HttpReceiver> {
    let r: HttpReceiver;
    if (tls) {
      const c = testCerts();
      r = new HttpReceiver('https', createHttpsServer(tls === 'ca' ? { cert: c.cert, key: c.key } : { cert: c.selfCert, key: c.selfKey }));
    } else r = new HttpReceiver('http', createHttpServer());
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    r.#port = (r.server.address() as { port: number }).port;
    return r;
  }

  get port(): number {
    return this.#port;
  }
  url(path = '/drain'): string {
    return `${this.kind}://127.0.0.1:${this.#port}${path}`;
  }
  attempts(): number {
    return this.requests.length;
  }
  /** Requests held unanswered ('hang') whose connection is still open. */
  hanging(): number {
    return this.#hung.size;
  }
  messages(): Buffer[] {
    const out: Buffer[] = [];
    for (const r of this.requests) if (r.status !== null && r.status >= 200 && r.status < 300) out.push(...r.frames);
    return out;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const frames: Buffer[] = [];
      const rest = parseFrames(body, frames);
      const entry: ReceivedRequest = { url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body, frames, status: null };
      const i = this.requests.length;
      this.requests.push(entry);
      if (rest.length !== 0) throw new Error('trailing bytes in body');
      const mode = this.plan?.(i) ?? this.mode;
      if (mode === 'hang') {
        this.#hung.add(res);
        res.on('close', () => this.#hung.delete(res));
        return;
      }
      const status = mode === 'ok' ? 200 : mode === 'fail' ? 500 : mode;
      const answer = (): void => {
        entry.status = status;
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end(status < 300 ? 'ok' : 'no');
      };
      if (this.answerDelayMs > 0) setTimeout(answer, this.answerDelayMs);
      else answer();
    });
  }

  async close(): Promise<void> {
    for (const r of this.#hung) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Syslog over TCP has no acknowledgements, so a drain can only see failures
 * the transport reports: here 'fail' means the port refuses connections (the
 * listener is closed) and 'ok' listens again on the same port.
 */
export class SyslogReceiver implements Receiver {
  readonly kind: DrainKind;
  readonly server: NetServer;
  /** TLS only: the SNI server name of each connection (false when none was sent; null before the handshake). */
  readonly servernames: Array<string | false | null> = [];
  connections = 0;
  plan: ((attempt: number) => Mode | undefined) | null = null;
  #mode: Mode = 'ok';
  readonly #msgs: Buffer[] = [];
  readonly #socks = new Set<Socket>();
  #port = 0;
  #listening: Promise<void> = Promise.resolve();

  private constructor(kind: DrainKind, server: NetServer) {
    this.kind = kind;
    this.server = server;
  }

  get mode(): Mode {
    return this.#mode;
  }
  set mode(m: Mode) {
    const wasRefusing = this.#mode === 'fail';
    this.#mode = m;
    if (m === 'fail' && !wasRefusing) {
      this.dropConnections();
      this.#listening = this.#listening.then(() => new Promise<void>((resolve) => this.server.close(() => resolve())));
    } else if (m !== 'fail' && wasRefusing) {
      this.#listening = this.#listening.then(() => new Promise<void>((resolve) => this.server.listen(this.#port, '127.0.0.1', resolve)));
    }
  }
  /** Resolves once the last mode change took effect on the listener. */
  settled(): Promise<void> {
    return this.#listening;
  }

  static async start(tls: false | 'ca' | 'self' = false): Promise<SyslogReceiver> {
    let r: SyslogReceiver;
    if (tls) {
      const c = testCerts();
      const server = createTlsServer(tls === 'ca' ? { cert: c.cert, key: c.key } : { cert: c.selfCert, key: c.selfKey });
      r = new SyslogReceiver('syslog+tls', server);
      server.on('secureConnection', (s) => {
        r.servernames.push(s.servername);
        r.#onConnection(s);
      });
      server.on('tlsClientError', () => {});
    } else {
      const server = createNetServer();
      r = new SyslogReceiver('syslog', server);
      server.on('connection', (s) => r.#onConnection(s));
    }
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    r.#port = (r.server.address() as { port: number }).port;
    return r;
  }

  get port(): number {
    return this.#port;
  }
  url(): string {
    return `${this.kind}://127.0.0.1:${this.#port}`;
  }
  attempts(): number {
    return this.connections;
  }
  messages(): Buffer[] {
    return this.#msgs.slice();
  }

  #onConnection(sock: Socket): void {
    const i = this.connections++;
    this.#socks.add(sock);
    sock.on('close', () => this.#socks.delete(sock));
    sock.on('error', () => {});
    const mode = this.plan?.(i) ?? this.#mode;
    if (mode === 'hang') {
      sock.pause();
      return;
    }
    if (mode !== 'ok') {
      sock.destroy();
      return;
    }
    let pending: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      const got: Buffer[] = [];
      pending = parseFrames(pending.length ? Buffer.concat([pending, chunk]) : chunk, got);
      for (const m of got) this.#msgs.push(Buffer.from(m));
      pending = Buffer.from(pending);
    });
  }

  /** TLS only: serve another certificate from now on. */
  useCert(which: 'ca' | 'self'): void {
    const c = testCerts();
    (this.server as unknown as { setSecureContext(o: { cert: string; key: string }): void }).setSecureContext(
      which === 'ca' ? { cert: c.cert, key: c.key } : { cert: c.selfCert, key: c.selfKey },
    );
  }

  /** Drop every open connection (the drain must reconnect). */
  dropConnections(): void {
    for (const s of this.#socks) s.destroy();
  }

  async close(): Promise<void> {
    await this.#listening;
    for (const s of this.#socks) s.destroy();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Start a receiver for a drain kind, with a certificate signed by the test CA for TLS kinds. */
export function startReceiver(kind: DrainKind): Promise<Receiver> {
  switch (kind) {
    case 'https':
      return HttpReceiver.start('ca');
    case 'http':
      return HttpReceiver.start(false);
    case 'syslog':
      return SyslogReceiver.start(false);
    case 'syslog+tls':
      return SyslogReceiver.start('ca');
  }
}

/** Drain options for tests: small timeouts, private addresses allowed, the test CA trusted. */
export function drainOptions(url: string, over: Partial<DrainOptions> = {}): DrainOptions {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    token: 'd.11111111-2222-4333-8444-555555555555',
    target: parseDrainUrl(url),
    queueBytes: 8 * 1024 * 1024,
    retries: 3,
    backoffBaseMs: 5,
    backoffMaxMs: 40,
    connectTimeoutMs: 1000,
    responseTimeoutMs: 1000,
    reconnectBaseMs: 5,
    reconnectMaxMs: 40,
    allowPrivate: true,
    ca: testCerts().ca,
    log: silentLog(),
    ...over,
  };
}

export function makeDrain(url: string, over: Partial<DrainOptions> = {}): Drain {
  return createDrain(drainOptions(url, over));
}

/** logplane's version, as drains write it in User-Agent. */
export const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * Drains made through `drain()` and closers added with `cleanup()`, all
 * destroyed/run by `close()` (call it from the test file's after hook).
 */
export function drainScope(): { drain(url: string, over?: Partial<DrainOptions>): Drain; cleanup(fn: () => Promise<void> | void): void; close(): Promise<void> } {
  const drains: Drain[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];
  return {
    drain(url, over = {}) {
      const d = makeDrain(url, over);
      drains.push(d);
      return d;
    },
    cleanup(fn) {
      cleanups.push(fn);
    },
    async close() {
      for (const d of drains.splice(0)) d.destroy();
      for (const c of cleanups.splice(0)) await c();
    },
  };
}

export const TS = '2024-05-06T07:08:09.123456+00:00';

/** A test line; msg defaults to `line <n>`. */
export function testLine(n: number, msg?: string | Buffer): Buffer {
  return lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: msg ?? `line ${n}`, seq: n + 1 });
}

/** The MSG part of a received frame (after the header fields; LF removed). */
export function msgText(kind: DrainKind, frame: Buffer): string {
  // http: <PRI>1 TS host SOURCE DYNO - MSG\n   syslog: <PRI>1 TS d.token SOURCE DYNO - - MSG\n
  const fields = kind === 'http' || kind === 'https' ? 6 : 7;
  let p = 0;
  for (let i = 0; i < fields; i++) {
    p = frame.indexOf(0x20, p) + 1;
    if (p === 0) throw new Error(`short frame: ${frame.toString()}`);
  }
  const end = frame[frame.length - 1] === 0x0a ? frame.length - 1 : frame.length;
  return frame.toString('utf8', p, end);
}

const L10 = /^Error L10 \(output buffer overflow\): (\d+) messages dropped since (\S+)\.$/;

/** N of an L10 message, or null when it is not one. */
export function l10Count(msg: string): number | null {
  const m = L10.exec(msg);
  return m ? Number(m[1]) : null;
}

/**
 * What an HTTP receiver accepted (2xx, each Frame-Id once): the messages in
 * order (L10 lines left out), the sum of the L10 counts, and how many L10
 * lines were not the first frame of their batch (SPEC 6.5: there must be none).
 */
export function accepted(r: HttpReceiver): { msgs: string[]; reported: number; l10NotFirst: number } {
  const seen = new Set<string>();
  const msgs: string[] = [];
  let reported = 0;
  let l10NotFirst = 0;
  for (const q of r.requests) {
    if (q.status === null || q.status < 200 || q.status >= 300) continue;
    const id = String(q.headers['logplex-frame-id']);
    if (seen.has(id)) continue;
    seen.add(id);
    q.frames.forEach((f, i) => {
      const m = msgText(r.kind, f);
      const n = l10Count(m);
      if (n === null) msgs.push(m);
      else {
        reported += n;
        if (i !== 0) l10NotFirst++;
      }
    });
  }
  return { msgs, reported, l10NotFirst };
}

/** The value of an unlabelled metric in a Prometheus text page, or null. */
export function metricValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}


export interface DrainTestServer {
  server: Server;
  url: string;
  auth: string;
  dataDir: string;
  /** fetch against the server with admin auth and JSON. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; headers: Headers; json: unknown; text: string }>;
  close(opts?: { keepData?: boolean }): Promise<void>;
}

/**
 * A real server on free loopback ports with drain test hooks: private
 * addresses allowed (receivers are on 127.0.0.1), the test CA trusted,
 * small retry and timeout settings. env overrides any of it.
 */
export async function startDrainServer(env: Record<string, string> = {}, opts: { dataDir?: string; drains?: DrainManagerOptions } = {}): Promise<DrainTestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'logplane-drains-'));
  const config = loadConfig([], {
    LOGPLANE_PORT: '0',
    LOGPLANE_DATA_DIR: dataDir,
    LOGPLANE_LOG_LEVEL: 'silent',
    LOGPLANE_DRAIN_ALLOW_PRIVATE: '1',
    LOGPLANE_DRAIN_RETRIES: '3',
    LOGPLANE_DRAIN_BACKOFF_BASE_MS: '5',
    LOGPLANE_DRAIN_BACKOFF_MAX_MS: '40',
    LOGPLANE_DRAIN_RECONNECT_BASE_MS: '5',
    LOGPLANE_DRAIN_RECONNECT_MAX_MS: '40',
    LOGPLANE_DRAIN_CONNECT_TIMEOUT_MS: '1000',
    LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '1000',
    LOGPLANE_DRAIN_FLUSH_TIMEOUT_MS: '500',
    ...QUIET_AUDIT,
    ...env,
  });
  const server = await Server.start(config, { log: silentLog(), anyFreeSyslogPorts: true, noRestore: true, drains: { ca: testCerts().ca, ...opts.drains } });
  const auth = `Bearer ${server.apiKey}`;
  return {
    server,
    url: server.url,
    auth,
    dataDir,
    api: (method, path, body) => api({ url: server.url, auth }, method, path, body),

    async close(o = {}) {
      await server.close();
      if (!o.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
