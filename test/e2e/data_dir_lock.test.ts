// `logplane serve` on a data dir another server uses (store/dir-lock.ts,
// docs/operations.md#one-server-per-data-dir): refused at once with one clear
// line and exit 1, the first server's files untouched; after a SIGKILL the
// next start takes the stale lock; a graceful restart that starts the new
// process while the old one stops waits for it; a stale lock that cannot be
// removed stops the start with exit 1 and the reason (it spun at 100% CPU).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_WAIT_MS } from '../../src/store/dir-lock.js';
import { tempDir } from '../support/server.js';
import { QUIET_AUDIT } from '../support/quiet-audit.js';
import { cleanEnv, killAll, runCli, spawnServer } from '../support/spawn.js';
import { mountTmpfs, ROOT_SKIP } from '../support/tmpfs.js';

const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('a second logplane serve on a data dir in use exits 1 naming the dir and the holder; after SIGKILL and during a graceful stop the next one starts', async () => {
  const dataDir = tempDir('logplane-lock-');
  dirs.push(dataDir);
  const first = await spawnServer({ dataDir });
  const runFile = readFileSync(join(dataDir, 'server.json'), 'utf8');
  const config = readFileSync(join(dataDir, 'config.json'), 'utf8');
  const t0 = Date.now();
  const second = await runCli(['serve', '--port', '0'], { env: cleanEnv({ LOGPLANE_DATA_DIR: dataDir, LOGPLANE_SYSLOG_PORT: '0', LOGPLANE_LOG_LEVEL: 'warn', ...QUIET_AUDIT }) });
  assert.equal(second.code, 1, second.stderr);
  // refused without the wait a start gives a stopping holder (LOCK_WAIT_MS): the time is mostly the CLI's own
  // start, which a loaded machine stretches to seconds, so the bound is that wait, not a guess at a start's length
  assert.ok(Date.now() - t0 < LOCK_WAIT_MS, `refused at once, not after the wait for a stopping holder (${Date.now() - t0} ms)`);
  assert.equal(second.stderr, `logplane: cannot start: data dir ${dataDir} is in use: another logplane server (pid ${first.pid}) is running; stop it first, or give this one its own LOGPLANE_DATA_DIR (or --data-dir)\n`);
  assert.equal(readFileSync(join(dataDir, 'server.json'), 'utf8'), runFile, "the first server's server.json is left alone");
  assert.equal(readFileSync(join(dataDir, 'config.json'), 'utf8'), config);

  // a crash leaves the lock behind: stale, taken over
  await first.stop('SIGKILL');
  const third = await spawnServer({ dataDir });

  // a graceful restart: the new process starts while the old one stops, and waits for it
  third.child.kill('SIGTERM');
  const fourth = await spawnServer({ dataDir });
  assert.deepEqual(await third.exited, { code: 0, signal: null });
  assert.notEqual(fourth.pid, third.pid);
  assert.equal(JSON.parse(readFileSync(join(dataDir, 'lock'), 'utf8')).pid, fourth.pid);
  assert.deepEqual(await fourth.stop(), { code: 0, signal: null });
});

/** `logplane serve` on dataDir, killed if it has not exited after 10 s (it spun forever on a lock it could not remove). */
async function serveBounded(dataDir: string): Promise<{ code: number | null; stderr: string; ms: number }> {
  const t0 = Date.now();
  const r = await runCli(['serve', '--port', '0'], { timeoutMs: 10_000, env: cleanEnv({ LOGPLANE_DATA_DIR: dataDir, LOGPLANE_SYSLOG_PORT: '0', LOGPLANE_LOG_LEVEL: 'warn', ...QUIET_AUDIT }) });
  return { code: r.code, stderr: r.stderr, ms: Date.now() - t0 };
}

test('a stale lock that cannot be removed (a directory) stops the start: exit 1 naming the lock and the error, not a spin', async () => {
  const dataDir = tempDir('logplane-lockdir-');
  dirs.push(dataDir);
  mkdirSync(join(dataDir, 'lock'));
  const r = await serveBounded(dataDir);
  assert.equal(r.code, 1, `exit 1 within 10 s (null: killed after 10 s); ${r.ms} ms; ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^logplane: cannot start: cannot remove the data dir's lock ${join(dataDir, 'lock')}: (EISDIR|EPERM)`));
});

test('a stale lock on a file system remounted read-only after a crash stops the start: exit 1 with EROFS, not a spin', { skip: ROOT_SKIP }, async () => {
  const fs = mountTmpfs('4m', 'logplane-rolock-');
  try {
    const dataDir = join(fs.dir, 'data');
    const crashed = await spawnServer({ dataDir });
    await crashed.stop('SIGKILL');
    fs.remount(true);
    const r = await serveBounded(dataDir);
    assert.equal(r.code, 1, `exit 1 within 10 s (null: killed after 10 s); ${r.ms} ms; ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^logplane: cannot start: cannot remove the data dir's lock ${join(dataDir, 'lock')}: EROFS`));
    assert.doesNotMatch(r.stderr, /took over/, 'no take-over is claimed');
  } finally {
    fs.unmount();
  }
});
