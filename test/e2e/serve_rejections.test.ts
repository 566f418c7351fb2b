// `logplane serve` and promise rejections no caller holds: a Redis command
// that a dropping connection never answered (ioredis sends some on its own)
// is logged and the node serves on; any other is a defect, logged, and the
// process stops gracefully with exit 1 instead of dying mid-write.
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../support/server.js';
import { killAll, spawnServer } from '../support/spawn.js';
import { until } from '../support/wait.js';

const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A module preloaded into the server that rejects a promise nobody handles when sent SIGUSR2 (once the test saw it serving). */
function rejecter(message: string): string {
  const d = tempDir('lp-reject-');
  dirs.push(d);
  const f = join(d, 'reject.mjs');
  writeFileSync(f, `process.on('SIGUSR2', () => { Promise.reject(new Error(${JSON.stringify(message)})); });\n`);
  return f;
}

async function serveWith(message: string) {
  const dataDir = tempDir('lp-reject-data-');
  dirs.push(dataDir);
  const srv = await spawnServer({ dataDir, env: { NODE_OPTIONS: `--import ${rejecter(message)}` } });
  srv.child.kill('SIGUSR2');
  return srv;
}

test('a Redis command a dropped connection never answered is logged and the server serves on', async () => {
  const srv = await serveWith('Connection is closed.');
  try {
    await until('logged', () => srv.stderr().includes('redis.dropped_command') || srv.stdout().includes('redis.dropped_command'), 10_000);
    const r = await fetch(`${srv.url}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(srv.child.exitCode, null, 'still running');
  } finally {
    await srv.stop();
  }
});

test('any other unhandled rejection is logged and the server stops gracefully with exit 1', async () => {
  const srv = await serveWith('something nobody expected');
  const { code } = await Promise.race([srv.exited, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('did not exit')), 15_000))]);
  const out = srv.stdout() + srv.stderr();
  assert.equal(code, 1);
  assert.match(out, /server\.unhandled_rejection/);
  // stopped gracefully: its run file is removed on the way out (a crash leaves it behind)
  assert.equal(existsSync(join(srv.dataDir, 'server.json')), false);
});
