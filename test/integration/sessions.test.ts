// Creating sessions (SPEC 5.1): Logplex v3/v2, the Heroku Platform API
// subset, validation, and session life with a fake clock.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpStream, WsClient, line, push, setup, textOf, type Setup } from '../support/tail.js';
import { api } from '../support/api.js';
import { until } from '../support/wait.js';

let s: Setup;
let now = Date.UTC(2024, 4, 1);
const clock = { now: () => now };

before(async () => {
  s = await setup();
  s.service.configure({ clock });
  push(s.app, 1, 11);
});
after(async () => {
  await s.ts.close();
});

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';

test('POST /v3/sessions: 201 {"url"} with Location; the URL is <public>/sessions/<uuid4>', async () => {
  const r = await api(s.ts, 'POST', '/v3/sessions', { channel_id: 'myapp', num: '5', tail: true, ps: 'web', source: 'app' });
  assert.equal(r.status, 201);
  assert.deepEqual(Object.keys(r.json), ['url']);
  assert.match(r.json.url, new RegExp(`^${s.ts.url.replace(/[.]/g, '\\.')}/sessions/${UUID}$`));
  assert.equal(r.headers.get('location'), r.json.url);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
});

test('POST /v2/sessions: 201 {"url"} without Location; num as a number', async () => {
  const r = await api(s.ts, 'POST', '/v2/sessions', { channel_id: 'myapp', num: 3 });
  assert.equal(r.status, 201);
  assert.deepEqual(Object.keys(r.json), ['url']);
  assert.equal(r.headers.get('location'), null);
  const h = new HttpStream(r.json.url);
  await h.done;
  assert.equal(h.text, [8, 9, 10].map((i) => `${textOf(i)}\n`).join(''));
});

test('unknown app: 422 {"error":"channel not found"} exactly', async () => {
  for (const v of ['v3', 'v2']) {
    const r = await api(s.ts, 'POST', `/${v}/sessions`, { channel_id: 'nope', num: '1' });
    assert.equal(r.status, 422);
    assert.equal(r.text, '{"error":"channel not found"}');
  }
});

test('bad bodies: 400 naming the field; wrong key: 401', async () => {
  let r = await api(s.ts, 'POST', '/v3/sessions', { num: '1' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /channel_id/);
  r = await api(s.ts, 'POST', '/v3/sessions', { channel_id: 'myapp', num: 'ten' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /^num/);
  r = await api(s.ts, 'POST', '/v3/sessions', { channel_id: 'myapp', ps: 5 });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /^ps/);
  r = await api(s.ts, 'POST', '/v3/sessions', '{"channel_id":');
  assert.equal(r.status, 400);
  r = await api(s.ts, 'POST', '/v3/sessions', { channel_id: 'myapp' }, { authorization: 'Bearer wrong-key-wrong-key' });
  assert.equal(r.status, 401);
  r = await api(s.ts, 'POST', '/apps/myapp/log-sessions', {}, { authorization: '' });
  assert.equal(r.status, 401);
});

test('tail present means tail, even "tail": false (Logplex); absent means history only', async () => {
  const tailing = (await api(s.ts, 'POST', '/v3/sessions', { channel_id: 'myapp', num: 1, tail: false })).json.url;
  const h = new HttpStream(tailing);
  await until('history', () => h.text.length > 0);
  push(s.app, 11, 12);
  await until('a live line', () => h.text.includes(textOf(11)));
  h.close();
  const once = (await api(s.ts, 'POST', '/v3/sessions', { channel_id: 'myapp', num: 1 })).json.url;
  const h2 = new HttpStream(once);
  await h2.done;
  assert.equal(h2.text, `${textOf(11)}\n`);
});

test('Platform API: GET /apps/:app gives {id, name, generation} as the heroku CLI reads it; unknown app 404', async () => {
  const r = await api(s.ts, 'GET', '/apps/myapp', undefined, { accept: 'application/vnd.heroku+json; version=3.sdk' });
  assert.equal(r.status, 200);
  assert.match(r.json.id, new RegExp(`^${UUID}$`));
  assert.equal(r.json.name, 'myapp');
  assert.equal(r.json.generation.name, 'cedar');
  assert.match(r.json.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const nf = await api(s.ts, 'GET', '/apps/nope');
  assert.equal(nf.status, 404);
  assert.equal(nf.json.id, 'not_found');
  assert.equal(nf.json.message, "Couldn't find that app.");
});

test('Platform API: POST /apps/:app/log-sessions → 201 {id, created_at, updated_at, logplex_url} without srv', async () => {
  const r = await api(s.ts, 'POST', '/apps/myapp/log-sessions', { lines: 2, tail: false, source: 'app', dyno: 'web' }, { accept: 'application/vnd.heroku+json; version=3' });
  assert.equal(r.status, 201);
  assert.deepEqual(Object.keys(r.json), ['id', 'created_at', 'updated_at', 'logplex_url']);
  assert.equal(r.json.logplex_url, `${s.ts.url}/sessions/${r.json.id}`);
  assert.doesNotMatch(r.json.logplex_url, /srv/);
  assert.equal(r.json.created_at, new Date(now).toISOString().slice(0, 19) + 'Z');
  const h = new HttpStream(r.json.logplex_url);
  await h.done;
  assert.equal(h.text, [10, 11].map((i) => `${textOf(i)}\n`).join(''));
  // fields may be absent (the CLI drops undefined ones)
  const bare = await api(s.ts, 'POST', '/apps/myapp/log-sessions', {});
  assert.equal(bare.status, 201);
  const nf = await api(s.ts, 'POST', '/apps/nope/log-sessions', { lines: 1 });
  assert.equal(nf.status, 404);
});

test('a session lives 360 s after creation, then 404 (text, SSE and WebSocket alike)', async () => {
  const url = (await api(s.ts, 'POST', '/v3/sessions', { channel_id: 'myapp', num: 1 })).json.url;
  const id = url.slice(url.lastIndexOf('/') + 1);
  now += 359_999;
  assert.ok(s.service.sessions.get(id), 'still there at 359.999 s');
  now += 1;
  const t = new HttpStream(url);
  await t.done;
  assert.equal(t.status, 404);
  assert.equal(JSON.parse(t.text).id, 'not_found');
  const e = new HttpStream(url, { accept: 'text/event-stream' });
  await e.done;
  assert.equal(e.status, 404);
  const w = new WsClient(url);
  await w.closed;
  assert.equal(w.status, 404);
  const unknown = new HttpStream(`${s.ts.url}/sessions/00000000-0000-4000-8000-000000000000`);
  await unknown.done;
  assert.equal(unknown.status, 404);
});

test('while read a session does not expire; it may be reopened until 360 s after its last reader left', async () => {
  const url = (await api(s.ts, 'POST', '/v3/sessions', { channel_id: 'myapp', num: 0, tail: true })).json.url;
  const id = url.slice(url.lastIndexOf('/') + 1);
  now += 10_000;
  const w = new WsClient(url);
  await w.opened;
  await until('the reader', () => s.service.tailCount > 0);
  now += 3_600_000;
  assert.ok(s.service.sessions.get(id), 'alive while read, long after 360 s');
  w.ws.close();
  await w.closed;
  await until('the reader to leave', () => s.service.sessions.get(id)!.readers === 0);
  now += 359_000;
  // reopen: resumes (a reconnect); leaving again restarts the 360 s
  const again = new WsClient(`${url}?after=10`);
  await again.opened;
  push(s.app, 12, 13);
  await until('resumed lines', () => again.lines().length === 2);
  assert.deepEqual(again.lines().map((l) => l.seq), [11, 12]);
  again.ws.close();
  await again.closed;
  await until('the reader to leave', () => s.service.sessions.get(id)!.readers === 0);
  now += 360_000;
  const gone = new WsClient(url);
  await gone.closed;
  assert.equal(gone.status, 404);
  push(s.app, 13, 14, (i) => line(i));
});

test('deleting the app ends its tails and forgets its sessions: close 1000 "app deleted" and no end frame (end means the history asked for was all sent, SPEC 5.3); the HTTP streams end', async () => {
  const { app } = await s.ts.server.ctx.registry.putApp('doomed', ['app']);
  const url = (await api(s.ts, 'POST', '/v3/sessions', { channel_id: 'doomed', num: 0, tail: true })).json.url;
  const w = new WsClient(url);
  const text = new WsClient(`${url}?format=text`);
  await Promise.all([w.opened, text.opened]);
  const sse = new HttpStream(url, { accept: 'text/event-stream' });
  const plain = new HttpStream(url);
  await until('hello and the HTTP readers', () => w.frames.length === 1 && s.ts.server.tails.tailCount === 4);
  push(app, 1, 2);
  await until('a line', () => w.lines().length === 1 && text.frames.length === 1 && sse.text.includes('line 1') && plain.text.includes('line 1'));
  await s.ts.server.ctx.registry.deleteApp('doomed');
  assert.deepEqual(await w.closed, { code: 1000, reason: 'app deleted' });
  assert.deepEqual(w.json().map((f) => f.type), ['hello', 'lines']);
  assert.deepEqual(await text.closed, { code: 1000, reason: 'app deleted' });
  assert.deepEqual(text.frames, [textOf(1)]);
  // SSE and chunked text have no end marker (their end of history is the end of the response): they end, as a tail never does otherwise
  await Promise.all([sse.done, plain.done]);
  assert.equal(sse.text, `id: 1\ndata: ${textOf(1)}\n\n`);
  assert.equal(plain.text, `${textOf(1)}\n`);
  const h = new HttpStream(url);
  await h.done;
  assert.equal(h.status, 404);
});
