// HTTP requests exactly as written: any method with a body, any Content-Type
// or none (fetch adds text/plain to a string body), and a request that
// declares a large body but sends only its start.
import { request, type IncomingHttpHeaders } from 'node:http';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body when it is JSON, else null. */
  json: any;
}

/**
 * One request on its own connection. `headers` are sent as given (no
 * Content-Type is added); a body gets its Content-Length.
 */
export function rawRequest(baseUrl: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number; localAddress?: string } = {}): Promise<RawResponse> {
  const u = new URL(path, baseUrl);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
  return new Promise((resolve, reject) => {
    // localAddress: the client address the server sees (127.0.0.2, 127.0.0.3, ... are loopback too)
    const req = request({ host: u.hostname, port: u.port, method, path: `${u.pathname}${u.search}`, headers, agent: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        if ((res.headers['content-type'] ?? '').startsWith('application/json')) {
          try {
            json = JSON.parse(text);
          } catch {
            json = null;
          }
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`${method} ${path}: no answer in time`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface PartialBodyResult {
  /** Status of the answer, or null when none came before the timeout. */
  status: number | null;
  /** Everything the server sent. */
  response: string;
  /** The server closed the connection (it is not waiting for the rest of the body). */
  closed: boolean;
  /** Body bytes actually sent (less than declared). */
  sent: number;
}

/**
 * Sends the head of a request declaring `declared` body bytes, then only
 * `send` of them, and waits (at most timeoutMs) for the server to answer and
 * close. A server that waits for the whole body answers nothing in that time.
 */
export function partialBody(baseUrl: string, method: string, path: string, headers: Record<string, string>, declared: number, send: number, timeoutMs = 5000): Promise<PartialBodyResult> {
  const u = new URL(path, baseUrl);
  const head = [`${method} ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, `Content-Length: ${declared}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  return new Promise((resolve) => {
    const sock = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const response = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(response);
      resolve({ status: m ? Number(m[1]) : null, response, closed, sent: send });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('connect', () => {
      sock.write(head);
      sock.write(Buffer.alloc(send, 0x7b)); // '{' bytes: never valid JSON
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    // a reset after the server answered and closed still counts as closed
    sock.on('error', () => finish(true));
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
  });
}

/** Octet-counted frames (RFC 6587) of these messages: a POST /logs body. */
export function logplexBody(msgs: readonly string[]): Buffer {
  return Buffer.concat(msgs.map((m) => {
    const b = Buffer.from(m, 'utf8');
    return Buffer.concat([Buffer.from(`${b.length} `), b]);
  }));
}

/** POST /logs with a logplex-1 body and the token as Basic password, on a connection of its own. */
export function postLogplex(baseUrl: string, token: string, body: Buffer, headers: Record<string, string> = {}): Promise<RawResponse> {
  return rawRequest(baseUrl, 'POST', '/logs', {
    headers: { 'Content-Type': 'application/logplex-1', Authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}`, ...headers },
    body,
    timeoutMs: 30_000,
  });
}

/** Body of `lines` frames `flood <i> ` + pad x 'f', as postFlood() sends it (its size in bytes, for bounds). */
export function floodBody(lines: number, pad: number): Buffer {
  return logplexBody(Array.from({ length: lines }, (_, i) => `<190>1 2026-05-01T12:00:00Z host app web.1 - flood ${i} ${'f'.repeat(pad)}`));
}

/**
 * A child process POSTing floodBody(lines, pad) to /logs with one token on
 * `concurrency` kept-alive connections, one request in flight on each, for ms
 * (requests in flight then are finished); resolves the requests answered 204.
 */
export function postFlood(baseUrl: string, token: string, opts: { lines: number; pad: number; concurrency: number; ms: number }): Promise<number> {
  const u = new URL(baseUrl);
  const script = `
    const http = require('http');
    const msgs = [];
    for (let i = 0; i < ${opts.lines}; i++) { const m = Buffer.from('<190>1 2026-05-01T12:00:00Z host app web.1 - flood ' + i + ' ' + 'f'.repeat(${opts.pad})); msgs.push(Buffer.from(m.length + ' '), m); }
    const body = Buffer.concat(msgs);
    const agent = new http.Agent({ keepAlive: true, maxSockets: ${opts.concurrency} });
    const headers = { 'content-type': 'application/logplex-1', 'content-length': body.length, authorization: 'Basic ' + Buffer.from('token:${token}').toString('base64') };
    const end = Date.now() + ${opts.ms};
    let ok = 0;
    const one = () => new Promise((resolve, reject) => {
      const req = http.request({ host: '${u.hostname}', port: ${u.port}, path: '/logs', method: 'POST', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => { if (res.statusCode === 204) ok++; resolve(); });
      });
      req.on('error', reject);
      req.end(body);
    });
    const loop = async () => { while (Date.now() < end) await one(); };
    Promise.all(Array.from({ length: ${opts.concurrency} }, loop)).then(
      () => { agent.destroy(); process.stdout.write(String(ok)); },
      (e) => { console.error(e.message); process.exit(1); },
    );`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`POST flooder exited ${code}`)))));
}
