// The real heroku CLI (npm `heroku`, installed by scripts/deps.sh outside the
// repo) against a logplane server, both inside a loopback-only network
// namespace: `heroku logs -n`, `heroku logs --tail -s app -d web`, and
// `heroku drains:add` then `heroku drains --extended` (drain_id=<n>).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { numericDrainId } from '../../src/api/platform-drains.js';

const herokuDir = process.env.LOGPLANE_HEROKU_CLI_DIR ?? join(homedir(), '.cache', 'logplane', 'heroku-cli');
const heroku = join(herokuDir, 'node_modules', '.bin', 'heroku');
const script = resolve('test/e2e/heroku-netns.sh');
const logplane = resolve('dist/src/cli/logplane.js');

test('the real heroku CLI reads history, tails with -s and -d, and lists drains with --extended', { timeout: 180_000 }, () => {
  assert.ok(existsSync(heroku), `the heroku CLI is not installed at ${heroku}: run scripts/deps.sh`);
  const work = mkdtempSync(join(tmpdir(), 'logplane-heroku-'));
  try {
    const r = spawnSync('unshare', ['-rn', 'bash', script, logplane, heroku, work], { encoding: 'utf8', timeout: 150_000 });
    assert.equal(r.status, 0, `netns run failed: ${r.stderr}\n${r.stdout}`);
    const [, history = '', tail = '', drains = '', drainsJson = ''] = r.stdout.split(/^=== (?:history|tail|drains|drains-json)\n/m);
    // -n 2: the newest two lines, oldest first, in Heroku's display format
    assert.deepEqual(history.trim().split('\n'), [
      '2026-11-22T10:00:00+00:00 app[worker.1]: history two',
      '2026-11-22T10:00:00+00:00 app[web.2]: history three',
    ]);
    // --tail -s app -d web: web.N only (not worker.1, not webhook.1), history then live
    assert.deepEqual(tail.trim().split('\n'), [
      '2026-11-22T10:00:00+00:00 app[web.1]: history one',
      '2026-11-22T10:00:00+00:00 app[web.2]: history three',
      '2026-11-22T10:00:00+00:00 app[web.1]: live web',
      '2026-11-22T10:00:00+00:00 app[web.3]: live web three',
    ]);
    // drains --extended prints `URL (TOKEN) drain_id=N` from extended.drain_id
    const [drain] = JSON.parse(drainsJson) as { id: string; token: string; url: string }[];
    assert.ok(drain, `heroku drains --json printed no drain: ${drainsJson}`);
    assert.deepEqual(drains.trim().split('\n'), ['=== Drains', '', `https://127.0.0.1:9/heroku-drain (${drain.token}) drain_id=${numericDrainId(drain.id)}`]);
  } finally {
    rmSync(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
