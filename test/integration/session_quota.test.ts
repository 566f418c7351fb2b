// Session quotas (SPEC 17: a client over a limit is refused and counted; the
// service keeps serving everyone else): one API key, or one app, cannot take
// a node's whole session table, and the admin key keeps a reserve of it.
// Small quotas, so no test makes more than a few dozen sessions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.js';
import { api, type ApiResponse, type ApiTarget } from '../support/api.js';
import { as, createKey, type TestKey } from '../support/keys.js';
import { captureLog } from '../support/log.js';
import { HttpStream } from '../support/tail.js';

/** 3 per key; 8 per app (API keys: 6); 20 per node (API keys: 15). */
const QUOTA = {
  LOGPLANE_MAX_SESSIONS_PER_KEY: '3',
  LOGPLANE_MAX_SESSIONS_PER_APP: '8',
  LOGPLANE_MAX_SESSIONS: '20',
  LOGPLANE_SESSION_ADMIN_RESERVE_PERCENT: '25',
};
const TTL_S = 360;

async function withApps(ts: TestServer, ...apps: string[]): Promise<void> {
  for (const app of apps) assert.equal((await api(ts, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).status, 201);
}

function v3(who: ApiTarget, app: string): Promise<ApiResponse> {
  return api(who, 'POST', '/v3/sessions', { channel_id: app, num: 1 });
}

/** `n` sessions of `app` made by `who`, each asserted 201. */
async function fill(who: ApiTarget, app: string, n: number): Promise<string[]> {
  const urls: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await v3(who, app);
    assert.equal(r.status, 201, `session ${i + 1} of ${n}: ${r.text}`);
    urls.push(r.json.url as string);
  }
  return urls;
}

/** The refusal's Retry-After, in seconds (asserted present and a whole number). */
function retryAfter(r: ApiResponse): number {
  const v = r.headers.get('retry-after');
  assert.match(v ?? '', /^[1-9][0-9]*$/, `Retry-After: ${v}`);
  return Number(v);
}

function assertRefused(r: ApiResponse, status: number, id: string): number {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.id, id);
  assert.equal(typeof r.json.error, 'string');
  return retryAfter(r);
}

async function refusedCount(ts: TestServer, reason: string): Promise<number> {
  const text = await (await fetch(`${ts.url}/metrics`)).text();
  const m = new RegExp(`^logplane_tail_sessions_refused_total\\{reason="${reason}"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

test('a viewer key over its quota gets 429 with Retry-After on v3, v2 and the Heroku route; another key and the admin key still create sessions on the node; counted, never logged with the key', async () => {
  const cap = captureLog('trace');
  const ts = await startServer(QUOTA, { log: cap.log });
  await withApps(ts, 'rl');
  const a = await createKey(ts, 'reader-a', 'viewer', ['rl']);
  const b = await createKey(ts, 'reader-b', 'viewer', ['rl']);
  await fill(as(ts, a), 'rl', 3);

  const wait = assertRefused(await v3(as(ts, a), 'rl'), 429, 'too_many_key_sessions');
  assert.ok(wait >= 1 && wait <= TTL_S, `Retry-After ${wait}: at most the session life`);
  const r2 = await api(as(ts, a), 'POST', '/v2/sessions', { channel_id: 'rl' });
  assertRefused(r2, 429, 'too_many_key_sessions');
  assert.deepEqual(Object.keys(r2.json), ['id', 'error'], 'the API error shape');
  // the heroku CLI's route: Heroku's shape (it prints `message`)
  const hk = await api(as(ts, a), 'POST', '/apps/rl/log-sessions', { lines: 10, tail: true });
  assertRefused(hk, 429, 'too_many_key_sessions');
  assert.equal(hk.json.message, hk.json.error);

  // everyone else is served on the same node
  assert.equal((await v3(as(ts, b), 'rl')).status, 201);
  assert.equal((await api(as(ts, b), 'POST', '/apps/rl/log-sessions', { lines: 10 })).status, 201);
  assert.equal((await v3(ts, 'rl')).status, 201);
  assert.equal((await api(ts, 'POST', '/apps/rl/log-sessions', { lines: 10 })).status, 201);

  assert.equal(await refusedCount(ts, 'key_limit'), 3);
  assert.equal(await refusedCount(ts, 'app_limit'), 0);
  const logged = JSON.stringify(cap.lines);
  for (const secret of [a.key, a.id]) assert.ok(!logged.includes(secret), 'no log line names the key');
  await ts.close();
});

test('expired sessions free their slots: create, expire, create again, several rounds, with no drift (refusal path and sweep path)', async () => {
  const ts = await startServer(QUOTA);
  let now = Date.UTC(2024, 4, 1);
  ts.server.tails.configure({ clock: { now: () => now } });
  await withApps(ts, 'rl');
  const a = as(ts, await createKey(ts, 'reader-a', 'viewer', ['rl']));
  const sessions = ts.server.tails.sessions;

  for (let round = 0; round < 3; round++) {
    await fill(a, 'rl', 3);
    assert.equal(assertRefused(await v3(a, 'rl'), 429, 'too_many_key_sessions'), TTL_S, 'a slot frees when the oldest session expires');
    now += 100_000;
    assert.equal(assertRefused(await v3(a, 'rl'), 429, 'too_many_key_sessions'), TTL_S - 100);
    now += (TTL_S - 100) * 1000;
    // expired, not yet swept: the refusal path forgets them (rounds 0, 2); the periodic sweep does (round 1)
    if (round === 1) assert.equal(sessions.sweep(), 3);
  }
  await fill(a, 'rl', 3);
  assert.equal(sessions.size, 3, 'the expired sessions are gone from the table');

  // a session being read does not expire, so its slot stays taken until ttl after its reader left
  now += TTL_S * 1000;
  const tail = await api(a, 'POST', '/v3/sessions', { channel_id: 'rl', tail: true });
  assert.equal(tail.status, 201);
  const reader = new HttpStream(tail.json.url);
  while (reader.status === 0) await new Promise((r) => setTimeout(r, 5));
  now += (TTL_S + 1) * 1000;
  await fill(a, 'rl', 2); // the read one holds the third slot
  assert.equal(assertRefused(await v3(a, 'rl'), 429, 'too_many_key_sessions'), TTL_S, 'the read session has no end yet: one of the others frees first');
  reader.close();
  while (ts.server.tails.tailCount > 0) await new Promise((r) => setTimeout(r, 5));
  now += (TTL_S + 1) * 1000;
  await fill(a, 'rl', 3);
  await ts.close();
});

test('an app stops at its quota less the admin reserve for API keys, and at its quota for the admin key; other apps are unaffected; deleting the app frees its slots', async () => {
  const ts = await startServer(QUOTA);
  await withApps(ts, 'busy', 'calm');
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => createKey(ts, `reader-${n}`, 'viewer', ['busy', 'calm']))) as [TestKey, TestKey, TestKey];
  await fill(as(ts, a), 'busy', 3);
  await fill(as(ts, b), 'busy', 3);
  // 6 of 8: API keys have had their share of the app (the last 25% is the admin key's)
  assertRefused(await v3(as(ts, c), 'busy'), 429, 'too_many_app_sessions');
  assertRefused(await api(as(ts, c), 'POST', '/apps/busy/log-sessions', {}), 429, 'too_many_app_sessions');
  assert.equal((await v3(as(ts, c), 'calm')).status, 201, 'another app of the same key');
  await fill(ts, 'busy', 2);
  assertRefused(await v3(ts, 'busy'), 429, 'too_many_app_sessions');
  assert.equal(await refusedCount(ts, 'app_limit'), 3);

  assert.equal((await api(ts, 'DELETE', '/v3/channels/busy')).status, 204);
  await withApps(ts, 'busy');
  // (the keys lost the app with its deletion: the admin key shows every slot is free)
  await fill(ts, 'busy', 8);
  assertRefused(await v3(ts, 'busy'), 429, 'too_many_app_sessions');
  await ts.close();
});

test("the last part of the node's table is the admin key's: API keys alone cannot fill it, the admin key still creates sessions", async () => {
  const ts = await startServer(QUOTA);
  const apps = ['n1', 'n2', 'n3', 'n4', 'n5'];
  await withApps(ts, ...apps);
  // 5 keys x 3 sessions over 3 apps (at most 6 each) = 15 = 75% of 20
  for (const [i, app] of ['n1', 'n1', 'n2', 'n2', 'n3'].entries()) await fill(as(ts, await createKey(ts, `k${i}`, 'viewer', [app])), app, 3);
  const late = as(ts, await createKey(ts, 'late', 'viewer', ['n4']));
  assertRefused(await v3(late, 'n4'), 503, 'too_many_sessions');
  assertRefused(await api(late, 'POST', '/apps/n4/log-sessions', {}), 503, 'too_many_sessions');
  await fill(ts, 'n4', 5);
  assertRefused(await v3(ts, 'n5'), 503, 'too_many_sessions');
  assert.equal(ts.server.tails.sessions.size, 20);
  assert.equal(await refusedCount(ts, 'node_limit'), 3);
  await ts.close();
});

test('sessions restored after a graceful restart hold their slots', async () => {
  const first = await startServer(QUOTA);
  await withApps(first, 'rl');
  const key = await createKey(first, 'reader-a', 'viewer', ['rl']);
  await fill(as(first, key), 'rl', 2);
  await first.close({ keepData: true });
  const ts = await startServer(QUOTA, { dataDir: first.dataDir });
  assert.equal(ts.server.tails.sessions.size, 2);
  await fill(as(ts, key), 'rl', 1);
  assertRefused(await v3(as(ts, key), 'rl'), 429, 'too_many_key_sessions');
  await ts.close();
});

test('sessions made unreadable by a key change free their slots at once (narrowed, revoked), the read one included, and stay 404 when the key gets the app back', async () => {
  const ts = await startServer(QUOTA);
  await withApps(ts, 'rl', 'other');
  const key = await createKey(ts, 'reader-a', 'viewer', ['rl']);
  const a = as(ts, key);
  const tail = await api(a, 'POST', '/v3/sessions', { channel_id: 'rl', tail: true });
  assert.equal(tail.status, 201);
  const reader = new HttpStream(tail.json.url);
  while (reader.status === 0) await new Promise((r) => setTimeout(r, 5));
  const urls = [tail.json.url as string, ...(await fill(a, 'rl', 2))];
  assertRefused(await v3(a, 'rl'), 429, 'too_many_key_sessions');

  assert.equal((await api(ts, 'PATCH', `/v3/keys/${key.id}`, { apps: ['other'] })).status, 200);
  await reader.done;
  for (const u of urls) assert.equal((await fetch(u)).status, 404);
  assert.equal(ts.server.tails.sessions.size, 0, 'the dead sessions left the table');
  await fill(a, 'other', 3);
  assertRefused(await v3(a, 'other'), 429, 'too_many_key_sessions');

  // given the app back, the key's old sessions stay dead: they were forgotten, not hidden
  assert.equal((await api(ts, 'PATCH', `/v3/keys/${key.id}`, { apps: ['rl', 'other'] })).status, 200);
  for (const u of urls) assert.equal((await fetch(u)).status, 404);

  // revoked: every session of the key leaves the table, and the app's slots (6 for API keys) are free for other keys
  assert.equal((await api(ts, 'DELETE', `/v3/keys/${key.id}`)).status, 204);
  assert.equal(ts.server.tails.sessions.size, 0);
  for (const n of ['b', 'c']) await fill(as(ts, await createKey(ts, `reader-${n}`, 'viewer', ['other'])), 'other', 3);
  await ts.close();
});
