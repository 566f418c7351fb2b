// Tails survive a graceful restart (embedded mode: sessions saved in the data
// dir): the real `heroku logs --tail` (SSE, EventSource reconnect with
// Last-Event-ID) and `logplane logs -t` (WebSocket, after=<seq>) keep
// running across a SIGTERM and a new start, and print the lines sent on
// both sides of it, each once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const herokuDir = process.env.LOGPLANE_HEROKU_CLI_DIR ?? join(homedir(), '.cache', 'logplane', 'heroku-cli');
const heroku = join(herokuDir, 'node_modules', '.bin', 'heroku');
const script = resolve('test/e2e/heroku-restart-netns.sh');
const logplane = resolve('dist/src/cli/logplane.js');

test('heroku logs --tail and logplane logs -t continue across a graceful restart, every line once', { timeout: 180_000 }, () => {
  assert.ok(existsSync(heroku), `the heroku CLI is not installed at ${heroku}: run scripts/deps.sh`);
  const work = mkdtempSync(join(tmpdir(), 'logplane-restart-'));
  try {
    const r = spawnSync('unshare', ['-rn', 'bash', script, logplane, heroku, work], { encoding: 'utf8', timeout: 150_000 });
    assert.equal(r.status, 0, `netns run failed: ${r.stderr}\n${r.stdout}`);
    const [, herokuPart = '', lpPart = ''] = r.stdout.split(/^=== (?:heroku|logplane)\n/m);
    for (const [name, part] of [['heroku logs --tail', herokuPart], ['logplane logs -t', lpPart]] as const) {
      const [out = '', rest = ''] = part.split(/^--- stderr\n/m);
      const [stderr = '', status = ''] = rest.split(/^--- status\n/m);
      const lines = out.trim().split('\n');
      assert.equal(status.trim(), 'alive', `${name} stopped: ${stderr}`);
      assert.equal(lines.filter((l) => l.endsWith(' after restart')).length, 1, `${name} printed:\n${out}\nstderr:\n${stderr}`);
      // every line once: nothing repeated by the reconnect
      assert.equal(new Set(lines).size, lines.length, `${name} repeated lines:\n${out}`);
      assert.match(lines[0]!, /^2026-11-22T10:00:00\+00:00 app\[web\.1\]: before restart \d+$/);
    }
  } finally {
    rmSync(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
