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

/** The `=== name` sections of a netns script's output. */
function sections(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = stdout.split(/^=== ([a-z-]+)\n/m);
  for (let i = 1; i < parts.length; i += 2) out.set(parts[i]!, parts[i + 1]!.trim());
  return out;
}

test('the real heroku CLI with API keys: a viewer key reads and tails its app only (auth:whoami names it); a developer key adds and removes drains of its app only', { timeout: 240_000 }, () => {
  assert.ok(existsSync(heroku), `the heroku CLI is not installed at ${heroku}: run scripts/deps.sh`);
  const work = mkdtempSync(join(tmpdir(), 'logplane-heroku-keys-'));
  try {
    const r = spawnSync('unshare', ['-rn', 'bash', resolve('test/e2e/heroku-keys-netns.sh'), logplane, heroku, work], { encoding: 'utf8', timeout: 210_000 });
    assert.equal(r.status, 0, `netns run failed: ${r.stderr}\n${r.stdout}`);
    const s = sections(r.stdout);
    const msgs = (text: string) => text.split('\n').map((l) => l.slice(l.indexOf(': ') + 2));
    assert.deepEqual(msgs(s.get('viewer-history') ?? '').filter((m) => m.startsWith('a ')), ['a one', 'a two']);
    assert.deepEqual(msgs(s.get('viewer-tail') ?? '').filter((m) => m.startsWith('a ')), ['a one', 'a two', 'a live']);
    // `heroku auth:whoami` names the key in use (GET /account: its name as `email`)
    assert.equal(s.get('viewer-whoami'), 'appa-viewer');
    // another app: heroku fails, and printed none of its lines
    assert.match(s.get('viewer-other-app') ?? '', /^exit=[1-9]\d*\n0$/);
    assert.match(s.get('viewer-drains-add') ?? '', /^exit=[1-9]/);
    assert.equal(s.get('developer-drains-add'), 'exit=0');
    const added = JSON.parse(s.get('developer-drains') ?? 'null') as { url: string; token: string }[];
    assert.deepEqual(added.map((d) => d.url), ['https://127.0.0.1:9/dev-drain']);
    // the live drain token is the admin's to read (SPEC 12): a developer key lists it as ***
    assert.deepEqual(added.map((d) => d.token), ['***']);
    assert.equal(s.get('developer-drains-remove'), 'exit=0');
    assert.deepEqual(JSON.parse(s.get('developer-drains-after') ?? 'null'), []);
    assert.match(s.get('developer-other-app') ?? '', /^exit=[1-9]/);
  } finally {
    rmSync(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
