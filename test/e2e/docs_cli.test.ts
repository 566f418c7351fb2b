// docs/api.md stays true to the CLI: its command list names every command
// `logplane --help` lists, and every error line it quotes is one the CLI
// prints (and every such error is quoted), once paths and ports are
// replaced by the docs' examples (/srv, /home/me, 127.0.0.1:8601).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runShellInNetns } from '../support/netns.js';
import { tempDir } from '../support/server.js';
import { CLI, REPO, cleanEnv, killAll, runCli, spawnServer } from '../support/spawn.js';
import { freePort } from '../support/net.js';

const apiDoc = readFileSync(join(REPO, 'docs/api.md'), 'utf8');
const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The first fenced block after `heading`. */
function blockAfter(heading: string): string[] {
  const at = apiDoc.indexOf(`\n${heading}\n`);
  assert.notEqual(at, -1, `docs/api.md has no ${heading}`);
  const open = apiDoc.indexOf('\n```', at);
  const start = apiDoc.indexOf('\n', open + 1) + 1;
  const end = apiDoc.indexOf('\n```', start);
  return apiDoc.slice(start, end).split('\n');
}

describe('docs/api.md and the CLI', () => {
  it('the command list names every command of logplane --help', async () => {
    const help = await runCli(['--help']);
    const names = [...help.stdout.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]!);
    assert.ok(names.includes('apps:create') && names.includes('config:key'), help.stdout);
    const listed = blockAfter('## CLI');
    for (const n of names) assert.ok(listed.some((l) => l.startsWith(`logplane ${n} `)), `docs/api.md CLI list lacks ${n}`);
  });

  it('the quoted error lines are the ones the CLI prints', { timeout: 60_000 }, async () => {
    const cwd = tempDir('logplane-docs-cwd-');
    const home = tempDir('logplane-docs-home-');
    dirs.push(cwd, home);
    const got = new Set<string>();
    let url = '';
    const norm = (s: string) => s.split(cwd).join('/srv').split(home).join('/home/me').split(url || '\u0000').join('http://127.0.0.1:8601');
    const record = (stderr: string) => {
      assert.match(stderr, /^logplane: [^\n]+\n$/);
      got.add(norm(stderr.trimEnd()));
    };
    const env = (extra: Record<string, string> = {}) => cleanEnv({ HOME: home, ...extra });

    // no server, no key; config:key with nothing saved
    record((await runCli(['apps'], { cwd, env: env() })).stderr);
    record((await runCli(['config:key'], { cwd, env: env() })).stderr);
    // wrong usage: one line, exit 2, whatever the command (checked before any server is looked for)
    for (const args of [['logs', '-a', 'myapp', '-n', '-1'], ['logs', '-a', 'myapp', '--bogus'], ['drains:add', '-a', 'myapp'], ['apps:destroy', 'keep', '-a', 'other'], ['drains:add', 'https://example.com/x', '-a', 'myapp', '-a', 'other']]) {
      const r = await runCli(args, { cwd, env: env() });
      assert.equal(r.code, 2, args.join(' '));
      record(r.stderr);
    }
    // the default URL with nothing listening (a namespace, so 8601 is free)
    const r = await runShellInNetns(`cd "${cwd}"; LOGPLANE_API_KEY=k0123456789abcdef node "${CLI}" apps || true`, { env: env() });
    record(r.stderr.replace(/^(?!logplane: )[^\n]*\n/gm, ''));
    // LOGPLANE_URL with nothing listening
    url = `http://127.0.0.1:${await freePort()}`;
    record((await runCli(['apps'], { cwd, env: env({ LOGPLANE_URL: url, LOGPLANE_API_KEY: 'k0123456789abcdef' }) })).stderr);
    // a server: wrong key, unknown app, existing app, bad name, missing app
    const dataDir = join(cwd, 'data');
    mkdirSync(dataDir);
    const srv = await spawnServer({ dataDir });
    try {
      url = srv.url;
      const ok = env({ LOGPLANE_URL: srv.url, LOGPLANE_API_KEY: srv.apiKey });
      record((await runCli(['apps'], { cwd, env: env({ LOGPLANE_URL: srv.url, LOGPLANE_API_KEY: 'not-the-key-0123456789' }) })).stderr);
      record((await runCli(['apps:destroy', 'myapp'], { cwd, env: ok })).stderr);
      assert.equal((await runCli(['apps:create', 'myapp'], { cwd, env: ok })).code, 0);
      record((await runCli(['apps:create', 'myapp'], { cwd, env: ok })).stderr);
      record((await runCli(['apps:create', 'MyApp'], { cwd, env: ok })).stderr);
      record((await runCli(['logs'], { cwd, env: ok })).stderr);
    } finally {
      await srv.stop();
    }

    const quoted = blockAfter('### Errors');
    for (const line of got) assert.ok(quoted.includes(line), `docs/api.md does not quote:\n${line}`);
    for (const line of quoted) assert.ok(got.has(line), `docs/api.md quotes an error the CLI does not print:\n${line}`);
  });
});
