// API keys (SPEC 12): the /v3/keys routes, bad input, keys of destroyed apps,
// revocation (sessions and live tails included), audit lines, and the
// failed-auth throttle.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { api } from '../support/api.js';
import { HttpReceiver } from '../support/drain-receivers.js';
import { rawRequest } from '../support/http.js';
import { as, createKey } from '../support/keys.js';
import { startServer, type TestServer } from '../support/server.js';
import { HttpStream, WsClient } from '../support/tail.js';
import { until } from '../support/wait.js';

let ts: TestServer;

before(async () => {
  ts = await startServer({ LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' }, { adminAudit: true }); // the default: admin-key changes audited
  for (const app of ['a', 'b', 'c']) assert.equal((await api(ts, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).status, 201);
});
after(async () => {
  await ts.close();
});

/** The messages of an app's history, as text. */
async function history(app: string): Promise<string[]> {
  const r = await api(ts, 'GET', `/v3/channels/${app}/logs?num=1000`);
  assert.equal(r.status, 200);
  return r.text.split('\n').filter((l) => l !== '');
}

describe('the key routes', () => {
  test('GET /v3/account and GET /account tell any key who it is; a revoked key gets 401', async () => {
    const k = await createKey(ts, 'whoami-dev', 'developer', ['b', 'a']);
    const me = await api(as(ts, k), 'GET', '/v3/account');
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(me.json, { id: k.id, name: 'whoami-dev', role: 'developer', apps: ['a', 'b'] });
    const admin = await api(ts, 'GET', '/v3/account');
    assert.deepEqual(admin.json, { id: null, name: 'admin', role: 'admin', apps: null });
    const heroku = await api(as(ts, k), 'GET', '/account');
    assert.equal(heroku.status, 200);
    assert.equal(heroku.json.email, 'whoami-dev');
    assert.equal(heroku.json.id, k.id);
    assert.equal((await api(as(ts, k), 'DELETE', `/v3/keys/${k.id}`)).status, 403, 'a developer key may not revoke keys');
    assert.equal((await api(ts, 'DELETE', `/v3/keys/${k.id}`)).status, 204);
    await until('revoked', async () => (await api(as(ts, k), 'GET', '/v3/account')).status === 401);
    assert.equal((await api({ url: ts.url }, 'GET', '/v3/account')).status, 401, 'no key: 401');
  });

  test('POST /v3/keys: 201 with the secret once; GET lists keys without secrets or hashes', async () => {
    const r = await api(ts, 'POST', '/v3/keys', { name: 'ci-reader', role: 'viewer', apps: ['a'] });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(Object.keys(r.json).sort(), ['apps', 'created_at', 'id', 'key', 'name', 'role']);
    assert.match(r.json.id, /^k_[0-9a-f]{16}$/);
    assert.match(r.json.key, /^lpk_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual([r.json.name, r.json.role, r.json.apps], ['ci-reader', 'viewer', ['a']]);
    const list = await api(ts, 'GET', '/v3/keys');
    assert.equal(list.status, 200);
    const mine = list.json.find((k: { id: string }) => k.id === r.json.id);
    assert.deepEqual(Object.keys(mine).sort(), ['apps', 'created_at', 'id', 'name', 'role', 'updated_at']);
    assert.ok(!list.text.includes(r.json.key.slice(4)), 'the secret is listed');
    assert.equal((await api(ts, 'GET', `/v3/keys/${r.json.id}`)).json.name, 'ci-reader');
    // the key works in all three forms
    for (const auth of [`Bearer ${r.json.key}`, `Basic ${r.json.key}`, `Basic ${Buffer.from(`x:${r.json.key}`).toString('base64')}`]) {
      assert.equal((await api({ url: ts.url, auth }, 'GET', '/v3/channels/a')).status, 200, auth.split(' ')[0]);
    }
  });

  test('PATCH changes role and apps; DELETE revokes at once (401 afterwards)', async () => {
    const k = await createKey(ts, 'patchme', 'viewer', ['a']);
    assert.equal((await api(as(ts, k), 'POST', '/v3/channels/b/drains', { url: 'http://127.0.0.1:9/x' })).status, 403);
    const p = await api(ts, 'PATCH', `/v3/keys/${k.id}`, { role: 'developer', apps: ['a', 'b'] });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual([p.json.role, p.json.apps], ['developer', ['a', 'b']]);
    assert.equal((await api(as(ts, k), 'POST', '/v3/channels/b/drains', { url: 'http://127.0.0.1:9/x' })).status, 201);
    assert.equal((await api(ts, 'DELETE', `/v3/keys/${k.id}`)).status, 204);
    assert.equal((await api(as(ts, k), 'GET', '/v3/channels/a')).status, 401);
    assert.equal((await api(ts, 'DELETE', `/v3/keys/${k.id}`)).status, 404);
  });

  test('a key with role admin reaches every app and manages keys; other roles may not touch keys', async () => {
    const boss = await createKey(ts, 'boss', 'admin', []);
    assert.equal((await api(as(ts, boss), 'GET', '/v3/channels/c')).status, 200);
    const made = await api(as(ts, boss), 'POST', '/v3/keys', { name: 'made-by-boss', role: 'viewer', apps: ['c'] });
    assert.equal(made.status, 201, made.text);
    const v = await createKey(ts, 'not-boss', 'developer', ['a']);
    const r = await api(as(ts, v), 'GET', '/v3/keys');
    assert.equal(r.status, 403);
    assert.equal(r.json.id, 'forbidden');
  });
});

describe('bad input', () => {
  test('malformed keys in the Authorization header: 401, nothing else', async () => {
    const k = await createKey(ts, 'shape', 'viewer', ['a']);
    const bad = [
      'Bearer lpk_short',
      `Bearer ${k.key}x`,
      `Bearer ${k.key.slice(0, -1)}`,
      `Bearer ${k.key.toUpperCase()}`,
      `Bearer lpk_${'!'.repeat(43)}`,
      'Bearer ',
      'Basic %%%not-base64%%%',
      `Basic ${Buffer.from('no-colon').toString('base64')}`,
      `Token ${k.key}`,
      k.key,
      `Bearer ${'lpk_'.repeat(2000)}`,
    ];
    for (const auth of bad) {
      const r = await api({ url: ts.url, auth }, 'GET', '/v3/channels/a');
      assert.equal(r.status, 401, `${auth.slice(0, 40)}: ${r.text}`);
      assert.equal(r.json.id, 'unauthorized');
    }
  });

  test('POST /v3/keys: missing or bad fields are 400 naming the field; unknown apps 422; a taken name 409', async () => {
    const cases: Array<[unknown, number, RegExp]> = [
      [{ role: 'viewer', apps: ['a'] }, 400, /^name: required/],
      [{ name: '', role: 'viewer', apps: ['a'] }, 400, /^name: /],
      [{ name: 'has space', role: 'viewer', apps: ['a'] }, 400, /^name: /],
      [{ name: 'admin', role: 'viewer', apps: ['a'] }, 400, /^name: /],
      [{ name: 'x1', apps: ['a'] }, 400, /^role: required/],
      [{ name: 'x2', role: 'owner', apps: ['a'] }, 400, /^role: must be one of viewer, developer, admin/],
      [{ name: 'x3', role: 7, apps: ['a'] }, 400, /^role: /],
      [{ name: 'x4', role: 'viewer', apps: [] }, 400, /^apps: must name at least one app/],
      [{ name: 'x5', role: 'developer' }, 400, /^apps: /],
      [{ name: 'x6', role: 'viewer', apps: 'a' }, 400, /^apps: must be an array/],
      [{ name: 'x7', role: 'viewer', apps: ['A B'] }, 400, /^apps\[0\]: /],
      [{ name: 'x8', role: 'viewer', apps: [3] }, 400, /^apps\[0\]: /],
      [{ name: 'x9', role: 'viewer', apps: ['nosuchapp'] }, 422, /no such app "nosuchapp"/],
      [[1, 2], 400, /^body: /],
      ['{not json', 400, /invalid JSON/],
    ];
    for (const [body, status, error] of cases) {
      const r = await api(ts, 'POST', '/v3/keys', body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.json.error, error, JSON.stringify(body));
    }
    await createKey(ts, 'taken', 'viewer', ['a']);
    assert.equal((await api(ts, 'POST', '/v3/keys', { name: 'taken', role: 'viewer', apps: ['b'] })).status, 409);
    assert.ok(!(await api(ts, 'GET', '/v3/keys')).json.some((k: { name: string }) => /^x\d$/.test(k.name)), 'a refused key was created');
  });

  test('PATCH and DELETE: unknown or malformed ids 404; unknown fields, roles and empty app lists 400', async () => {
    const k = await createKey(ts, 'patch-bad', 'viewer', ['a']);
    for (const id of ['k_0000000000000000', 'nope', 'k_', '../keys']) {
      assert.equal((await api(ts, 'PATCH', `/v3/keys/${encodeURIComponent(id)}`, { role: 'viewer' })).status, 404, id);
      assert.equal((await api(ts, 'DELETE', `/v3/keys/${encodeURIComponent(id)}`)).status, 404, id);
    }
    for (const [body, error] of [
      [{ name: 'renamed' }, /^name: cannot be changed/],
      [{}, /^body: give role, apps or both/],
      [{ role: 'root' }, /^role: /],
      [{ apps: [] }, /^apps: must name at least one app/],
    ] as const) {
      const r = await api(ts, 'PATCH', `/v3/keys/${k.id}`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.json.error, error);
    }
    assert.equal((await api(ts, 'PATCH', `/v3/keys/${k.id}`, { apps: ['nosuchapp'] })).status, 422);
    assert.deepEqual((await api(ts, 'GET', `/v3/keys/${k.id}`)).json.apps, ['a']);
  });

  test('a key loses an app destroyed later, keeps its others, and does not regain a new app of that name', async () => {
    assert.equal((await api(ts, 'PUT', '/v3/channels/doomed', { tokens: ['app'] })).status, 201);
    const k = await createKey(ts, 'outlives', 'developer', ['doomed', 'c']);
    assert.equal((await api(as(ts, k), 'GET', '/v3/channels/doomed')).status, 200);
    assert.equal((await api(ts, 'DELETE', '/v3/channels/doomed')).status, 204);
    assert.deepEqual((await api(ts, 'GET', `/v3/keys/${k.id}`)).json.apps, ['c']);
    assert.equal((await api(as(ts, k), 'GET', '/v3/channels/c')).status, 200);
    assert.deepEqual((await api(as(ts, k), 'GET', '/v3/channels')).json.channels.map((c: { channel: string }) => c.channel), ['c']);
    assert.equal((await api(ts, 'PUT', '/v3/channels/doomed', { tokens: ['app'] })).status, 201);
    assert.equal((await api(as(ts, k), 'GET', '/v3/channels/doomed')).status, 403);
    // a key whose only app is destroyed stays, reaches nothing, lists nothing
    assert.equal((await api(ts, 'PUT', '/v3/channels/lonely', { tokens: ['app'] })).status, 201);
    const lone = await createKey(ts, 'lone', 'viewer', ['lonely']);
    assert.equal((await api(ts, 'DELETE', '/v3/channels/lonely')).status, 204);
    const list = await api(as(ts, lone), 'GET', '/v3/channels');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.channels, []);
  });
});

describe('sessions carry the scope of the key that created them', () => {
  test('revoking a key ends its live tails and makes its session URLs 404; the admin key’s are untouched', async () => {
    const k = await createKey(ts, 'tailer', 'viewer', ['a']);
    const mine = await api(as(ts, k), 'POST', '/v3/sessions', { channel_id: 'a', tail: true });
    assert.equal(mine.status, 201);
    const admins = await api(ts, 'POST', '/v3/sessions', { channel_id: 'a', tail: true });
    const ws = new WsClient(mine.json.url);
    await ws.opened;
    const other = new WsClient(admins.json.url);
    await other.opened;
    assert.equal((await api(ts, 'DELETE', `/v3/keys/${k.id}`)).status, 204);
    // bounded: a tail the revocation missed stays open
    const closed = await Promise.race([ws.closed, new Promise<null>((r) => setTimeout(() => r(null), 10_000).unref())]);
    assert.deepEqual(closed, { code: 1008, reason: 'access revoked' });
    const again = new HttpStream(mine.json.url);
    await until('an answer', () => again.status !== 0, 10_000);
    again.close();
    assert.equal(again.status, 404);
    assert.equal(other.ws.readyState, other.ws.OPEN);
    other.release();
  });

  test('a key narrowed off an app can no longer read the sessions it made for it', async () => {
    const k = await createKey(ts, 'narrowed', 'viewer', ['a', 'b']);
    const r = await api(as(ts, k), 'POST', '/apps/b/log-sessions', { lines: 1 });
    assert.equal(r.status, 201);
    assert.equal((await api(ts, 'PATCH', `/v3/keys/${k.id}`, { apps: ['a'] })).status, 200);
    const s = new HttpStream(r.json.logplex_url);
    await until('an answer', () => s.status !== 0, 10_000);
    s.close();
    assert.equal(s.status, 404);
  });
});

describe('audit lines', () => {
  test('drain, token and key changes are lines in the app’s stream (source logplane, dyno api), credentials as ***', async () => {
    const dev = await createKey(ts, 'deploy-bot', 'developer', ['b']);
    const add = await api(as(ts, dev), 'POST', '/v3/channels/b/drains', { url: 'http://user:hunter2@127.0.0.1:9/x?apikey=sekrit' });
    assert.equal(add.status, 201, add.text);
    assert.equal((await api(as(ts, dev), 'POST', '/v3/channels/b/tokens', { name: 'router' })).status, 200);
    assert.equal((await api(as(ts, dev), 'DELETE', `/v3/channels/b/drains/${add.json.id}`)).status, 204);
    const lines = await history('b');
    const audit = lines.filter((l) => / logplane api - /.test(l)).map((l) => l.slice(l.indexOf(' logplane api - ') + 16));
    assert.deepEqual(audit.slice(-4), [
      'Add key deploy-bot (developer) by admin',
      'Add drain http://user:***@127.0.0.1:9/x?apikey=*** by deploy-bot',
      'Create token router by deploy-bot',
      `Remove drain ${add.json.token} by deploy-bot`,
    ]);
    assert.ok(!lines.join('\n').includes('hunter2') && !lines.join('\n').includes('sekrit'));
    const pri = lines.find((l) => l.includes('Create token router'))!;
    assert.match(pri, /^\d+ <190>1 /);
  });

  test('a drain update is `Update drain <id> to <redacted URL> by <key>`: never the live token or the URL\'s password', async () => {
    const dev = await createKey(ts, 'drain-mover', 'developer', ['b']);
    const add = await api(as(ts, dev), 'POST', '/v3/channels/b/drains', { url: 'http://user:hunter2@127.0.0.1:9/old' });
    assert.equal(add.status, 201, add.text);
    const { id, token } = add.json as { id: string; token: string };
    try {
      assert.equal((await api(as(ts, dev), 'PUT', `/v3/channels/b/drains/${id}`, { url: 'http://user:hunter3@127.0.0.1:9/new?apikey=sekrit' })).status, 200);
      assert.equal((await api(ts, 'PUT', `/v3/channels/b/drains/${id}`, { url: 'syslog+tls://127.0.0.1:6514' })).status, 200);
      const lines = await history('b');
      const updates = lines.filter((l) => l.includes(' logplane api - Update drain ')).map((l) => l.slice(l.indexOf(' logplane api - ') + 16));
      assert.deepEqual(updates.slice(-2), [`Update drain ${id} to http://user:***@127.0.0.1:9/new?apikey=*** by drain-mover`, `Update drain ${id} to syslog+tls://127.0.0.1:6514 by admin`]);
      for (const secret of [token, token.slice(2), 'hunter2', 'hunter3', 'sekrit']) assert.ok(!lines.join('\n').includes(secret), `the app's stream holds ${secret.slice(0, 8)}...`);
    } finally {
      await api(ts, 'DELETE', `/v3/channels/b/drains/${id}`);
    }
  });

  test('a key raised to role admin or lowered from it: the right verb in every app it reaches before or after, never `Remove` where it still reaches', async () => {
    const keyLines = async (app: string, name: string) => (await history(app)).filter((l) => l.includes(` logplane api - `) && l.includes(` key ${name} `)).map((l) => l.slice(l.indexOf(' logplane api - ') + 16));
    const k = await createKey(ts, 'escalated', 'viewer', ['a']);
    assert.equal((await api(ts, 'PATCH', `/v3/keys/${k.id}`, { role: 'admin', apps: [] })).status, 200);
    assert.equal((await api(ts, 'PATCH', `/v3/keys/${k.id}`, { role: 'developer', apps: ['b'] })).status, 200);
    assert.equal((await api(ts, 'DELETE', `/v3/keys/${k.id}`)).status, 204);
    assert.deepEqual(await keyLines('a', 'escalated'), ['Add key escalated (viewer) by admin', 'Change key escalated to admin by admin', 'Remove key escalated by admin']);
    assert.deepEqual(await keyLines('b', 'escalated'), ['Add key escalated (admin) by admin', 'Change key escalated to developer by admin', 'Remove key escalated by admin']);
    assert.deepEqual(await keyLines('c', 'escalated'), ['Add key escalated (admin) by admin', 'Remove key escalated by admin']);
    // a key made admin, its apps changed (an admin key reaches every app anyway), revoked
    const boss = await createKey(ts, 'boss2', 'admin', []);
    assert.equal((await api(ts, 'PATCH', `/v3/keys/${boss.id}`, { apps: ['a'] })).status, 200);
    assert.equal((await api(ts, 'DELETE', `/v3/keys/${boss.id}`)).status, 204);
    for (const app of ['a', 'b', 'c']) assert.deepEqual(await keyLines(app, 'boss2'), ['Add key boss2 (admin) by admin', 'Remove key boss2 by admin'], app);
  });

  test('audit lines reach the app’s drains like any line', async () => {
    const rec = await HttpReceiver.start(false);
    let drainId = '';
    try {
      const dev = await createKey(ts, 'drain-watcher', 'developer', ['c']);
      const d = await api(as(ts, dev), 'POST', '/v3/channels/c/drains', { url: rec.url() });
      assert.equal(d.status, 201);
      drainId = d.json.id;
      assert.equal((await api(as(ts, dev), 'POST', '/v3/channels/c/tokens', { name: 'seen-by-drain' })).status, 200);
      const frames = () => rec.messages().map((m) => m.toString('utf8'));
      const got = await until('the audit line at the drain', () => frames().find((m) => m.includes('Create token seen-by-drain by drain-watcher')));
      assert.match(got, / logplane api - Create token seen-by-drain by drain-watcher\n?$/);
    } finally {
      if (drainId) await api(ts, 'DELETE', `/v3/channels/c/drains/${drainId}`);
      await rec.close();
    }
  });

  test('changes made with the admin key are audited by default, as `by admin`; LOGPLANE_AUDIT_ADMIN_KEY=0 leaves them out', async () => {
    const add = await api(ts, 'POST', '/v3/channels/c/drains', { url: 'http://127.0.0.1:9/by-admin' });
    assert.equal(add.status, 201, add.text);
    assert.equal((await api(ts, 'POST', '/v3/channels/c/tokens', { name: 'loud' })).status, 200);
    assert.equal((await api(ts, 'DELETE', `/v3/channels/c/drains/${add.json.id}`)).status, 204);
    const audit = (await history('c')).filter((l) => / logplane api - /.test(l)).map((l) => l.slice(l.indexOf(' logplane api - ') + 16));
    assert.deepEqual(audit.slice(-3), ['Add drain http://127.0.0.1:9/by-admin by admin', 'Create token loud by admin', `Remove drain ${add.json.token} by admin`]);
    const quiet = await startServer({ LOGPLANE_AUDIT_ADMIN_KEY: '0' });
    try {
      assert.equal((await api(quiet, 'PUT', '/v3/channels/q', { tokens: ['app'] })).status, 201);
      assert.equal((await api(quiet, 'POST', '/v3/channels/q/tokens', { name: 'quiet' })).status, 200);
      const lines = (await api(quiet, 'GET', '/v3/channels/q/logs?num=100')).text;
      assert.ok(!lines.includes('Create token quiet'), lines);
      // an API key's changes are audited either way
      const dev = await createKey(quiet, 'still-audited', 'developer', ['q']);
      assert.equal((await api(as(quiet, dev), 'POST', '/v3/channels/q/tokens', { name: 'seen' })).status, 200);
      await until('the API key\'s audit line', async () => (await api(quiet, 'GET', '/v3/channels/q/logs?num=100')).text.includes('Create token seen by still-audited'));
    } finally {
      await quiet.close();
    }
  });
});

describe('token names that would forge lines', () => {
  test('logplane is no one’s (400), heroku is the admin’s (403 for a developer, also when the app has one)', async () => {
    assert.equal((await api(ts, 'PUT', '/v3/channels/names', { tokens: ['app', 'heroku'] })).status, 201);
    const dev = await createKey(ts, 'names-dev', 'developer', ['names']);
    for (const name of ['logplane', 'LogPlane']) {
      const r = await api(ts, 'POST', '/v3/channels/names/tokens', { name });
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.error, /reserved/);
      assert.equal((await api(as(ts, dev), 'POST', '/v3/channels/names/tokens', { name })).status, 400);
    }
    assert.equal((await api(ts, 'PUT', '/v3/channels/names2', { tokens: ['app', 'logplane'] })).status, 400);
    assert.equal((await api(ts, 'GET', '/v3/channels/names2')).status, 404);
    for (const name of ['heroku', 'Heroku']) {
      const r = await api(as(ts, dev), 'POST', '/v3/channels/names/tokens', { name });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.json.id, 'forbidden');
      assert.equal(JSON.stringify(r.json).includes('t.'), false);
    }
    const admin = await api(ts, 'POST', '/v3/channels/names/tokens', { name: 'heroku' });
    assert.equal(admin.status, 200);
    assert.match(admin.json.token, /^t\./);
    assert.equal((await api(as(ts, dev), 'POST', '/v3/channels/names/tokens', { name: 'worker' })).status, 200);
  });
});
