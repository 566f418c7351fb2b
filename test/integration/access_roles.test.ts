// The route x role table of docs/api.md, checked cell by cell against a
// running server: for every management route the server declares
// (accessTable, api/scope.ts), for every role, a request on an app of the key,
// on another app and on an app that does not exist. "yes" must not be 401 or
// 403 on the key's own app and must be 403 forbidden elsewhere; "no" must be
// 403 forbidden everywhere. Every declared route must be in the table, and
// every row of the table a declared route.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accessTable } from '../../src/api/scope.js';
import { api, type ApiTarget } from '../support/api.js';
import { as, createKey, type TestKey } from '../support/keys.js';
import { startServer, type TestServer } from '../support/server.js';

const DOC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs/api.md');
const ROLES = ['viewer', 'developer', 'admin'] as const;
type Role = (typeof ROLES)[number];

/** docs/api.md's route x role table: `GET /v3/channels/:app` -> {viewer: 'yes', ...}. */
function docTable(): Map<string, Record<Role, string>> {
  const text = readFileSync(DOC, 'utf8');
  const start = text.indexOf('| route | viewer | developer | admin |');
  assert.ok(start !== -1, 'docs/api.md has no route x role table');
  const rows = new Map<string, Record<Role, string>>();
  for (const line of text.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const route = cells[0]!.replace(/`/g, '');
    rows.set(route, { viewer: cells[1]!, developer: cells[2]!, admin: cells[3]! });
  }
  return rows;
}

const ZERO_ID = '00000000-0000-4000-8000-000000000000';

/** A request for each route on app `app`: harmless where allowed (unknown ids answer 404). */
function sample(route: string, app: string, n: number): { method: string; path: string; body?: unknown } {
  const [method, url] = route.split(' ') as [string, string];
  const path = url
    .replace(':app', app)
    .replace(':id', url.startsWith('/v3/keys') ? 'k_0000000000000000' : ZERO_ID)
    .replace(':key', encodeURIComponent('https://nowhere.example/x'));
  const bodies: Record<string, unknown> = {
    'PUT /v3/channels/:app': { tokens: ['app'] },
    'POST /v3/channels/:app/tokens': { name: `t${n}` },
    'POST /v3/sessions': { channel_id: app, num: 1 },
    'POST /v2/sessions': { channel_id: app, num: 1 },
    'POST /apps/:app/log-sessions': { lines: 1 },
    'POST /v3/channels/:app/drains': { url: `http://127.0.0.1:9/d${n}` },
    'PUT /v3/channels/:app/drains/:id': { url: `http://127.0.0.1:9/p${n}` },
    'POST /v3/channels/:app/drains/:id/replay': { num: 1 },
    'POST /apps/:app/log-drains': { url: `http://127.0.0.1:9/h${n}` },
    'POST /v3/keys': { name: `made-${n}`, role: 'viewer', apps: [app] },
    'PATCH /v3/keys/:id': { role: 'viewer' },
  };
  return { method, path, ...(route in bodies ? { body: bodies[route] } : {}) };
}

let ts: TestServer;
const keys = new Map<string, TestKey>();

before(async () => {
  ts = await startServer({ LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' });
  for (const app of ['mine', 'theirs']) assert.equal((await api(ts, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).status, 201);
  for (const role of ROLES) keys.set(role, await createKey(ts, `${role}-key`, role, role === 'admin' ? [] : ['mine']));
});
after(async () => {
  await ts.close();
});

test('every management route the server declares is a row of the docs table, and every row a route', () => {
  const declared = accessTable(ts.server.http).map((r) => `${r.method} ${r.url}`);
  const rows = [...docTable().keys()];
  assert.deepEqual(
    declared.filter((r) => !rows.includes(r)),
    [],
    'routes missing from the route x role table of docs/api.md (add a row, and a sample request in this test if it needs a body)',
  );
  assert.deepEqual(
    rows.filter((r) => !declared.includes(r)),
    [],
    'rows of docs/api.md that are no route',
  );
  // the declarations say the same as the table
  for (const r of accessTable(ts.server.http)) {
    const row = docTable().get(`${r.method} ${r.url}`)!;
    const viewerMay = r.rule === null || r.rule.perm === 'read';
    const developerMay = r.rule === null || r.rule.perm !== 'admin';
    assert.equal(row.viewer !== 'no', viewerMay, `${r.method} ${r.url}: viewer column vs declared ${JSON.stringify(r.rule)}`);
    assert.equal(row.developer !== 'no', developerMay, `${r.method} ${r.url}: developer column vs declared ${JSON.stringify(r.rule)}`);
  }
});

test('the channel list shows a non-admin key only its own apps; the admin key all', async () => {
  const names = async (t: ApiTarget) => (await api(t, 'GET', '/v3/channels')).json.channels.map((c: { channel: string }) => c.channel).sort();
  assert.deepEqual(await names(as(ts, keys.get('viewer')!)), ['mine']);
  assert.deepEqual(await names(as(ts, keys.get('developer')!)), ['mine']);
  const all = await names(ts);
  assert.ok(all.includes('theirs'), JSON.stringify(all));
  assert.deepEqual(await names(as(ts, keys.get('admin')!)), all);
});

test('each route x role cell of docs/api.md holds on a running server (own app, other app, no such app)', async () => {
  const table = docTable();
  let n = 0;
  const failures: string[] = [];
  // the admin-only app changes last: DELETE /v3/channels/:app removes the app the keys name
  const routes = [...table.keys()].sort((a, b) => Number(a === 'DELETE /v3/channels/:app') - Number(b === 'DELETE /v3/channels/:app'));
  for (const role of ROLES) {
    for (const route of routes) {
      const cell = table.get(route)![role];
      if (cell === 'no key needed') continue;
      const who: ApiTarget = as(ts, keys.get(role)!);
      for (const app of ['mine', 'theirs', 'nosuchapp']) {
        const req = sample(route, app, n++);
        const r = await api(who, req.method, req.path, req.body);
        const takesApp = route.includes(':app') || route.endsWith('/sessions');
        const allowed = cell !== 'no' && (role === 'admin' || !takesApp || app === 'mine');
        const what = `${role} ${req.method} ${req.path} (${cell}): ${r.status} ${r.text.slice(0, 160)}`;
        if (allowed && (r.status === 401 || r.status === 403)) failures.push(`expected allowed, ${what}`);
        if (!allowed && !(r.status === 403 && r.json?.id === 'forbidden')) failures.push(`expected 403 forbidden, ${what}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

test('"no key needed" rows answer without a key; every other row is 401 without one', async () => {
  for (const [route, cells] of docTable()) {
    const req = sample(route, 'mine', 0);
    const r = await api({ url: ts.url }, req.method, req.path, req.body);
    if (cells.viewer === 'no key needed') assert.equal(r.status, 200, route);
    else assert.equal(r.status, 401, route);
  }
});


test('a key the rule refuses gets 403, not 400 or 413, whatever body it sends (checked before the body is read)', async () => {
  const bodies: [string, string][] = [
    ['a malformed body', '{bad'],
    ['a body over the cap', JSON.stringify({ url: `http://127.0.0.1:9/${'x'.repeat(70 * 1024)}` })],
  ];
  const failures: string[] = [];
  let checked = 0;
  for (const [route, cells] of docTable()) {
    const [method, url] = route.split(' ') as [string, string];
    if (method === 'GET' || method === 'DELETE') continue;
    for (const role of ['viewer', 'developer'] as const) {
      // refused: a route the role may not use, on its own app; or any app-scoped route on an app the key lacks
      const apps = cells[role] === 'no' ? ['mine', 'theirs'] : url.includes(':app') ? ['theirs'] : [];
      for (const app of apps) {
        const req = sample(route, app, 0);
        for (const [what, body] of bodies) {
          const r = await api(as(ts, keys.get(role)!), method, req.path, body);
          checked++;
          if (!(r.status === 403 && r.json?.id === 'forbidden')) failures.push(`${role} ${method} ${req.path} with ${what}: ${r.status} ${r.text.slice(0, 120)}`);
        }
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} requests checked`);
  assert.deepEqual(failures, []);
  // a session names its app in the body: a malformed body from a key that may read is the 400 it was, another app's is 403
  const viewer = as(ts, keys.get('viewer')!);
  assert.equal((await api(viewer, 'POST', '/v3/sessions', '{bad')).status, 400);
  const other = await api(viewer, 'POST', '/v3/sessions', { channel_id: 'theirs', num: 1 });
  assert.equal(other.status, 403, other.text);
});
