// The edges every management route shares (docs/api.md "Common behaviour"):
// the key is checked on arrival, before any of the body is read; bodies are
// JSON whatever their declared Content-Type (but the three a browser's form
// can send, refused with every request from another site: CSRF), UTF-8,
// gzipped or not (any other Content-Encoding is 415), and capped at 64 KiB
// (inflated too); ids longer
// than the router's default parameter length get the SPEC error shapes; and
// `heroku drains --extended` gets its drain_id. Table-driven over every
// management route: v3 channels, tokens, history, drains, sessions v2/v3 and
// the Heroku Platform API subset.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { startDrainServer, type DrainTestServer } from '../support/drain-receivers.js';
import { partialBody, rawRequest, type RawResponse } from '../support/http.js';

type Json = Record<string, any>;

let t: DrainTestServer;
/** A drain of app `demo` that every route table can name. */
let drainId = '';
let seq = 0;

before(async () => {
  t = await startDrainServer({ LOGPLANE_MAX_DRAINS_PER_APP: '100' });
  await t.server.ctx.registry.putApp('demo', ['app']);
  drainId = (await t.server.drains.add('demo', 'http://127.0.0.1:9/fixed')).id;
});
after(async () => {
  await t?.close();
});

function req(method: string, path: string, opts: { auth?: string | null; type?: string | null; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? t.auth : opts.auth;
  if (auth !== null) headers['authorization'] = auth;
  if (opts.type !== undefined && opts.type !== null) headers['content-type'] = opts.type;
  return rawRequest(t.url, method, path, { headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
}

function assertError(r: RawResponse, status: number, id: string, what: string): void {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.match(String(r.headers['content-type']), /^application\/json/, what);
  assert.equal(r.json?.id, id, `${what}: ${r.text}`);
  assert.equal(typeof r.json?.error, 'string', what);
}

/** Every management route (method, path), the ones that take no body included. */
function allRoutes(): [string, string][] {
  return [
    ['GET', '/v3/channels'],
    ['PUT', '/v3/channels/demo'],
    ['GET', '/v3/channels/demo'],
    ['DELETE', '/v3/channels/demo'],
    ['POST', '/v3/channels/demo/tokens'],
    ['GET', '/v3/channels/demo/logs'],
    ['POST', '/v3/channels/demo/drains'],
    ['GET', '/v3/channels/demo/drains'],
    ['GET', `/v3/channels/demo/drains/${drainId}`],
    ['PUT', `/v3/channels/demo/drains/${drainId}`],
    ['DELETE', `/v3/channels/demo/drains/${drainId}`],
    ['POST', '/v3/sessions'],
    ['POST', '/v2/sessions'],
    ['GET', '/apps/demo'],
    ['POST', '/apps/demo/log-sessions'],
    ['GET', '/apps/demo/log-drains'],
    ['POST', '/apps/demo/log-drains'],
    ['DELETE', `/apps/demo/log-drains/${drainId}`],
  ];
}

interface BodyRoute {
  method: string;
  path: () => string;
  /** A valid body (fresh each call: drain URLs must differ). */
  body: () => Json;
  ok: number;
}

/** Every management route that takes a JSON body, with a body it accepts. */
function bodyRoutes(): BodyRoute[] {
  const url = () => `http://127.0.0.1:9/d${++seq}`;
  return [
    { method: 'PUT', path: () => `/v3/channels/ct-${++seq}`, body: () => ({ tokens: ['app'] }), ok: 201 },
    { method: 'POST', path: () => '/v3/channels/demo/tokens', body: () => ({ name: 'worker' }), ok: 200 },
    { method: 'POST', path: () => '/v3/channels/demo/drains', body: () => ({ url: url() }), ok: 201 },
    { method: 'PUT', path: () => `/v3/channels/demo/drains/${drainId}`, body: () => ({ url: url() }), ok: 200 },
    { method: 'POST', path: () => '/v3/sessions', body: () => ({ channel_id: 'demo', num: '5' }), ok: 201 },
    { method: 'POST', path: () => '/v2/sessions', body: () => ({ channel_id: 'demo', num: 5 }), ok: 201 },
    { method: 'POST', path: () => '/apps/demo/log-sessions', body: () => ({ lines: 5, tail: false }), ok: 201 },
    { method: 'POST', path: () => '/apps/demo/log-drains', body: () => ({ url: url() }), ok: 201 },
  ];
}

/** The declared types scripts and the heroku CLI send, none at all, and a malformed one: all read as JSON. */
const TYPES: (string | null)[] = ['application/json', null, 'application/json; charset=utf-8', 'application/octet-stream', 'json'];

/** The declared types a web page can send to another site without a CORS preflight (an HTML form, `fetch` in no-cors mode). */
const FORGEABLE = ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=----x', 'Text/Plain; charset=utf-8'];

/** The routes of allRoutes() that change something. */
function changingRoutes(): [string, string][] {
  return allRoutes().filter(([method]) => method !== 'GET');
}

function assertUntouched(): void {
  const demo = t.server.ctx.registry.get('demo');
  assert.ok(demo, 'app demo must still exist');
  assert.ok(demo.record.drains.some((d) => d.id === drainId), 'its drain must still exist');
}

describe('auth on arrival and the 64 KiB body cap', () => {
  test('unauthenticated requests get 401 before the body is read, on every management route (invalid JSON included)', async () => {
    for (const [method, path] of allRoutes()) {
      for (const auth of [null, 'Bearer not-the-key']) {
        for (const type of ['application/json', null]) {
          const r = await req(method, path, { auth, type, body: '{"url":' });
          assertError(r, 401, 'unauthorized', `${method} ${path} auth=${auth} type=${type}`);
          // no Basic challenge: it would make a browser prompt for the key and then send it with every request to the origin, forged ones included
          assert.equal(r.headers['www-authenticate'], undefined, `${method} ${path}: no WWW-Authenticate`);
        }
      }
    }
    assertUntouched();
  });

  test('an unauthenticated 8 MiB body is answered 401 and the connection closed before the body is sent', async () => {
    const declared = 8 * 1024 * 1024;
    const sent = 64 * 1024;
    for (const [method, path] of allRoutes()) {
      const r = await partialBody(t.url, method, path, { 'Content-Type': 'application/json', Authorization: 'Bearer not-the-key' }, declared, sent);
      assert.equal(r.status, 401, `${method} ${path}: the 401 must come while the body is still being sent (${r.response.slice(0, 200)})`);
      assert.ok(r.closed, `${method} ${path}: the server must close the connection instead of reading ${declared} bytes`);
      assert.match(r.response, /"id":"unauthorized"/);
    }
    assertUntouched();
  });

  test('an authenticated body over 64 KiB gets 413 JSON on every management route that takes a body', async () => {
    for (const route of bodyRoutes()) {
      for (const type of ['application/json', 'application/octet-stream', null]) {
        const body = JSON.stringify({ ...route.body(), pad: 'x'.repeat(100 * 1024) });
        const r = await req(route.method, route.path(), { type, body });
        assertError(r, 413, 'body_too_large', `${route.method} ${route.path()} type=${type}`);
      }
    }
    // a body just under the cap is read
    const pad = 'x'.repeat(60 * 1024);
    const r = await req('POST', '/v3/sessions', { type: 'application/json', body: JSON.stringify({ channel_id: 'demo', pad }) });
    assert.equal(r.status, 201, r.text);
    assertUntouched();
  });

  test('POST /logs keeps its own token auth and 8 MiB limit', async () => {
    // a 100 KiB ingest body is not refused by the management cap
    const token = t.server.ctx.registry.require('demo').record.tokens[0]!.token;
    const msg = `<190>1 2024-01-01T00:00:00Z host app web.1 - ${'y'.repeat(9000)}`;
    const frame = `${Buffer.byteLength(msg)} ${msg}`;
    const body = frame.repeat(12);
    assert.ok(body.length > 100 * 1024);
    const r = await rawRequest(t.url, 'POST', '/logs', { headers: { authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}`, 'content-type': 'application/logplex-1' }, body });
    assert.equal(r.status, 204, r.text);
    const bad = await rawRequest(t.url, 'POST', '/logs', { headers: { authorization: `Bearer ${t.server.apiKey}`, 'content-type': 'application/logplex-1' }, body: frame });
    assert.equal(bad.status, 401, 'the admin key is not an ingest token');
  });
});

describe('one JSON body rule for every management route', () => {
  test('every management route reads a JSON body whatever its Content-Type but the forgeable three (application/octet-stream, a malformed one, none)', async () => {
    for (const route of bodyRoutes()) {
      for (const type of TYPES) {
        const path = route.path();
        const r = await req(route.method, path, { type, body: JSON.stringify(route.body()) });
        assert.equal(r.status, route.ok, `${route.method} ${path} type=${type}: ${r.status} ${r.text}`);
      }
    }
  });

  test('invalid JSON is 400 invalid_json on every management route, whatever its Content-Type', async () => {
    for (const route of bodyRoutes()) {
      for (const type of TYPES) {
        for (const body of ['{"url":', 'tokens=app', '{"name":"a"} trailing']) {
          const r = await req(route.method, route.path(), { type, body });
          assertError(r, 400, 'invalid_json', `${route.method} ${route.path()} type=${type} body=${body}`);
          assert.match(r.json.error, /^invalid JSON body/);
        }
      }
    }
    assertUntouched();
  });

  test('a gzip body (Content-Encoding: gzip or x-gzip, as POST /logs takes) is read on every management route', async () => {
    for (const route of bodyRoutes()) {
      for (const encoding of ['gzip', 'X-Gzip']) {
        const path = route.path();
        const r = await req(route.method, path, { type: 'application/json', body: gzipSync(JSON.stringify(route.body())), headers: { 'content-encoding': encoding } });
        assert.equal(r.status, route.ok, `${route.method} ${path} ${encoding}: ${r.status} ${r.text}`);
      }
    }
  });

  test('gzip keeps the 64 KiB cap on the inflated body, and bad gzip is 400 invalid_gzip; no answer echoes the body bytes', async () => {
    const gz = { 'content-encoding': 'gzip' };
    // a gzip bomb: 2 MiB of JSON in a few KiB on the wire
    const bomb = gzipSync(JSON.stringify({ channel_id: 'demo', pad: 'x'.repeat(2 * 1024 * 1024) }));
    assert.ok(bomb.length < 64 * 1024);
    assertError(await req('POST', '/v3/sessions', { type: 'application/json', body: bomb, headers: gz }), 413, 'body_too_large', 'inflated over the cap');
    const under = await req('POST', '/v3/sessions', { type: 'application/json', body: gzipSync(JSON.stringify({ channel_id: 'demo', pad: 'x'.repeat(60 * 1024) })), headers: gz });
    assert.equal(under.status, 201, under.text);
    const bad = await req('POST', '/v3/sessions', { type: 'application/json', body: Buffer.from([0x1f, 0x8b, 0x08, 0, 0xff, 0xfe, 0x80, 0x81]), headers: gz });
    assertError(bad, 400, 'invalid_gzip', 'not gzip');
    // gzip sent without saying so, or any other bytes that are not UTF-8: 400 invalid_json naming neither byte
    for (const body of [gzipSync('{"channel_id":"demo"}'), Buffer.from([0x7b, 0xff, 0xfe, 0x22, 0xc3])]) {
      const r = await req('POST', '/v3/sessions', { type: 'application/json', body });
      assertError(r, 400, 'invalid_json', 'not UTF-8');
      assert.equal(r.json.error, 'invalid JSON body: not UTF-8 text', r.text);
    }
  });

  test('a body in any other Content-Encoding is 415 unsupported_media_type naming the encoding, on every management route', async () => {
    for (const route of bodyRoutes()) {
      for (const encoding of ['br', 'deflate', 'gzip, gzip']) {
        const r = await req(route.method, route.path(), { type: 'application/json', body: JSON.stringify(route.body()), headers: { 'content-encoding': encoding } });
        assertError(r, 415, 'unsupported_media_type', `${route.method} ${route.path()} ${encoding}`);
        assert.equal(r.json.error, `unsupported Content-Encoding ${JSON.stringify(encoding)}: send the body as is, or gzip`, r.text);
      }
    }
    // identity is no encoding
    const r = await req('POST', '/v3/sessions', { type: 'application/json', body: '{"channel_id":"demo"}', headers: { 'content-encoding': 'identity' } });
    assert.equal(r.status, 201, r.text);
    assertUntouched();
  });

  test('a body that is JSON but not an object names the body; an empty body names the missing field', async () => {
    const r = await req('POST', '/v3/channels/demo/drains', { type: 'application/json', body: '[1,2]' });
    assert.equal(r.status, 400, r.text);
    const e = await req('POST', '/v3/sessions', { type: null, body: '' });
    assertError(e, 400, 'invalid_params', 'empty body');
    assert.match(e.json.error, /^channel_id/);
  });
});

describe('requests a web page of another site could forge (CSRF)', () => {
  /** Every change, keys included, from another site: by what the browser says of the request's site, or by its Origin. */
  const FOREIGN: Record<string, string>[] = [
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
    { 'sec-fetch-site': 'cross-site', origin: 'http://attacker.example' },
    { origin: 'http://attacker.example' },
    { origin: 'null' },
  ];

  test('a change from another site is 403 cross_origin on every management route, before its key or body are looked at', async () => {
    const routes: [string, string][] = [...changingRoutes(), ['POST', '/v3/keys'], ['PATCH', '/v3/keys/k_0123456789abcdef']];
    for (const [method, path] of routes) {
      for (const headers of FOREIGN) {
        for (const auth of [undefined, null]) {
          const r = await req(method, path, { auth, headers, type: 'application/json', body: '{"url":"https://attacker.example/collect","name":"x","tokens":["x"]}' });
          assertError(r, 403, 'cross_origin', `${method} ${path} ${JSON.stringify(headers)} auth=${auth}`);
          assert.ok(r.headers['request-id'], 'Request-Id');
        }
      }
    }
    assertUntouched();
    assert.equal(t.server.ctx.access.keys.list().length, 0, 'no key was created');
  });

  test('an empty Host names no origin: an HTTP/1.0 change with Host empty and an Origin without a host (file://) is 403', async () => {
    const u = new URL(t.url);
    const body = '{"channel_id":"demo"}';
    const head = ['POST /v3/sessions HTTP/1.0', 'Host:', `Authorization: ${t.auth}`, 'Origin: file://', 'Content-Type: application/json', `Content-Length: ${body.length}`, '', ''].join('\r\n');
    const answer = await new Promise<string>((resolve) => {
      const sock = connect(Number(u.port), u.hostname);
      let got = '';
      const bound = setTimeout(() => sock.destroy(), 5000);
      sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
      sock.on('error', () => {});
      sock.on('close', () => {
        clearTimeout(bound);
        resolve(got);
      });
      sock.write(head + body);
    });
    assert.match(answer, /^HTTP\/1\.1 403 /, answer);
    assert.match(answer, /"id":"cross_origin"/, answer);
  });

  test('reads from another site are answered (the browser does not let the page read them)', async () => {
    const r = await req('GET', '/v3/channels/demo', { headers: { 'sec-fetch-site': 'cross-site', origin: 'http://attacker.example' } });
    assert.equal(r.status, 200, r.text);
  });

  test('changes from the server\'s own origin, typed in the address bar, or from a client that is no browser go through', async () => {
    const own = new URL(t.url);
    const SAME: Record<string, string>[] = [
      { 'sec-fetch-site': 'same-origin', origin: own.origin },
      { 'sec-fetch-site': 'none' },
      { origin: own.origin },
      {},
    ];
    for (const route of bodyRoutes()) {
      for (const headers of SAME) {
        const r = await req(route.method, route.path(), { headers, type: 'application/json', body: JSON.stringify(route.body()) });
        assert.equal(r.status, route.ok, `${route.method} ${JSON.stringify(headers)}: ${r.status} ${r.text}`);
      }
    }
  });

  test('a change from a browser whose body has a type an HTML form can send is 415 unsupported_media_type on every management route', async () => {
    // what a browser names of a form's post that does not say it is from another site (an older browser, or a same-origin page)
    const browser: Array<Record<string, string>> = [{ referer: `${t.url}/console/` }, { origin: t.url }, { 'sec-fetch-dest': 'document' }];
    for (const [method, path] of changingRoutes()) {
      for (const [i, type] of FORGEABLE.entries()) {
        for (const body of ['{"url":"https://attacker.example/collect","x":"="}', undefined]) {
          const r = await req(method, path, { type, headers: browser[i % browser.length]!, ...(body !== undefined ? { body } : {}) });
          assertError(r, 415, 'unsupported_media_type', `${method} ${path} type=${type} body=${body !== undefined}`);
          assert.match(r.json.error, /application\/json/);
        }
      }
    }
    assertUntouched();
  });

  test('the same types from a client that is no browser (curl -d) are read as JSON', async () => {
    for (const type of FORGEABLE) {
      const r = await req('PUT', '/v3/channels/curl-d', { type, body: '{"tokens":["app"]}' });
      assert.ok(r.status === 201 || r.status === 200, `type=${type}: ${r.status} ${r.text}`);
    }
    assert.equal((await req('DELETE', '/v3/channels/curl-d', { type: 'application/x-www-form-urlencoded' })).status, 204);
  });
});

describe('ids over 100 characters', () => {
  const long = `a${'b'.repeat(150)}`;

  test('ids over 100 characters get SPEC errors, not the router\'s 414', async () => {
    const channel404: [string, string, Json?][] = [
      ['GET', `/v3/channels/${long}`],
      ['DELETE', `/v3/channels/${long}`],
      ['GET', `/v3/channels/${long}/logs`],
      ['POST', `/v3/channels/${long}/tokens`, { name: 'app' }],
      ['GET', `/v3/channels/${long}/drains`],
      ['POST', `/v3/channels/${long}/drains`, { url: 'http://127.0.0.1:9/long' }],
    ];
    for (const [method, path, body] of channel404) {
      const r = await req(method, path, body ? { type: 'application/json', body: JSON.stringify(body) } : {});
      assert.equal(r.status, 404, `${method} ${path.slice(0, 40)}: ${r.status} ${r.text}`);
      assert.deepEqual(r.json, { id: 'not_found', error: 'channel not found' });
    }
    // PUT would create it: the id is invalid
    const put = await req('PUT', `/v3/channels/${long}`, { type: 'application/json', body: '{"tokens":[]}' });
    assertError(put, 400, 'invalid_channel', 'PUT long channel');
    assert.equal(t.server.ctx.registry.get(long), undefined);

    const drain = await req('GET', `/v3/channels/demo/drains/${long}`);
    assert.deepEqual(drain.json, { id: 'not_found', error: 'drain not found' });
    assert.equal(drain.status, 404);
    const del = await req('DELETE', `/v3/channels/demo/drains/${long}`);
    assertError(del, 404, 'not_found', 'DELETE long drain id');

    // sessions: unknown is 404 (SPEC 5.1), over any transport
    for (const accept of ['text/plain', 'text/event-stream']) {
      const s = await rawRequest(t.url, 'GET', `/sessions/${long}`, { headers: { accept } });
      assert.equal(s.status, 404, `${accept}: ${s.text}`);
      assert.equal(s.json?.id, 'not_found');
    }

    // the Heroku Platform subset answers as it does for any unknown app
    for (const [method, path] of [['GET', `/apps/${long}`], ['GET', `/apps/${long}/log-drains`], ['POST', `/apps/${long}/log-sessions`]] as const) {
      const r = await req(method, path, method === 'POST' ? { type: 'application/json', body: '{}' } : {});
      assert.equal(r.status, 404, `${method} ${path.slice(0, 40)}: ${r.text}`);
      assert.equal(r.json?.id, 'not_found');
      assert.equal(r.json?.message, "Couldn't find that app.");
    }
    const unknownDrain = await req('DELETE', `/apps/demo/log-drains/${long}`);
    assert.equal(unknownDrain.status, 404, unknownDrain.text);
    assert.equal(unknownDrain.json?.id, 'not_found');
  });

  test('heroku drains:remove with a URL-encoded drain URL over 100 characters removes that drain', async () => {
    const url = `https://user:secret@127.0.0.1:9/ingest/${'p'.repeat(120)}?token=${'q'.repeat(40)}`;
    const added = await t.api('POST', '/apps/demo/log-drains', { url });
    assert.equal(added.status, 201, added.text);
    const encoded = encodeURIComponent(url);
    assert.ok(encoded.length > 100);
    const r = await req('DELETE', `/apps/demo/log-drains/${encoded}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.url, url);
    assert.ok(!t.server.ctx.registry.require('demo').record.drains.some((d) => d.url === url));
  });

  test('a malformed percent-encoding in a path is a JSON 400', async () => {
    const r = await req('GET', '/v3/channels/%E0%A4%A');
    assertError(r, 400, 'bad_url', 'bad percent-encoding');
  });
});

describe('heroku drains --extended', () => {
  test('GET /apps/:app/log-drains?extended=true gives each drain extended.drain_id (a number); without it no extended', async () => {
    const plain = await req('GET', '/apps/demo/log-drains');
    assert.equal(plain.status, 200, plain.text);
    assert.ok(plain.json.length > 0);
    for (const d of plain.json as Json[]) assert.equal(d['extended'], undefined);

    const ext = await req('GET', '/apps/demo/log-drains?extended=true');
    assert.equal(ext.status, 200, ext.text);
    const ids = new Set<number>();
    for (const d of ext.json as Json[]) {
      const e = d['extended'] as Json;
      assert.ok(e && typeof e === 'object', JSON.stringify(d));
      assert.ok(Number.isSafeInteger(e['drain_id']) && e['drain_id'] > 0, `drain_id ${e['drain_id']}`);
      ids.add(e['drain_id']);
      assert.equal(typeof e['status']?.state, 'string');
      // the rest of the drain object is unchanged
      assert.deepEqual(Object.keys(d).sort(), ['addon', 'created_at', 'extended', 'id', 'token', 'updated_at', 'url']);
    }
    assert.equal(ids.size, (ext.json as Json[]).length, 'drain_id differs between drains');
    // stable: the same drain gets the same number on every call
    const again = await req('GET', '/apps/demo/log-drains?extended=true');
    assert.deepEqual((again.json as Json[]).map((d) => d['extended'].drain_id), (ext.json as Json[]).map((d) => d['extended'].drain_id));
  });
});
