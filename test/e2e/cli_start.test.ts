// What `logplane serve` tells a new user, and how `logplane` gets on PATH:
// the commands the start message suggests run as printed (pasted into bash
// in the server's directory), the message says where the admin key is kept
// on every start, and `logplane config:key` prints it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../support/server.js';
import { CLI, REPO, cleanEnv, killAll, runCli, runShell, spawnServer, type ServerProcess } from '../support/spawn.js';
import { runShellInNetns } from '../support/netns.js';
import { until } from '../support/wait.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

/** The whole start message (it is written just after server.json). */
async function startMessage(srv: ServerProcess): Promise<string> {
  return until('the start message', () => (/ logs -a myapp\n/.test(srv.stdout()) ? srv.stdout() : null));
}

/** The indented commands under "try it ...". */
function suggested(message: string): string {
  const lines = message.split('\n');
  const at = lines.findIndex((l) => /^ {2}try it\b/.test(l));
  assert.notEqual(at, -1, `no "try it" in:\n${message}`);
  const cmds: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (!l.startsWith('    ')) break;
    cmds.push(l.trim());
  }
  assert.ok(cmds.length >= 3, message);
  return cmds.join('\n');
}

/** Paste the suggested commands into bash in `cwd`; they must succeed and show the line sent. */
async function assertSuggestionsRun(message: string, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const script = suggested(message);
  const r = await runShell(script, { cwd, env });
  assert.equal(r.code, 0, `suggested commands failed:\n${script}\n--- stderr\n${r.stderr}`);
  assert.match(r.stdout, /^Created myapp\n/);
  assert.match(r.stdout, /app\[cli\]: hello\n$/);
  return script;
}

describe('the start message', () => {
  it('suggests commands that run as printed outside the clone (node and the full path)', async () => {
    const cwd = dir('logplane-start-');
    const srv = await spawnServer({ dataDir: join(cwd, '.logplane'), cwd });
    try {
      const script = await assertSuggestionsRun(await startMessage(srv), cwd, cleanEnv());
      assert.match(script, /^node \S+logplane\.js apps:create myapp$/m);
    } finally {
      await srv.stop();
    }
  });

  it('suggests npx logplane in the clone, and exports a data dir that is not ./.logplane', async () => {
    const data = dir('logplane-start-data-');
    const srv = await spawnServer({ dataDir: data, cwd: REPO, env: { LOGPLANE_DATA_DIR: data } });
    try {
      const script = await assertSuggestionsRun(await startMessage(srv), REPO, cleanEnv());
      assert.match(script, /^export LOGPLANE_DATA_DIR=/m);
      assert.match(script, /^npx logplane apps:create myapp$/m);
    } finally {
      await srv.stop();
    }
  });

  it('every start says where the admin key is kept; only the first start shows the key', async () => {
    const cwd = dir('logplane-start-');
    const dataDir = join(cwd, '.logplane');
    let srv = await spawnServer({ dataDir, cwd });
    const first = await startMessage(srv);
    await srv.stop();
    assert.ok(first.includes(srv.apiKey), `the first start shows the new key:\n${first}`);
    assert.ok(first.includes(join(dataDir, 'config.json')), first);
    srv = await spawnServer({ dataDir, cwd });
    try {
      const second = await startMessage(srv);
      assert.ok(!second.includes(srv.apiKey), `a later start does not show the key:\n${second}`);
      const line = second.split('\n').find((l) => l.includes('admin API key'));
      assert.ok(line, second);
      assert.ok(line.includes(join(dataDir, 'config.json')), line);
      // the command it names prints the key
      const cmd = /print it with: (.+)$/.exec(line)?.[1];
      assert.ok(cmd, line);
      const r = await runShell(cmd, { cwd, env: cleanEnv() });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${srv.apiKey}\n`);
    } finally {
      await srv.stop();
    }
  });
});

describe('the start message on all interfaces', () => {
  // a loopback-only namespace: listening on 0.0.0.0 exposes nothing
  it('without LOGPLANE_PUBLIC_URL, says that session URLs point at 127.0.0.1 and how to change that; with it, says nothing', async () => {
    const data = dir('logplane-start-any-');
    // each start its own output file: the background job truncates it only once it runs, and the wait
    // loop must not find the previous start's message in it
    let n = 0;
    const start = (extra: string) => {
      const out = `${data}/out-${++n}`;
      return runShellInNetns(
      `node "${CLI}" serve --host 0.0.0.0 --port 0 --syslog-port 0 --data-dir "${data}" ${extra} > "${out}" 2>&1 & pid=$!
       for i in $(seq 300); do grep -q 'logs -a myapp' "${out}" && break; sleep 0.1; done
       kill $pid; wait $pid || true; cat "${out}"`,
      { env: cleanEnv({ LOGPLANE_LOG_LEVEL: 'warn' }), cwd: data },
      );
    };
    const bare = await start('');
    assert.match(bare.stdout, /^ {2}API, ingest, sessions: +http:\/\/127\.0\.0\.1:\d+$/m, bare.stdout + bare.stderr);
    assert.match(bare.stdout, /^ {2}note: listening on all interfaces, but session URLs \(heroku logs, logs -t\) point at http:\/\/127\.0\.0\.1:\d+, which only this machine reaches; set LOGPLANE_PUBLIC_URL \(--public-url\) to the URL other hosts use$/m, bare.stdout);
    const set = await start('--public-url https://logs.example.com');
    assert.match(set.stdout, /^ {2}API, ingest, sessions: +https:\/\/logs\.example\.com$/m, set.stdout + set.stderr);
    assert.ok(!set.stdout.includes('note:'), set.stdout);
  });
});

describe('logplane config:key', () => {
  it('prints the key of ./.logplane, --data-dir or LOGPLANE_DATA_DIR, and nothing else', async () => {
    const cwd = dir('logplane-key-');
    const other = dir('logplane-key-other-');
    mkdirSync(join(cwd, '.logplane'));
    writeFileSync(join(cwd, '.logplane', 'config.json'), JSON.stringify({ version: 1, apiKey: 'here-key-0123456789abcdef', apps: [] }));
    writeFileSync(join(other, 'config.json'), JSON.stringify({ version: 1, apiKey: 'other-key-0123456789abcdef', apps: [] }));
    assert.deepEqual(await runCli(['config:key'], { cwd, env: cleanEnv() }), { code: 0, stdout: 'here-key-0123456789abcdef\n', stderr: '' });
    assert.deepEqual(await runCli(['config:key', '--data-dir', other], { cwd, env: cleanEnv() }), { code: 0, stdout: 'other-key-0123456789abcdef\n', stderr: '' });
    assert.deepEqual(await runCli(['config:key'], { cwd, env: cleanEnv({ LOGPLANE_DATA_DIR: other }) }), { code: 0, stdout: 'other-key-0123456789abcdef\n', stderr: '' });
  });

  it('with no saved key: one line saying where it looked and how to get one', async () => {
    const cwd = dir('logplane-key-');
    const r = await runCli(['config:key'], { cwd, env: cleanEnv() });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^logplane: no admin key: \S+\/\.logplane\/config\.json does not exist; start the server once with `logplane serve`[^\n]*\n$/);
  });
});

describe('logplane on PATH', () => {
  it('npm install -g of the clone gives a working logplane (--version), and the start message then says logplane', { timeout: 120_000 }, async () => {
    const prefix = dir('logplane-prefix-');
    const npm = spawnSync('npm', ['install', '-g', '--prefix', prefix, REPO, '--offline', '--no-audit', '--no-fund'], { encoding: 'utf8', timeout: 100_000, env: cleanEnv() });
    assert.equal(npm.status, 0, `npm install -g failed: ${npm.stderr}`);
    const bin = join(prefix, 'bin', 'logplane');
    for (const flag of ['--version', '-v']) {
      const v = spawnSync(bin, [flag], { encoding: 'utf8', env: cleanEnv() });
      assert.equal(v.status, 0, v.stderr);
      assert.equal(v.stdout, `${VERSION}\n`);
    }
    const env = cleanEnv({ PATH: `${join(prefix, 'bin')}:${process.env['PATH'] ?? ''}` });
    const cwd = dir('logplane-start-');
    const srv = await spawnServer({ dataDir: join(cwd, '.logplane'), cwd, env: { PATH: env['PATH']! } });
    try {
      const script = await assertSuggestionsRun(await startMessage(srv), cwd, env);
      assert.match(script, /^logplane apps:create myapp$/m);
    } finally {
      await srv.stop();
    }
  });
});
