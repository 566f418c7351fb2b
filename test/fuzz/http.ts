// Fuzz properties that need a running server: random POST /logs bodies and
// random WebSocket tail parameters get their SPEC 11 answers.
import { connect } from 'node:net';
import fc from 'fast-check';
import type { Server } from '../../src/server.js';
import type { FuzzProperty } from './properties.js';

const token = (srv: Server, app: string): string => srv.ctx.registry.get(app)!.record.tokens[0]!.token;

/** A frame list, some frames damaged or garbage. */
const bodies = fc.oneof(
  fc.array(fc.string({ maxLength: 80 }), { maxLength: 8 }).map((ms) => Buffer.concat(ms.map((m) => {
    const b = Buffer.from(`<190>1 2026-05-01T12:00:00Z host app web.1 - ${m}`, 'utf8');
    return Buffer.concat([Buffer.from(`${b.length} `), b]);
  }))),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.array(fc.constantFrom('12 ', '<190>1 ', 'x', ' ', '\n', '0', '5 hello', '2026-05-01T12:00:00Z ', 'host app web.1 - m'), { maxLength: 20 }).map((p) => Buffer.from(p.join(''))),
);

/** POST /logs with a random body: 204 and every frame stored, or 400 naming the frame and nothing stored. */
export function postLogsProperty(srv: Server, app: string): FuzzProperty {
  return {
    name: 'POST /logs: a random body is stored whole (204) or refused with 400 naming the frame, nothing stored',
    runs: 150,
    property: fc.asyncProperty(bodies, fc.boolean(), async (body, withCount) => {
      const a = srv.ctx.registry.get(app)!;
      const before = a.linesIn;
      const headers: Record<string, string> = { 'content-type': 'application/logplex-1', authorization: `Basic ${Buffer.from(`t:${token(srv, app)}`).toString('base64')}` };
      if (withCount) headers['logplex-msg-count'] = '1';
      const r = await srv.http.inject({ method: 'POST', url: '/logs', headers, payload: body });
      if (r.statusCode === 204) return true;
      if (r.statusCode !== 400) throw new Error(`status ${r.statusCode}: ${r.body}`);
      if (!/^(Malformed frame \d+ at byte \d+: .+|Message count mismatch)$/.test(r.body)) throw new Error(`400 body: ${r.body}`);
      if (a.linesIn !== before) throw new Error(`a refused request stored ${a.linesIn - before} lines`);
      return true;
    }),
  };
}

/** The status line and body of one WebSocket upgrade request. */
function upgrade(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no answer to the upgrade in 10 s'));
    }, 10_000);
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0);
      if (status === 101 || (status !== 0 && got.includes('\r\n\r\n') && got.endsWith('}'))) {
        clearTimeout(timer);
        s.destroy();
        resolve({ status, body: got.slice(got.indexOf('\r\n\r\n') + 4) });
      }
    });
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

/** WebSocket tail parameters: a random `after` and `format` get 101 (valid) or 400 invalid_params naming the field. */
export function wsParamsProperty(srv: Server, sessionId: string): FuzzProperty {
  const port = Number(new URL(srv.url).port);
  const value = fc.oneof(fc.string({ maxLength: 20 }), fc.nat().map(String), fc.constantFrom('json', 'text', '-1', '1e3', '0x10', '9007199254740993', '%', '%zz', ''));
  return {
    name: 'WebSocket tail parameters: 101 for valid ones, else 400 invalid_params naming the field',
    runs: 60,
    property: fc.asyncProperty(fc.option(value), fc.option(value), async (after, format) => {
      const q = new URLSearchParams();
      if (after !== null) q.set('after', after);
      if (format !== null) q.set('format', format);
      const r = await upgrade(port, `/sessions/${sessionId}?${q.toString()}`);
      const validAfter = after === null || after === '' || (/^\d{1,16}$/.test(after) && Number.isSafeInteger(Number(after)));
      const validFormat = format === null || format === 'json' || format === 'text';
      if (validAfter && validFormat) {
        if (r.status !== 101) throw new Error(`valid parameters answered ${r.status}: ${r.body}`);
        return true;
      }
      if (r.status !== 400) throw new Error(`invalid parameters answered ${r.status}`);
      const j = JSON.parse(r.body) as { id: string; error: string };
      if (j.id !== 'invalid_params' || !/^(after|format): /.test(j.error)) throw new Error(`400 body ${r.body}`);
      return true;
    }),
  };
}
