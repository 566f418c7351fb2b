// Embedded mode: sessions saved at a graceful stop come back at the next start
// (sessions.json) only when they could still be read. While the server is
// down its config can change only from outside it: the data dir restored from
// a backup (docs/operations.md) or config.json edited by hand. A session whose
// key is gone or no longer reaches the app, or whose app is gone or is another
// app of the same name (deleted and re-created), is not restored: it would be
// 404 anyway (or, for a re-created app, read lines that are not its app's),
// and must not hold its key's and app's quota slots until it expires.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, type ApiTarget } from '../support/api.js';
import { as, createKey } from '../support/keys.js';
import { startServer, tempDir, type TestServer } from '../support/server.js';
import { HttpStream } from '../support/tail.js';
import { postLogs, syslog } from '../support/cluster.js';

const CONFIG_FILES = ['config.json', 'config.journal'];
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Copy the config files of a stopped server's data dir into `to` (a backup). */
function backup(dataDir: string, to: string): void {
  for (const f of CONFIG_FILES) if (existsSync(join(dataDir, f))) copyFileSync(join(dataDir, f), join(to, f));
}

/** Put a backup's config files back in place (the files the backup lacks are removed). */
function restoreBackup(from: string, dataDir: string): void {
  for (const f of CONFIG_FILES) {
    if (existsSync(join(from, f))) copyFileSync(join(from, f), join(dataDir, f));
    else rmSync(join(dataDir, f), { force: true });
  }
}

async function sessionOf(who: ApiTarget, app: string): Promise<string> {
  const r = await api(who, 'POST', '/v3/sessions', { channel_id: app, num: 100 });
  assert.equal(r.status, 201, r.text);
  return (r.json.url as string).split('/sessions/')[1]!;
}

async function read(ts: TestServer, id: string): Promise<HttpStream> {
  const s = new HttpStream(`${ts.url}/sessions/${id}`);
  await s.done;
  return s;
}

async function putApp(ts: TestServer, app: string, msg: string): Promise<void> {
  const r = await api(ts, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] });
  assert.ok(r.status === 201 || r.status === 200, r.text);
  assert.equal(await postLogs(ts.url, (r.json.tokens as Record<string, string>)['app']!, [syslog(msg)]), 204);
}

test('after a restore from a backup, sessions whose key is gone or narrowed, or whose app is gone or another incarnation, are not restored', async () => {
  const dataDir = tempDir();
  const saved = tempDir('logplane-backup-');
  dirs.push(dataDir, saved);
  let ts = await startServer({}, { dataDir });
  await putApp(ts, 'bk', 'first-bk');
  await putApp(ts, 'other', 'first-other');
  const narrowed = await createKey(ts, 'narrowed', 'viewer', ['other']);
  await ts.close({ keepData: true });
  backup(dataDir, saved);

  // after the backup: bk deleted and made again, a new key, the narrowed key widened, a new app
  ts = await startServer({}, { dataDir });
  assert.equal((await api(ts, 'DELETE', '/v3/channels/bk')).status, 204);
  await putApp(ts, 'bk', 'second-bk');
  const fresh = await createKey(ts, 'fresh', 'viewer', ['bk']);
  assert.equal((await api(ts, 'PATCH', `/v3/keys/${narrowed.id}`, { apps: ['bk', 'other'] })).status, 200);
  await putApp(ts, 'later', 'first-later');
  const ids = {
    keyGone: await sessionOf(as(ts, fresh), 'bk'),
    keyNarrowed: await sessionOf(as(ts, narrowed), 'bk'),
    otherIncarnation: await sessionOf(ts, 'bk'),
    appGone: await sessionOf(ts, 'later'),
  };
  await ts.close({ keepData: true });
  assert.equal((JSON.parse(readFileSync(join(dataDir, 'sessions.json'), 'utf8')) as { sessions: unknown[] }).sessions.length, 4);

  restoreBackup(saved, dataDir);
  ts = await startServer({}, { dataDir });
  try {
    assert.equal(ts.server.tails.sessions.size, 0, 'none restored: none holds a quota slot');
    for (const [what, id] of Object.entries(ids)) assert.equal((await read(ts, id)).status, 404, what);
    // an app of that name made again does not revive its sessions
    await putApp(ts, 'later', 'second-later');
    const gone = await read(ts, ids.appGone);
    assert.equal(gone.status, 404);
    assert.doesNotMatch(gone.text, /later/);
  } finally {
    await ts.close();
  }
});

test('a session saved by the previous release (no app incarnation) is restored and reads the app of its name', async () => {
  const dataDir = tempDir();
  dirs.push(dataDir);
  let ts = await startServer({}, { dataDir });
  await putApp(ts, 'up', 'before-upgrade');
  await ts.close({ keepData: true });
  const id = '0b7f2f8e-2d55-4c4e-9d1a-5f0e8c7a9b31';
  const now = Date.now();
  const spec = { app: 'up', num: 100, tail: false, source: null, dyno: null, grep: null, after: null, keyId: null };
  writeFileSync(join(dataDir, 'sessions.json'), JSON.stringify({ version: 1, sessions: [{ id, spec, createdAt: now, leftAt: now }] }), { mode: 0o600 });

  ts = await startServer({}, { dataDir });
  try {
    const s = await read(ts, id);
    assert.equal(s.status, 200);
    assert.match(s.text, /before-upgrade/);
  } finally {
    await ts.close();
  }
});
