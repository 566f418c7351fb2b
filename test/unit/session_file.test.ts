// Sessions saved at a graceful stop and read back at start (embedded mode).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../src/obs/log.js';
import { SESSIONS_FILE, loadSessions, saveSessions } from '../../src/tail/session-file.js';
import { SessionStore, type SessionSpec } from '../../src/tail/session.js';
import { recordingLog } from '../support/faulty-store.js';

const spec: SessionSpec = { app: 'a', num: 10, tail: true, source: 'app', dyno: 'web', grep: null, after: null };

test('live sessions come back with their ids, spec and times; expired ones do not; the file is removed once read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'logplane-sessions-'));
  try {
    let now = 1_000_000;
    const clock = { now: () => now };
    const a = new SessionStore({ ttlMs: 360_000, clock });
    const live = a.create(spec)!;
    const old = a.create({ ...spec, app: 'b' })!;
    old.leftAt = now - 400_000; // expired already
    assert.equal(await saveSessions(dir, a), 1);
    assert.equal(statSync(join(dir, SESSIONS_FILE)).mode & 0o777, 0o600);
    now += 100_000; // the restart took 100 s
    const b = new SessionStore({ ttlMs: 360_000, clock });
    assert.equal(await loadSessions(dir, b, silentLog()), 1);
    const back = b.get(live.id)!;
    assert.deepEqual(back.spec, spec);
    assert.equal(back.leftAt, live.leftAt);
    assert.equal(b.get(old.id), undefined);
    assert.equal(existsSync(join(dir, SESSIONS_FILE)), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged sessions file is skipped and removed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'logplane-sessions-'));
  try {
    writeFileSync(join(dir, SESSIONS_FILE), '{"version":1,"sessions":[{"id":');
    assert.equal(await loadSessions(dir, new SessionStore(), silentLog()), 0);
    assert.equal(existsSync(join(dir, SESSIONS_FILE)), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a sessions file that cannot be read (a directory) is skipped with a warning naming it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'logplane-sessions-'));
  try {
    const path = join(dir, SESSIONS_FILE);
    mkdirSync(path);
    const rec = recordingLog();
    assert.equal(await loadSessions(dir, new SessionStore(), rec.log), 0);
    const warned = rec.records.filter((r) => r['at'] === 'sessions.file_unreadable');
    assert.equal(warned.length, 1, rec.text());
    assert.equal(warned[0]!['path'], path);
    assert.match(String(warned[0]!['err']), /EISDIR/);
    // no file at all is the rule, and says nothing
    rmSync(path, { recursive: true });
    assert.equal(await loadSessions(dir, new SessionStore(), rec.log), 0);
    assert.equal(rec.records.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a save that fails throws for the stop to log, with sessions or with none to save, and leaves no temp file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'logplane-sessions-'));
  try {
    mkdirSync(join(dir, SESSIONS_FILE));
    const store = new SessionStore();
    // none to save: the old file must go, or the next start restores it
    await assert.rejects(saveSessions(dir, store), /EISDIR|EPERM/);
    store.create(spec);
    await assert.rejects(saveSessions(dir, store), /EISDIR/);
    assert.deepEqual(readdirSync(dir), [SESSIONS_FILE], 'no sessions.json.tmp left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
