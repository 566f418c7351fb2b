// POST /logs (SPEC 3.1): real server, real HTTP on 127.0.0.1, history read
// back from the app's ring.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import Fastify from 'fastify';
import type { App } from '../../src/apps.js';
import { viewOf, type LineView } from '../../src/line.js';
import { BODY_START } from '../../src/ingest/http-front.js';
import { registerHttpIngest } from '../../src/ingest/http.js';
import { startServer, type TestServer } from '../support/server.js';

const TS = '2024-05-01T12:00:00.000000+00:00';

function syslog(msg: string, opts: { pri?: number; appName?: string; dyno?: string; host?: string } = {}): string {
  return `<${opts.pri ?? 190}>1 ${TS} ${opts.host ?? 'host'} ${opts.appName ?? 'app'} ${opts.dyno ?? 'web.1'} - ${msg}`;
}
function frame(msg: string | Buffer): Buffer {
  const b = typeof msg === 'string' ? Buffer.from(msg, 'utf8') : msg;
  return Buffer.concat([Buffer.from(`${b.length} `), b]);
}
function frames(...msgs: (string | Buffer)[]): Buffer {
  return Buffer.concat(msgs.map(frame));
}
/** fetch's BodyInit type does not take a Buffer directly. */
function bytes(b: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}
function basic(token: string, user = 'token'): string {
  return `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
}
function linesOf(app: App): LineView[] {
  const out: LineView[] = [];
  for (let i = 0; i < app.ring.count; i++) out.push(viewOf(app.ring.at(i)));
  return out;
}

let nextApp = 0;
async function newApp(ts: TestServer): Promise<{ app: App; token: string; heroku: string }> {
  const { app } = await ts.server.ctx.registry.putApp(`app${++nextApp}`, ['app', 'heroku']);
  const tok = (name: string) => app.record.tokens.find((t) => t.name === name)!.token;
  return { app, token: tok('app'), heroku: tok('heroku') };
}

async function post(ts: TestServer, token: string | null, body: Buffer, headers: Record<string, string> = {}): Promise<Response> {
  const h: Record<string, string> = { 'Content-Type': 'application/logplex-1', ...headers };
  if (token !== null) h.Authorization = basic(token);
  return fetch(`${ts.url}/logs`, { method: 'POST', headers: h, body: bytes(body) });
}

/** POST with node:http and Transfer-Encoding: chunked, one write per piece. */
function postChunked(ts: TestServer, token: string, pieces: Buffer[], headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${ts.url}/logs`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'Content-Type': 'application/logplex-1', Authorization: basic(token), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    let i = 0;
    const writeNext = (): void => {
      if (i === pieces.length) {
        req.end();
        return;
      }
      req.write(pieces[i++]!, () => setImmediate(writeNext));
    };
    writeNext();
  });
}

async function metric(ts: TestServer, series: string): Promise<number> {
  const text = await (await fetch(`${ts.url}/metrics`)).text();
  for (const line of text.split('\n')) if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return 0;
}

describe('POST /logs', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startServer();
  });
  after(async () => {
    await ts.close();
  });

  test('application/logplex-1: 204, empty body, every frame stored with the token name as source', async () => {
    const { app, token } = await newApp(ts);
    const res = await post(ts, token, frames(syslog('hello'), syslog('world', { dyno: 'worker.2', pri: 14 })));
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
    assert.ok(res.headers.get('request-id'));
    const lines = linesOf(app);
    assert.deepEqual(lines.map((l) => [l.source, l.dyno, l.pri, l.ts, l.msg]), [
      ['app', 'web.1', 190, TS, 'hello'],
      ['app', 'worker.2', 14, TS, 'world'],
    ]);
  });

  test('application/x-logplex-1 with a charset parameter is accepted too', async () => {
    const { app, token } = await newApp(ts);
    const res = await post(ts, token, frames(syslog('x')), { 'Content-Type': 'application/x-logplex-1; charset=utf-8' });
    assert.equal(res.status, 204);
    assert.deepEqual(linesOf(app).map((l) => l.msg), ['x']);
  });

  test('any other Content-Type (or none) is 415 and nothing is stored', async () => {
    const { app, token } = await newApp(ts);
    for (const ct of ['text/plain', 'application/json', 'application/logplex-2', 'application/octet-stream']) {
      const res = await post(ts, token, frames(syslog('no')), { 'Content-Type': ct });
      assert.equal(res.status, 415, ct);
      assert.match(await res.text(), /application\/logplex-1/);
    }
    const none = await fetch(`${ts.url}/logs`, { method: 'POST', headers: { Authorization: basic(token) } });
    assert.equal(none.status, 415);
    await none.text();
    assert.equal(app.ring.count, 0);
  });

  test('an unsupported Content-Encoding is 415', async () => {
    const { app, token } = await newApp(ts);
    const res = await post(ts, token, frames(syslog('no')), { 'Content-Encoding': 'br' });
    assert.equal(res.status, 415);
    assert.match(await res.text(), /Content-Encoding/);
    assert.equal(app.ring.count, 0);
  });

  test('missing, malformed or unknown token: 401 with WWW-Authenticate: Basic realm=Logplex', async () => {
    const { app } = await newApp(ts);
    const body = frames(syslog('no'));
    const cases: Record<string, string>[] = [
      {},
      { Authorization: basic('t.00000000-0000-4000-8000-000000000000') },
      { Authorization: 'Bearer whatever' },
      { Authorization: 'Basic' },
    ];
    for (const auth of cases) {
      const res = await fetch(`${ts.url}/logs`, { method: 'POST', headers: { 'Content-Type': 'application/logplex-1', ...auth }, body: bytes(body) });
      assert.equal(res.status, 401, JSON.stringify(auth));
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm=Logplex');
      await res.text();
    }
    assert.equal(app.ring.count, 0);
  });

  test('the Basic user part is ignored: only the password (the token) matters', async () => {
    const { app, token } = await newApp(ts);
    const res = await fetch(`${ts.url}/logs`, { method: 'POST', headers: { 'Content-Type': 'application/logplex-1', Authorization: basic(token, 'anyone-at-all') }, body: bytes(frames(syslog('ok'))) });
    assert.equal(res.status, 204);
    assert.equal(app.ring.count, 1);
  });

  test('the token never appears in a response', async () => {
    const { token } = await newApp(ts);
    const res = await post(ts, token, frames(syslog('a'), 'garbage'));
    assert.equal(res.status, 400);
    assert.ok(!(await res.text()).includes(token));
  });

  test('Content-Encoding: gzip body is decompressed and stored', async () => {
    const { app, token } = await newApp(ts);
    const body = gzipSync(frames(...Array.from({ length: 50 }, (_, i) => syslog(`gz ${i}`))));
    const res = await post(ts, token, body, { 'Content-Encoding': 'gzip', 'Logplex-Msg-Count': '50' });
    assert.equal(res.status, 204);
    const lines = linesOf(app);
    assert.equal(lines.length, 50);
    assert.equal(lines[0]!.msg, 'gz 0');
    assert.equal(lines[49]!.msg, 'gz 49');
  });

  test('an invalid gzip body is 400 and nothing is stored', async () => {
    const { app, token } = await newApp(ts);
    const res = await post(ts, token, frames(syslog('not gzip')), { 'Content-Encoding': 'gzip' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /gzip/);
    assert.equal(app.ring.count, 0);
  });

  test('chunked request body (no Content-Length, several writes, a frame split across writes)', async () => {
    const { app, token } = await newApp(ts);
    const body = frames(syslog('one'), syslog('two'), syslog('three'));
    const pieces = [body.subarray(0, 5), body.subarray(5, 40), body.subarray(40, 41), body.subarray(41)];
    const res = await postChunked(ts, token, pieces, { 'Logplex-Msg-Count': '3' });
    assert.equal(res.status, 204);
    assert.deepEqual(linesOf(app).map((l) => l.msg), ['one', 'two', 'three']);
  });

  test('Logplex-Msg-Count equal to the frame count: 204', async () => {
    const { app, token } = await newApp(ts);
    const res = await post(ts, token, frames(syslog('a'), syslog('b')), { 'Logplex-Msg-Count': '2' });
    assert.equal(res.status, 204);
    assert.equal(app.ring.count, 2);
  });

  test('Logplex-Msg-Count different from the frame count: 400 "Message count mismatch", nothing stored', async () => {
    const { app, token } = await newApp(ts);
    for (const n of ['3', '1', '0', 'two', '']) {
      const res = await post(ts, token, frames(syslog('a'), syslog('b')), { 'Logplex-Msg-Count': n });
      assert.equal(res.status, 400, n);
      assert.match(res.headers.get('content-type')!, /^text\/plain/);
      assert.equal(await res.text(), 'Message count mismatch');
    }
    assert.equal(app.ring.count, 0);
    assert.equal(app.seq, 0);
  });

  test('Accept: application/json gets the API error shape with the same sentence', async () => {
    const { token } = await newApp(ts);
    const res = await post(ts, token, frames(syslog('a')), { 'Logplex-Msg-Count': '2', Accept: 'application/json' });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { id: 'count_mismatch', error: 'Message count mismatch' });
  });

  test('an empty body is 204 with nothing stored', async () => {
    const { app, token } = await newApp(ts);
    const res = await post(ts, token, Buffer.alloc(0), { 'Logplex-Msg-Count': '0' });
    assert.equal(res.status, 204);
    assert.equal(app.ring.count, 0);
  });

  test('a malformed frame in the middle rejects the whole request: 400 naming the frame, nothing stored', async () => {
    const { app, token } = await newApp(ts);
    const bad = 'not syslog at all';
    const body = frames(syslog('first'), syslog('second'), bad, syslog('fourth'));
    const res = await post(ts, token, body);
    assert.equal(res.status, 400);
    const text = await res.text();
    const offset = frames(syslog('first'), syslog('second')).length;
    assert.equal(text, `Malformed frame 3 at byte ${offset}: missing <PRI>`);
    assert.equal(app.ring.count, 0);
    assert.equal(app.seq, 0);

    // the sender can fix and retry the same batch
    const ok = await post(ts, token, frames(syslog('first'), syslog('second'), syslog('third'), syslog('fourth')));
    assert.equal(ok.status, 204);
    assert.deepEqual(linesOf(app).map((l) => l.msg), ['first', 'second', 'third', 'fourth']);
  });

  test('framing errors name the frame and the reason', async () => {
    const { app, token } = await newApp(ts);
    const good = frame(syslog('ok'));
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([good, Buffer.from('05 hello')]), /^Malformed frame 2 at byte \d+: frame length has a leading zero$/],
      [Buffer.concat([good, good, Buffer.from('12x')]), /^Malformed frame 3 at byte \d+: frame length not followed by a space$/],
      [Buffer.concat([good, Buffer.from('\n'), good]), /^Malformed frame 2 at byte \d+: expected a decimal length/],
      [Buffer.concat([good, Buffer.from('500 <190>1 short')]), /^Malformed frame 2 at byte \d+: truncated frame at end of input$/],
    ];
    for (const [body, re] of cases) {
      const res = await post(ts, token, body);
      assert.equal(res.status, 400);
      assert.match(await res.text(), re);
    }
    assert.equal(app.ring.count, 0);
  });

  test('a frame over 64 KiB is 400 and nothing is stored; exactly 64 KiB is accepted', async () => {
    const { app, token } = await newApp(ts);
    const head = syslog('');
    const over = frames(syslog('before'), head + 'x'.repeat(64 * 1024 + 1 - head.length));
    const res = await post(ts, token, over);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^Malformed frame 2 at byte \d+: frame larger than 64 KiB$/);
    assert.equal(app.ring.count, 0);

    const max = frames(head + 'y'.repeat(64 * 1024 - head.length));
    const ok = await post(ts, token, max);
    assert.equal(ok.status, 204);
    // a 64 KiB message is cooked into lines of at most 10,000 bytes
    const lines = linesOf(app);
    assert.equal(lines.length, Math.ceil((64 * 1024 - head.length) / 10_000));
    assert.equal(lines.map((l) => l.msg).join(''), 'y'.repeat(64 * 1024 - head.length));
  });

  test('source is the token name whatever APP-NAME says (no heroku spoofing)', async () => {
    const { app, token, heroku } = await newApp(ts);
    assert.equal((await post(ts, token, frames(syslog('spoof', { appName: 'heroku', dyno: 'router' })))).status, 204);
    assert.equal((await post(ts, heroku, frames(syslog('real', { appName: 'app', dyno: 'router' })))).status, 204);
    assert.deepEqual(linesOf(app).map((l) => [l.source, l.dyno, l.msg]), [
      ['app', 'router', 'spoof'],
      ['heroku', 'router', 'real'],
    ]);
  });

  test("the console's per-source rate counts a worker's lines by their token's name (app, heroku, other)", async () => {
    const { app, token, heroku } = await newApp(ts);
    const other = (await ts.server.ctx.registry.createToken(app.id, 'deploy')).token;
    assert.equal((await post(ts, token, frames(syslog('a1'), syslog('a2'), syslog('a3', { appName: 'heroku' })))).status, 204);
    assert.equal((await post(ts, heroku, frames(syslog('h1'), syslog('h2')))).status, 204);
    assert.equal((await post(ts, other, frames(syslog('o1', { appName: 'app' })))).status, 204);
    const s = app.rates.series(Math.floor(Date.now() / 1000));
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.deepEqual([sum(s.counts.app), sum(s.counts.heroku), sum(s.counts.other)], [3, 2, 1]);
  });

  test('multi-line messages and messages over 10,000 bytes become several lines', async () => {
    const { app, token } = await newApp(ts);
    const long = 'L'.repeat(25_000);
    const res = await post(ts, token, frames(syslog('line one\nline two\r\nline three\n'), syslog(long)), { 'Logplex-Msg-Count': '2' });
    assert.equal(res.status, 204);
    const lines = linesOf(app);
    assert.deepEqual(lines.slice(0, 3).map((l) => [l.dyno, l.msg]), [
      ['web.1', 'line one'],
      ['web.1', 'line two'],
      ['web.1', 'line three'],
    ]);
    assert.deepEqual(lines.slice(3).map((l) => l.msg.length), [10_000, 10_000, 5_000]);
    assert.equal(lines.slice(3).map((l) => l.msg).join(''), long);
  });

  test('seq is strictly increasing across frames and requests', async () => {
    const { app, token } = await newApp(ts);
    for (let r = 0; r < 3; r++) {
      assert.equal((await post(ts, token, frames(syslog(`r${r} a`), syslog(`r${r} b\nr${r} c`)))).status, 204);
    }
    const lines = linesOf(app);
    assert.equal(lines.length, 9);
    for (let i = 1; i < lines.length; i++) assert.ok(lines[i]!.seq > lines[i - 1]!.seq, `seq ${lines[i]!.seq} after ${lines[i - 1]!.seq}`);
    assert.equal(lines[8]!.seq, app.seq);
  });

  test('Logplex-Frame-Id: a retry of an accepted batch is 204 and stored once; another token is not deduplicated', async () => {
    const { app, token, heroku } = await newApp(ts);
    const body = frames(syslog('batch a'), syslog('batch b'));
    const id = '0123456789ABCDEF0123456789ABCDEF';
    assert.equal((await post(ts, token, body, { 'Logplex-Frame-Id': id })).status, 204);
    assert.equal((await post(ts, token, body, { 'Logplex-Frame-Id': id })).status, 204);
    assert.equal(app.ring.count, 2);
    assert.equal((await post(ts, heroku, body, { 'Logplex-Frame-Id': id })).status, 204);
    assert.equal(app.ring.count, 4);
    assert.equal((await post(ts, token, body, { 'Logplex-Frame-Id': 'another-id' })).status, 204);
    assert.equal(app.ring.count, 6);
    assert.deepEqual(linesOf(app).map((l) => l.source), ['app', 'app', 'heroku', 'heroku', 'app', 'app']);
  });

  test('X-Request-Id is used as the frame id when Logplex-Frame-Id is absent', async () => {
    const { app, token } = await newApp(ts);
    const body = frames(syslog('once'));
    assert.equal((await post(ts, token, body, { 'X-Request-Id': 'req-42' })).status, 204);
    assert.equal((await post(ts, token, body, { 'X-Request-Id': 'req-42' })).status, 204);
    assert.equal(app.ring.count, 1);
  });

  test('a rejected batch does not burn its Frame-Id: the fixed retry is stored', async () => {
    const { app, token } = await newApp(ts);
    const id = 'retry-after-400';
    assert.equal((await post(ts, token, frames(syslog('a')), { 'Logplex-Frame-Id': id, 'Logplex-Msg-Count': '9' })).status, 400);
    assert.equal((await post(ts, token, frames(syslog('a')), { 'Logplex-Frame-Id': id, 'Logplex-Msg-Count': '1' })).status, 204);
    assert.equal(app.ring.count, 1);
  });

  test('a request answers the same on the lean front (identity) as through fastify (gzip): status, headers, body', async () => {
    const { token } = await newApp(ts);
    const answer = async (body: Buffer, headers: Record<string, string>, gzip: boolean): Promise<string> => {
      const h = { 'Request-Id': 'same-id-1', ...headers, ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) };
      const res = await post(ts, token, gzip ? gzipSync(body) : body, h);
      const hs = [...res.headers].filter(([k]) => k !== 'date').map(([k, v]) => `${k}: ${v}`);
      return `${res.status} ${hs.join('; ')} ${await res.text()}`;
    };
    const cases: [Buffer, Record<string, string>][] = [
      [frames(syslog('ok')), {}],
      [frames(syslog('ok'), 'junk'), {}],
      [frames(syslog('ok'), 'junk'), { Accept: 'application/json' }],
      [frames(syslog('ok')), { 'Logplex-Msg-Count': '3' }],
    ];
    for (const [body, headers] of cases) assert.equal(await answer(body, headers, false), await answer(body, headers, true));
    // a retry answered by the other path is still a duplicate
    assert.equal(await answer(frames(syslog('once')), { 'Logplex-Frame-Id': 'f-1' }, false), await answer(frames(syslog('once')), { 'Logplex-Frame-Id': 'f-1' }, true));
  });

  test('a body whose cooked lines outgrow a worker\'s shared answer buffer is stored whole, and the requests after it too', async () => {
    const { app, token } = await newApp(ts);
    const big = frames(...Array.from({ length: 3000 }, (_, i) => syslog(`big ${i} ${'x'.repeat(150)}`)));
    assert.ok(big.length > 512 * 1024);
    assert.equal((await post(ts, token, big)).status, 204);
    for (let i = 0; i < 40; i++) assert.equal((await post(ts, token, frames(syslog(`after ${i}`)))).status, 204);
    const lines = linesOf(app);
    assert.equal(lines.length, 1500);
    assert.equal(lines.at(-41)!.msg, `big 2999 ${'x'.repeat(150)}`);
    assert.deepEqual(lines.slice(-40).map((l) => l.msg), Array.from({ length: 40 }, (_, i) => `after ${i}`));
  });

  test('a body many times the first buffer a body gets (BODY_START) grows as it arrives and is stored whole', async () => {
    const { app, token } = await newApp(ts);
    const body = frames(...Array.from({ length: 7000 }, (_, i) => syslog(`large ${i} ${'y'.repeat(300)}`)));
    assert.ok(body.length > 32 * BODY_START);
    assert.equal((await post(ts, token, body, { 'Logplex-Msg-Count': '7000' })).status, 204);
    const lines = linesOf(app);
    assert.equal(lines.length, 1500);
    assert.deepEqual([lines[0]!.msg, lines.at(-1)!.msg], [`large 5500 ${'y'.repeat(300)}`, `large 6999 ${'y'.repeat(300)}`]);
  });

  test('metrics: accepted lines (after cooking), bytes, drops by reason, requests by code', async () => {
    const { token } = await newApp(ts);
    const lines0 = await metric(ts, 'logplane_ingest_lines_total{transport="http"}');
    const bytes0 = await metric(ts, 'logplane_ingest_bytes_total{transport="http"}');
    const mism0 = await metric(ts, 'logplane_ingest_dropped_total{transport="http",reason="count_mismatch"}');
    const bad0 = await metric(ts, 'logplane_ingest_dropped_total{transport="http",reason="malformed"}');
    const auth0 = await metric(ts, 'logplane_ingest_dropped_total{transport="http",reason="unknown_token"}');
    const r204 = await metric(ts, 'logplane_ingest_requests_total{code="204"}');
    const r400 = await metric(ts, 'logplane_ingest_requests_total{code="400"}');

    const m1 = syslog('a\nb');
    const m2 = syslog('c');
    assert.equal((await post(ts, token, frames(m1, m2))).status, 204);
    assert.equal((await post(ts, token, frames(m1), { 'Logplex-Msg-Count': '5' })).status, 400);
    assert.equal((await post(ts, token, frames('junk'))).status, 400);
    assert.equal((await post(ts, null, frames(m1))).status, 401);

    assert.equal(await metric(ts, 'logplane_ingest_lines_total{transport="http"}'), lines0 + 3);
    assert.equal(await metric(ts, 'logplane_ingest_bytes_total{transport="http"}'), bytes0 + m1.length + m2.length);
    assert.equal(await metric(ts, 'logplane_ingest_dropped_total{transport="http",reason="count_mismatch"}'), mism0 + 1);
    assert.equal(await metric(ts, 'logplane_ingest_dropped_total{transport="http",reason="malformed"}'), bad0 + 1);
    assert.equal(await metric(ts, 'logplane_ingest_dropped_total{transport="http",reason="unknown_token"}'), auth0 + 1);
    assert.equal(await metric(ts, 'logplane_ingest_requests_total{code="204"}'), r204 + 1);
    assert.equal(await metric(ts, 'logplane_ingest_requests_total{code="400"}'), r400 + 2);
  });
});

// `logplane run` sends its L12/L13 notices with the app token it ships with
// (SPEC 14: source heroku, dyno logplane): the one frame shape an app token
// writes as heroku[logplane]. Both cook paths: in an ingest worker and on the
// main thread (no workers).
const NOTICE_T = '2024-05-01T12:00:00.123000+00:00';
const L12 = `Error L12 (Local buffer overflow): 39 messages dropped since ${NOTICE_T}.`;
const L13 = `Error L13 (Local delivery error): 11 messages could not be delivered since ${NOTICE_T}.`;
/** A frame as `logplane run` writes its notices (shipper.ts): PRI 172, APP-NAME heroku, PROCID logplane, nil MSGID and SD. */
function notice(msg: string, appName = 'heroku', procid = 'logplane'): string {
  return `<172>1 ${TS} host ${appName} ${procid} - - ${msg}`;
}

for (const workers of ['1', '0']) {
  describe(`POST /logs: logplane run's L12/L13 notices from an app token (LOGPLANE_INGEST_WORKERS=${workers})`, () => {
    let ts: TestServer;
    before(async () => {
      ts = await startServer({ LOGPLANE_INGEST_WORKERS: workers });
    });
    after(async () => {
      await ts.close();
    });

    test('an exact L12 or L13 notice from APP-NAME heroku, PROCID logplane is heroku[logplane], with any token of the app; the frames around it keep the token name', async () => {
      const { app, token } = await newApp(ts);
      const deploy = (await ts.server.ctx.registry.createToken(app.id, 'deploy')).token;
      const big = `Error L12 (Local buffer overflow): 9007199254740991 messages dropped since ${NOTICE_T}.`;
      assert.equal((await post(ts, token, frames(syslog('before'), notice(L12), notice(L13), syslog('after')))).status, 204);
      assert.equal((await post(ts, deploy, frames(notice(L13), notice(`${big}\r\n`), syslog('deployed', { dyno: 'release' })))).status, 204);
      assert.deepEqual(linesOf(app).map((l) => `${l.source}[${l.dyno}]: ${l.msg}`), [
        'app[web.1]: before',
        `heroku[logplane]: ${L12}`,
        `heroku[logplane]: ${L13}`,
        'app[web.1]: after',
        `heroku[logplane]: ${L13}`,
        `heroku[logplane]: ${big}`,
        'deploy[release]: deployed',
      ]);
      assert.deepEqual(linesOf(app).filter((l) => l.source === 'heroku').map((l) => l.pri), [172, 172, 172, 172]);
      // the console's per-source rate counts them as heroku's
      const s = app.rates.series(Math.floor(Date.now() / 1000));
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      assert.deepEqual([sum(s.counts.app), sum(s.counts.heroku), sum(s.counts.other)], [2, 4, 1]);
    });

    test('anything else stays under the token name: another message, text after the period, another PROCID or APP-NAME', async () => {
      const { app, token } = await newApp(ts);
      const sent = [
        notice('Error L12 (Local buffer overflow): lots'),
        notice(`${L12} and more`),
        notice(`${L12}.`),
        notice(L12.slice(0, -1)),
        notice(`${L12}\nsecond line`),
        notice(` ${L12}`),
        notice(L12.replace('39', '039')),
        notice(L12.replace('39', '')),
        notice(L12.replace('39', '12345678901234567')),
        notice(L12.replace('39', '-1')),
        notice(L12.replace(NOTICE_T, '2024-05-01T12:00:00.123Z')),
        notice(L12.replace(NOTICE_T, '2024-05-01T12:00:00.123+00:00')),
        notice(L12.replace(NOTICE_T, '2024-05-01T12:00:00.123000+01:00')),
        notice(L12.replace(NOTICE_T, 'yesterday')),
        notice(L12.replace('dropped', 'could not be delivered')),
        notice(L13.replace('L13', 'L12')),
        notice(L12.replace('overflow', 'Overflow')),
        notice('Error R14 (Memory quota exceeded)'),
        notice(L12, 'heroku', 'router'),
        notice(L12, 'heroku', 'logplane2'),
        notice(L12, 'heroku', 'Logplane'),
        notice(L13, 'app', 'logplane'),
        notice(L13, 'Heroku', 'logplane'),
        notice(L13, 'herokx', 'logplane'),
        notice(L13, 'heroku2', 'logplane'),
      ];
      assert.equal((await post(ts, token, frames(...sent))).status, 204);
      const lines = linesOf(app);
      assert.equal(lines.length, sent.length + 1, 'the message with an LF is two lines');
      assert.deepEqual(lines.filter((l) => l.source !== 'app').map((l) => `${l.source}[${l.dyno}]: ${l.msg}`), []);
      // the first line of a message with an LF is the notice text, still from app
      assert.deepEqual([lines[4]!.msg, lines[5]!.msg], [L12, 'second line']);
    });
  });
}

describe('POST /logs: a declared body is not reserved before it arrives (SPEC 17)', () => {
  const CONNECTIONS = 200;

  test(`${CONNECTIONS} connections that declare a body of about 1 MiB and send one byte hold little memory; their bodies are stored once sent`, async () => {
    const ts = await startServer();
    const socks: Socket[] = [];
    let seen = 0;
    const count = (req: IncomingMessage): void => {
      if (req.url === '/logs') seen++;
    };
    try {
      const { app, token } = await newApp(ts);
      const body = frames(...Array.from({ length: 4500 }, (_, i) => syslog(`slow ${i} ${'z'.repeat(150)}`)));
      assert.ok(body.length > 900 * 1024 && body.length <= 1024 * 1024);
      const head = `POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/logplex-1\r\nAuthorization: ${basic(token)}\r\nContent-Length: ${body.length}\r\n\r\n`;
      ts.server.http.server.on('request', count);
      const before = process.memoryUsage().arrayBuffers;
      for (let i = 0; i < CONNECTIONS; i++) {
        const s = connect(ts.server.ports.http, '127.0.0.1');
        s.on('error', () => {});
        s.write(Buffer.concat([Buffer.from(head), body.subarray(0, 1)]));
        socks.push(s);
      }
      for (let i = 0; i < 500 && seen < CONNECTIONS; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(seen, CONNECTIONS);
      await new Promise((r) => setTimeout(r, 100)); // their first bytes read
      const grown = process.memoryUsage().arrayBuffers - before;
      // 64 KiB each at most (BODY_START), not the 0.9 MiB declared (over 180 MiB in all)
      assert.ok(grown < 64 * 1024 * 1024, `arrayBuffers grew by ${(grown / 1e6).toFixed(0)} MB`);
      // the rest of two bodies: read whole and stored
      const answers = socks.slice(0, 2).map((s) => new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString('latin1')))));
      for (const s of socks.slice(0, 2)) s.write(body.subarray(1));
      for (const a of answers) assert.match(await a, /^HTTP\/1\.1 204 /);
      assert.equal(app.ring.count, 1500);
    } finally {
      ts.server.http.server.off('request', count);
      for (const s of socks) s.destroy();
      await ts.close();
    }
  });

  test('an unknown token declaring a large body is answered 401 before the body is sent, and over the limit the connection is closed', async () => {
    const ts = await startServer();
    try {
      const bad = basic('t.00000000-0000-4000-8000-000000000000');
      const answer = (length: number) =>
        new Promise<string>((resolve) => {
          const s = connect(ts.server.ports.http, '127.0.0.1');
          let got = '';
          s.on('error', () => {});
          s.on('data', (d: Buffer) => {
            got += d.toString('latin1');
            if (length <= ts.server.ctx.config.maxBodyBytes && got.includes('\r\n\r\n')) s.destroy();
          });
          s.on('close', () => resolve(got));
          // the headers only: the answer must not wait for the body
          s.write(`POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/logplex-1\r\nAuthorization: ${bad}\r\nContent-Length: ${length}\r\n\r\n`);
        });
      assert.match(await answer(1024 * 1024), /^HTTP\/1\.1 401 [^]*www-authenticate: Basic realm=Logplex/i);
      const over = await answer(16 * 1024 * 1024);
      assert.match(over, /^HTTP\/1\.1 401 [^]*connection: close/i);
    } finally {
      await ts.close();
    }
  });
});

describe('POST /logs size limits', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startServer({ LOGPLANE_MAX_BODY_BYTES: '4096' });
  });
  after(async () => {
    await ts.close();
  });

  test('a body over LOGPLANE_MAX_BODY_BYTES is 413 and nothing is stored', async () => {
    const { app, token } = await newApp(ts);
    const body = frames(...Array.from({ length: 60 }, (_, i) => syslog(`line ${i} ${'x'.repeat(100)}`)));
    assert.ok(body.length > 4096);
    const res = await post(ts, token, body);
    assert.equal(res.status, 413);
    assert.match(await res.text(), /4096 bytes/);
    assert.equal(app.ring.count, 0);
  });

  test('a chunked body that grows over the limit is 413', async () => {
    const { app, token } = await newApp(ts);
    const f = frame(syslog('x'.repeat(900)));
    const res = await postChunked(ts, token, [f, f, f, f, f, f]);
    assert.equal(res.status, 413);
    assert.equal(app.ring.count, 0);
  });

  test('a gzip bomb (small on the wire, huge inflated) is 413 and nothing is stored', async () => {
    const { app, token } = await newApp(ts);
    const inflated = Buffer.concat([frame(syslog('x'.repeat(60_000))), Buffer.alloc(3 * 1024 * 1024, 0x41)]);
    const bomb = gzipSync(inflated, { level: 9 });
    assert.ok(bomb.length < 4096, `bomb is ${bomb.length} bytes`);
    const tooBig0 = await metric(ts, 'logplane_ingest_dropped_total{transport="http",reason="too_large"}');
    const res = await post(ts, token, bomb, { 'Content-Encoding': 'gzip' });
    assert.equal(res.status, 413);
    assert.match(await res.text(), /Decompressed body larger than 4096 bytes/);
    assert.equal(app.ring.count, 0);
    assert.equal(await metric(ts, 'logplane_ingest_dropped_total{transport="http",reason="too_large"}'), tooBig0 + 1);
  });

  test('a body within the limit is still accepted after those', async () => {
    const { app, token } = await newApp(ts);
    assert.equal((await post(ts, token, frames(syslog('fits')))).status, 204);
    assert.equal(app.ring.count, 1);
  });
});

describe('POST /logs route registration', () => {
  test('other routes keep their JSON parsing and do not accept logplex bodies', async () => {
    const ts = await startServer();
    try {
      const app = Fastify();
      app.post('/echo', async (req) => ({ got: req.body }));
      registerHttpIngest(app, ts.server.ctx);
      await app.ready();
      const json = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"a":1}' });
      assert.equal(json.statusCode, 200);
      assert.deepEqual(json.json(), { got: { a: 1 } });
      const lp = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/logplex-1' }, payload: '3 abc' });
      assert.equal(lp.statusCode, 415);
      await app.close();
    } finally {
      await ts.close();
    }
  });
});
