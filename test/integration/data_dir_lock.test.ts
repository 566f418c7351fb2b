// One server per data dir (store/dir-lock.ts, docs/operations.md): a second
// start on a data dir in use is refused with a clear message; a lock left by
// a clean stop or by a dead process does not stop the next start; a start
// while the holder stops waits for it; a failed lock write leaves no file and
// no open fd behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineFrom } from '../../src/line.js';
import { createLogplane } from '../../src/logplane.js';
import { DataDirInUseError } from '../../src/errors.js';
import { route } from '../../src/router.js';
import { DataDirLock, LOCK_FILE, LOCK_WAIT_MS } from '../../src/store/dir-lock.js';
import { startServer, tempDir } from '../support/server.js';
import { fillFileSystem, mountTmpfs, ROOT_SKIP } from '../support/tmpfs.js';
import { until } from '../support/wait.js';

test('a second server on a data dir in use is refused, naming the dir and the holder; after a clean stop the next one starts', async () => {
  const first = await startServer();
  const lockPath = join(first.dataDir, LOCK_FILE);
  try {
    const config = readFileSync(join(first.dataDir, 'config.json'), 'utf8');
    await assert.rejects(
      createLogplane({ dataDir: first.dataDir, http: false, syslog: false, logger: false }),
      (err: Error) => {
        assert.ok(err instanceof DataDirInUseError, err.message);
        assert.ok(err.message.includes(`data dir ${first.dataDir} is in use`), err.message);
        assert.match(err.message, new RegExp(`\\(pid ${process.pid}\\) is running`));
        return true;
      },
    );
    // the refused start left the first one's files alone
    assert.equal(readFileSync(join(first.dataDir, 'config.json'), 'utf8'), config);
    assert.ok(existsSync(lockPath));
  } finally {
    await first.close({ keepData: true });
  }
  assert.ok(!existsSync(lockPath), 'a clean stop removes the lock');
  const again = await createLogplane({ dataDir: first.dataDir, http: false, syslog: false, logger: false });
  await again.close();
});

test('a lock left by a process that is gone (SIGKILL, crash) is stale: the next start takes it over', async () => {
  const dir = tempDir();
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: gone, token: 'x', startedAt: '', proc: null, state: 'running' }));
  const lp = await createLogplane({ dataDir: dir, http: false, syslog: false, logger: false });
  assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
  await lp.close();
  // a lock naming this very pid that no server here holds was left by an earlier run with the same pid
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, token: 'old', startedAt: '', proc: null, state: 'running' }));
  const lp2 = await createLogplane({ dataDir: dir, http: false, syslog: false, logger: false });
  await lp2.close();
  // a live pid that /proc says was started after the lock was written: reused, stale
  if (existsSync('/proc/self/stat')) {
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, token: 'reused', startedAt: '', proc: 'another-boot:1', state: 'running' }));
    const lp3 = await createLogplane({ dataDir: dir, http: false, syslog: false, logger: false });
    await lp3.close();
  }
  // an empty lock (its writer died between create and write) is stale after a moment
  writeFileSync(join(dir, LOCK_FILE), '');
  const lp4 = await createLogplane({ dataDir: dir, http: false, syslog: false, logger: false });
  await lp4.close();
});

test('a start while the holder stops waits for it, then takes the lock; a running holder is refused at once', async () => {
  const dir = tempDir();
  const held = await DataDirLock.acquire(dir);
  const t0 = Date.now();
  await assert.rejects(DataDirLock.acquire(dir), DataDirInUseError);
  // without the wait a stopping holder gets (LOCK_WAIT_MS); a loaded machine may stall this process for a while
  assert.ok(Date.now() - t0 < LOCK_WAIT_MS / 3, `refused without waiting (${Date.now() - t0} ms)`);
  held.stopping();
  let waited: number | null = null;
  const next = DataDirLock.acquire(dir, { onWait: (pid) => (waited = pid) });
  let taken = false;
  void next.then(() => (taken = true));
  await until('the start says it waits for the stopping holder', () => waited !== null, 10_000);
  assert.equal(waited, process.pid);
  await new Promise((r) => setTimeout(r, 300)); // and keeps waiting (nothing to wait for: it must not happen)
  assert.equal(taken, false, 'it waits while the holder stops');
  held.release();
  const lock = await next;
  lock.release();
  // a holder that stays stopping past the wait: refused, saying so
  const slow = await DataDirLock.acquire(dir);
  slow.stopping();
  await assert.rejects(DataDirLock.acquire(dir, { waitMs: 200 }), /is still stopping after the wait/);
  slow.release();
});

test('a server closing hands the data dir to one started meanwhile: it starts once the first saved its rings', async () => {
  const first = await startServer();
  const { app } = await first.server.ctx.registry.putApp('handover', ['app']);
  route(app, lineFrom({ pri: 190, ts: '2026-01-01T00:00:00Z', source: 'app', dyno: 'web.1', msg: 'saved at the stop' }));
  const closing = first.close({ keepData: true });
  const second = await startServer({}, { dataDir: first.dataDir });
  try {
    await closing;
    const got = second.server.ctx.registry.get('handover');
    assert.ok(got, 'the config of the first');
    assert.equal(got.ring.count, 1, 'the ring the first saved at its stop');
  } finally {
    await second.close();
  }
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

test('marking the lock stopping on a full disk leaves the lock as it was, no temp file and no open fd', { skip: existsSync('/dev/full') ? false : 'needs /dev/full' }, async () => {
  const dir = tempDir();
  const lock = await DataDirLock.acquire(dir);
  const before = readFileSync(lock.path, 'utf8');
  // the temp file stopping() writes, made a link to /dev/full: its write fails with ENOSPC
  const tmp = `${lock.path}.${process.pid}.tmp`;
  symlinkSync('/dev/full', tmp);
  const fds = openFds();
  lock.stopping();
  assert.equal(openFds(), fds, 'the temp file is closed');
  assert.ok(!existsSync(tmp), 'the temp file is removed');
  assert.equal(readFileSync(lock.path, 'utf8'), before, 'the lock still says running');
  lock.release();
  assert.ok(!existsSync(lock.path));
});

test('a lock that cannot be written (a full tmpfs) stops the start naming it, and leaves no empty lock behind', { skip: ROOT_SKIP }, async () => {
  const fs = mountTmpfs('1m', 'logplane-fulllock-');
  try {
    const dir = join(fs.dir, 'data');
    await DataDirLock.acquire(dir).then((l) => l.release());
    fillFileSystem(join(fs.dir, 'filler'));
    const fds = openFds();
    await assert.rejects(DataDirLock.acquire(dir), new RegExp(`cannot create the data dir's lock ${join(dir, LOCK_FILE)}: ENOSPC`));
    assert.equal(openFds(), fds, 'the lock file is closed');
    assert.ok(!existsSync(join(dir, LOCK_FILE)), 'no empty lock for the next start to wait on');
  } finally {
    fs.unmount();
  }
});

test('a stale lock that keeps coming back is taken over a bounded number of times, then the start stops', async () => {
  const dir = tempDir();
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale = (n: number) => writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: gone, token: `back${n}`, startedAt: '', proc: null, state: 'running' }));
  stale(0);
  let takeovers = 0;
  // each take-over is undone at once, as by something that keeps recreating the file
  await assert.rejects(DataDirLock.acquire(dir, { onStale: () => stale(++takeovers) }), /cannot take over the data dir's stale lock .*: still there after 3 take-overs/);
  assert.equal(takeovers, 3);
});

test('a data dir that is a file is named as not a directory', async () => {
  const file = join(tempDir(), 'data');
  writeFileSync(file, 'x');
  await assert.rejects(createLogplane({ dataDir: file, http: false, syslog: false, logger: false }), new RegExp(`^StartError: data dir ${file} is not a directory$`));
});
