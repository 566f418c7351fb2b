// Logplex v3 management API (SPEC 4, 7, 11): every route, the three auth
// forms, Request-Id, error shapes, and the byte-exact history format.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { lineFrom } from '../../src/line.js';
import { route } from '../../src/router.js';
import { startServer, type TestServer } from '../support/server.js';

const TOKEN_RE = /^t\.[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let s: TestServer;

before(async () => {
  s = await startServer();
});
after(async () => {
  await s?.close();
});

interface Res {
  status: number;
  headers: Headers;
  text: string;
  body: Buffer;
  json: any;
}

async function call(method: string, path: string, opts: { auth?: string | null; body?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? s.auth : opts.auth;
  if (auth !== null) headers['authorization'] = auth;
  if (opts.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  const r = await fetch(`${s.url}${path}`, { method, headers, body: opts.body, signal: AbortSignal.timeout(10_000) });
  const body = Buffer.from(await r.arrayBuffer());
  const text = body.toString('utf8');
  let json: any = null;
  if ((r.headers.get('content-type') ?? '').startsWith('application/json')) json = JSON.parse(text);
  return { status: r.status, headers: r.headers, text, body, json };
}

function assertError(r: Res, status: number, id?: string, mentions?: string): void {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(typeof r.json.id, 'string');
  assert.equal(typeof r.json.error, 'string');
  assert.deepEqual(Object.keys(r.json).sort(), ['error', 'id']);
  if (id) assert.equal(r.json.id, id);
  if (mentions) assert.ok(r.json.error.includes(mentions), `error ${JSON.stringify(r.json.error)} should name ${mentions}`);
}

async function createApp(id: string, tokens: string[] = ['app', 'heroku']): Promise<Record<string, string>> {
  const r = await call('PUT', `/v3/channels/${id}`, { body: JSON.stringify({ tokens }) });
  assert.ok(r.status === 201 || r.status === 200, r.text);
  return r.json.tokens;
}

/** Send octet-counted syslog frames over TCP and wait until the app holds `expect` lines. */
async function sendSyslog(app: string, msgs: string[], expect: number): Promise<void> {
  const port = s.server.ports.syslog!;
  const payload = Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from(`${Buffer.byteLength(m)} `), Buffer.from(m)])));
  await new Promise<void>((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.end(payload));
    sock.on('error', reject);
    sock.on('close', () => resolve());
    sock.setTimeout(5000, () => sock.destroy(new Error('syslog socket timeout')));
  });
  const deadline = Date.now() + 5000;
  while ((s.server.ctx.registry.get(app)?.ring.count ?? 0) < expect) {
    if (Date.now() > deadline) throw new Error(`app ${app} has ${s.server.ctx.registry.get(app)?.ring.count} lines, want ${expect}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `LEN MSG` where LEN counts the bytes of MSG including its LF. */
function frame(msg: string): string {
  const m = `${msg}\n`;
  return `${Buffer.byteLength(m)} ${m}`;
}

describe('healthcheck and auth', () => {
  it('GET /v3/healthcheck needs no auth and answers OK', async () => {
    const r = await call('GET', '/v3/healthcheck', { auth: null });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'OK');
    assert.ok(r.headers.get('request-id'));
  });

  it('accepts the three admin auth forms', async () => {
    const forms = [`Basic ${s.apiKey}`, `Basic ${Buffer.from(`anyone:${s.apiKey}`).toString('base64')}`, `Bearer ${s.apiKey}`, `Basic ${Buffer.from(`:${s.apiKey}`).toString('base64')}`];
    for (const auth of forms) {
      const r = await call('GET', '/v3/channels', { auth });
      assert.equal(r.status, 200, `${auth.split(' ')[0]}: ${r.text}`);
    }
  });

  it('refuses a wrong or missing key with 401 JSON, on every admin route', async () => {
    const wrong = [null, 'Bearer nope-not-the-key', `Basic ${Buffer.from('x:wrong').toString('base64')}`, 'Basic wrong', `Token ${s.apiKey}`, 'Bearer'];
    for (const auth of wrong) {
      assertError(await call('GET', '/v3/channels', { auth }), 401, 'unauthorized');
    }
    const routes: [string, string, string?][] = [
      ['PUT', '/v3/channels/x', '{"tokens":[]}'],
      ['GET', '/v3/channels/x'],
      ['DELETE', '/v3/channels/x'],
      ['POST', '/v3/channels/x/tokens', '{"name":"app"}'],
      ['GET', '/v3/channels/x/logs'],
    ];
    for (const [m, p, body] of routes) assertError(await call(m, p, { auth: 'Bearer wrong', body }), 401, 'unauthorized');
    assert.equal(s.server.ctx.registry.get('x'), undefined);
  });

  it('checks the key before reading the body (bad JSON with a wrong key is 401)', async () => {
    assertError(await call('PUT', '/v3/channels/y', { auth: 'Bearer wrong', body: '{"tokens":' }), 401);
  });

  it('echoes Request-Id (and X-Request-Id) and generates one otherwise, errors included', async () => {
    let r = await call('GET', '/v3/channels', { headers: { 'Request-Id': 'abc-123.x' } });
    assert.equal(r.headers.get('request-id'), 'abc-123.x');
    r = await call('GET', '/v3/channels', { headers: { 'X-Request-Id': 'from-x-header' } });
    assert.equal(r.headers.get('request-id'), 'from-x-header');
    r = await call('GET', '/v3/channels/none-such', { headers: { 'Request-Id': 'err-1' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('request-id'), 'err-1');
    r = await call('GET', '/v3/channels', { auth: 'Bearer wrong' });
    assert.match(r.headers.get('request-id') ?? '', UUID_RE);
    const a = await call('GET', '/v3/channels');
    const b = await call('GET', '/v3/channels');
    assert.match(a.headers.get('request-id') ?? '', UUID_RE);
    assert.notEqual(a.headers.get('request-id'), b.headers.get('request-id'));
  });
});

describe('channels', () => {
  it('PUT creates (201) with exactly the given token names, then replaces the set (200)', async () => {
    let r = await call('PUT', '/v3/channels/shop', { body: '{"tokens":["app","heroku"]}' });
    assert.equal(r.status, 201);
    assert.deepEqual(Object.keys(r.json).sort(), ['channel', 'drains', 'tokens']);
    assert.equal(r.json.channel, 'shop');
    assert.deepEqual(r.json.drains, []);
    assert.deepEqual(Object.keys(r.json.tokens).sort(), ['app', 'heroku']);
    for (const t of Object.values(r.json.tokens)) assert.match(t as string, TOKEN_RE);
    const first = r.json.tokens;

    r = await call('PUT', '/v3/channels/shop', { body: '{"tokens":["app","router"]}' });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json.tokens).sort(), ['app', 'router']);
    assert.equal(r.json.tokens.app, first.app, 'a kept name keeps its token');
    assert.equal(s.server.ctx.registry.tokens.get(first.heroku), undefined, 'a dropped name no longer authenticates');

    r = await call('GET', '/v3/channels/shop');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { channel: 'shop', tokens: { app: first.app, router: r.json.tokens.router }, drains: [] });
  });

  it('PUT accepts a JSON body sent as another type than application/json, curl -d\'s form type included; the form type from a browser is 415 (CSRF)', async () => {
    const r = await call('PUT', '/v3/channels/curl-app', { body: '{"tokens":["app"]}', headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(r.status, 201, r.text);
    // what `curl -u :KEY -X PUT -d '{...}'` sends, as Logplex's own examples do
    assert.equal((await call('PUT', '/v3/channels/curl-d', { body: '{"tokens":["app"]}', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 201);
    // the same from a browser's form (it names where it comes from)
    assertError(await call('PUT', '/v3/channels/curl-form', { body: '{"tokens":["app"]}', headers: { 'content-type': 'application/x-www-form-urlencoded', referer: `${s.url}/console` } }), 415, 'unsupported_media_type');
    assert.equal(s.server.ctx.registry.get('curl-form'), undefined);
  });

  it('PUT with If-None-Match: * refuses an existing channel with 412', async () => {
    await createApp('cond');
    const r = await call('PUT', '/v3/channels/cond', { body: '{"tokens":[]}', headers: { 'if-none-match': '*' } });
    assertError(r, 412, 'already_exists');
    const ok = await call('PUT', '/v3/channels/cond-new', { body: '{"tokens":[]}', headers: { 'if-none-match': '*' } });
    assert.equal(ok.status, 201);
  });

  it('unknown channel: 404 {"id":"not_found","error":"channel not found"} on every channel route', async () => {
    const expected = { id: 'not_found', error: 'channel not found' };
    for (const [m, p, body] of [
      ['GET', '/v3/channels/nope'],
      ['DELETE', '/v3/channels/nope'],
      ['POST', '/v3/channels/nope/tokens', '{"name":"app"}'],
      ['GET', '/v3/channels/nope/logs'],
    ] as [string, string, string?][]) {
      const r = await call(m, p, { body });
      assert.equal(r.status, 404, `${m} ${p}`);
      assert.deepEqual(r.json, expected);
    }
  });

  it('DELETE answers 204 and the app, its tokens and its history are gone', async () => {
    const tokens = await createApp('doomed');
    route(s.server.ctx.registry.get('doomed')!, lineFrom({ pri: 190, ts: '2024-01-01T00:00:00Z', source: 'app', dyno: 'web.1', msg: 'x' }));
    const r = await call('DELETE', '/v3/channels/doomed');
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal((await call('GET', '/v3/channels/doomed')).status, 404);
    assert.equal(s.server.ctx.registry.tokens.get(tokens.app!), undefined);
    assert.equal((await call('DELETE', '/v3/channels/doomed')).status, 404);
  });

  it('POST tokens adds a named token (200 {"token","name"}) that authenticates as that source', async () => {
    await createApp('tok', []);
    const r = await call('POST', '/v3/channels/tok/tokens', { body: '{"name":"worker"}' });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ['name', 'token']);
    assert.equal(r.json.name, 'worker');
    assert.match(r.json.token, TOKEN_RE);
    await sendSyslog('tok', [`<190>1 2024-01-01T00:00:00Z h ${r.json.token} worker.1 - - from the worker`], 1);
    const h = await call('GET', '/v3/channels/tok/logs');
    assert.ok(h.text.includes(' host worker worker.1 - from the worker\n'), h.text);
    const g = await call('GET', '/v3/channels/tok');
    assert.equal(g.json.tokens.worker, r.json.token);
  });
});

describe('bad input names the field (SPEC 11)', () => {
  before(async () => {
    await createApp('val');
  });

  it('invalid JSON: 400 invalid_json, with or without a JSON content type', async () => {
    assertError(await call('PUT', '/v3/channels/val', { body: '{"tokens":' }), 400, 'invalid_json');
    assertError(await call('PUT', '/v3/channels/val', { body: '{"tokens":', headers: { 'content-type': 'application/octet-stream' } }), 400, 'invalid_json');
    assertError(await call('POST', '/v3/channels/val/tokens', { body: 'name=app', headers: { 'content-type': 'json' } }), 400, 'invalid_json');
    // one rule whatever the type: an empty body is no body, so the missing field is named
    assertError(await call('PUT', '/v3/channels/val', { body: '', headers: { 'content-type': 'application/json' } }), 400, 'invalid_params', 'tokens');
  });

  it('missing or wrong-typed fields: 400 naming the field', async () => {
    assertError(await call('PUT', '/v3/channels/val', { body: '{}' }), 400, 'invalid_params', 'tokens');
    assertError(await call('PUT', '/v3/channels/val'), 400, 'invalid_params', 'tokens');
    assertError(await call('PUT', '/v3/channels/val', { body: '{"tokens":"app"}' }), 400, 'invalid_params', 'tokens');
    assertError(await call('PUT', '/v3/channels/val', { body: '{"tokens":["app",7]}' }), 400, 'invalid_params', 'tokens[1]');
    assertError(await call('PUT', '/v3/channels/val', { body: '{"tokens":["has space"]}' }), 400, 'invalid_params', 'tokens');
    assertError(await call('PUT', '/v3/channels/val', { body: '["app"]' }), 400, 'invalid_params', 'body');
    assertError(await call('POST', '/v3/channels/val/tokens', { body: '{}' }), 400, 'invalid_params', 'name');
    assertError(await call('POST', '/v3/channels/val/tokens', { body: '{"name":5}' }), 400, 'invalid_params', 'name');
    assertError(await call('POST', '/v3/channels/val/tokens', { body: '{"name":""}' }), 400, 'invalid_params', 'name');
    assertError(await call('PUT', '/v3/channels/Bad_Id!', { body: '{"tokens":[]}' }), 400, 'invalid_channel', 'channel');
    // nothing was changed by the rejected requests
    assert.deepEqual(Object.keys((await call('GET', '/v3/channels/val')).json.tokens).sort(), ['app', 'heroku']);
  });

  it('bad num and limit: 400 naming the parameter', async () => {
    for (const q of ['num=-1', 'num=abc', 'num=1.5', 'num=1e3']) {
      assertError(await call('GET', `/v3/channels/val/logs?${q}`), 400, 'invalid_params', 'num');
    }
    for (const q of ['limit=0', 'limit=x', 'limit=1001']) {
      assertError(await call('GET', `/v3/channels?${q}`), 400, 'invalid_params', 'limit');
    }
  });
});

describe('history: GET /v3/channels/:app/logs (SPEC 4)', () => {
  let tokens: Record<string, string>;
  before(async () => {
    tokens = await createApp('hist');
    await sendSyslog(
      'hist',
      [
        `<190>1 2024-05-01T10:00:00.000001+00:00 dyno-host ${tokens.app} web.1 - - first line`,
        `<13>1 2024-05-01T10:00:01Z other-host ${tokens.heroku} router - - at=info method=GET`,
        // LEN counts bytes, not characters
        `<190>1 2024-05-01T10:00:02+02:00 h ${tokens.app} worker.2 - - h\u00e9llo \u2603`,
      ],
      3,
    );
  });

  const all = [
    '<190>1 2024-05-01T10:00:00.000001+00:00 host app web.1 - first line',
    '<13>1 2024-05-01T10:00:01Z host heroku router - at=info method=GET',
    '<190>1 2024-05-01T10:00:02+02:00 host app worker.2 - h\u00e9llo \u2603',
  ];

  it('returns the newest num lines, oldest first, byte-exact, with Logplex-Msg-Count', async () => {
    const r = await call('GET', '/v3/channels/hist/logs?num=2');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/logplex-1');
    assert.equal(r.headers.get('logplex-msg-count'), '2');
    assert.ok(r.headers.get('request-id'));
    assert.equal(r.body.toString('utf8'), frame(all[1]!) + frame(all[2]!));
    assert.ok(r.body.toString('latin1').startsWith(`${Buffer.byteLength(`${all[1]}\n`)} `));
    // the multi-byte line: LEN is its byte length including the LF
    const third = `${all[2]}\n`;
    assert.equal(Buffer.byteLength(third), third.length + 3); // é is 2 bytes, ☃ is 3
    assert.ok(r.body.toString('utf8').endsWith(`${Buffer.byteLength(third)} ${third}`));
  });

  it('num larger than stored returns exactly the stored lines (not N+1)', async () => {
    for (const q of ['?num=3', '?num=4', '?num=1000', '?num=999999999999', '']) {
      const r = await call('GET', `/v3/channels/hist/logs${q}`);
      assert.equal(r.headers.get('logplex-msg-count'), '3', q);
      assert.equal(r.body.toString('utf8'), all.map(frame).join(''), q);
    }
  });

  it('num=1 gives the newest line; num=0 gives an empty 200', async () => {
    let r = await call('GET', '/v3/channels/hist/logs?num=1');
    assert.equal(r.body.toString('utf8'), frame(all[2]!));
    assert.equal(r.headers.get('logplex-msg-count'), '1');
    r = await call('GET', '/v3/channels/hist/logs?num=0');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.equal(r.headers.get('logplex-msg-count'), '0');
  });

  it('an app with no lines gives an empty 200', async () => {
    await createApp('empty-hist');
    const r = await call('GET', '/v3/channels/empty-hist/logs?num=10');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/logplex-1');
    assert.equal(r.headers.get('logplex-msg-count'), '0');
    assert.equal(r.body.length, 0);
  });

  it('defaults to 100 lines', async () => {
    await createApp('many', []);
    const app = s.server.ctx.registry.get('many')!;
    for (let i = 1; i <= 150; i++) route(app, lineFrom({ pri: 190, ts: '2024-01-01T00:00:00Z', source: 'app', dyno: 'web.1', msg: `n${i}` }));
    const r = await call('GET', '/v3/channels/many/logs');
    assert.equal(r.headers.get('logplex-msg-count'), '100');
    const text = r.body.toString('utf8');
    assert.ok(text.startsWith(frame('<190>1 2024-01-01T00:00:00Z host app web.1 - n51')), text.slice(0, 80));
    assert.ok(text.endsWith(frame('<190>1 2024-01-01T00:00:00Z host app web.1 - n150')));
  });
});

describe('GET /v3/channels (paged list with stats)', () => {
  it('pages with limit and after, in id order, with a next cursor and a Link header', async () => {
    for (const id of ['page-c', 'page-a', 'page-e', 'page-b', 'page-d']) await createApp(id, ['app']);
    const seen: string[] = [];
    let after = 'page-';
    for (let i = 0; i < 10; i++) {
      const r = await call('GET', `/v3/channels?limit=2&after=${after}`);
      assert.equal(r.status, 200);
      const ids = (r.json.channels as { channel: string }[]).map((c) => c.channel).filter((c) => c.startsWith('page-'));
      seen.push(...ids);
      if (ids.length < 2 || r.json.next === null || !String(r.json.next).startsWith('page-')) break;
      assert.equal(r.json.next, ids[1]);
      assert.equal(r.headers.get('link'), `</v3/channels?limit=2&after=${ids[1]}>; rel="next"`);
      after = r.json.next;
    }
    assert.deepEqual(seen, ['page-a', 'page-b', 'page-c', 'page-d', 'page-e']);
  });

  it('the last page has next null and no Link', async () => {
    const r = await call('GET', '/v3/channels?limit=1000');
    assert.equal(r.json.next, null);
    assert.equal(r.headers.get('link'), null);
    const ids = (r.json.channels as { channel: string }[]).map((c) => c.channel);
    assert.deepEqual(ids, [...ids].sort());
  });

  it('shows per-app stats and token names, never token values', async () => {
    const tokens = await createApp('stats', ['app']);
    await sendSyslog('stats', [`<190>1 2024-01-01T00:00:00Z h ${tokens.app} web.1 - - one`, `<190>1 2024-01-01T00:00:00Z h ${tokens.app} web.1 - - two`], 2);
    const r = await call('GET', '/v3/channels?after=statr&limit=1');
    const e = r.json.channels[0];
    assert.equal(e.channel, 'stats');
    assert.deepEqual(e.token_names, ['app']);
    assert.equal(e.drains, 0);
    assert.equal(e.stats.lines_in, 2);
    assert.equal(e.stats.ring_lines, 2);
    assert.equal(e.stats.last_seq, 2);
    assert.ok(e.stats.bytes_in > 0 && e.stats.ring_bytes > 0);
    assert.doesNotMatch(r.text, /t\.[0-9a-f]{8}-/, 'no token values in the list');
  });
});

describe('metrics', () => {
  it('counts API requests by status class', async () => {
    await call('GET', '/v3/channels');
    await call('GET', '/v3/channels', { auth: 'Bearer wrong' });
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const count = (cls: string) => Number(new RegExp(`^logplane_api_requests_total\\{code="${cls}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    assert.ok(count('2xx') >= 1, text);
    assert.ok(count('4xx') >= 1, text);
  });
});

describe('limits', () => {
  it('a management body over 64 KiB gets 413 JSON, whatever its content type', async () => {
    const big = JSON.stringify({ tokens: ['app'], pad: 'x'.repeat(70 * 1024) });
    assertError(await call('PUT', '/v3/channels/big', { body: big }), 413, 'body_too_large');
    assertError(await call('PUT', '/v3/channels/big', { body: big, headers: { 'content-type': 'application/octet-stream' } }), 413, 'body_too_large');
    assert.equal(s.server.ctx.registry.get('big'), undefined);
  });
});
