// What the CLI says: `send` reports what it sent on a terminal and nothing
// into a pipe; --version; app names checked by the CLI in its own words
// (the v3 API's "channel" never reaches the user).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../support/server.js';
import { CLI, REPO, cleanEnv, killAll, runCli, runShell, spawnServer, type ServerProcess } from '../support/spawn.js';
import { needs } from '../support/deps.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const RULE = "app name must be lowercase letters, digits, '.', '_' or '-', start with a letter or digit, at most 100 characters";

describe('the CLI against a server', () => {
  let srv: ServerProcess;
  let work: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    work = tempDir('logplane-messages-');
    srv = await spawnServer({ dataDir: join(work, 'data') });
    env = cleanEnv({ LOGPLANE_URL: srv.url, LOGPLANE_API_KEY: srv.apiKey });
    const r = await runCli(['apps:create', 'sendme'], { env });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await srv?.stop();
    await killAll();
    rmSync(work, { recursive: true, force: true });
  });

  it('send on a terminal reports the lines sent and the rate on stderr', { skip: needs('script', 'bsdutils', spawnSync('script', ['--version']).status === 0) }, async () => {
    const input = join(work, 'three.txt');
    writeFileSync(input, 'one\ntwo\nthree\n');
    // script(1) gives the command a pseudo-terminal for stdin, stdout and stderr
    const r = await runShell(`script -qec ${JSON.stringify(`${process.execPath} ${CLI} send -a sendme < ${input}`)} /dev/null`, { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.replace(/\r/g, ''), /^sent 3 lines in \d+(\.\d+)? s \([\d,]+ lines\/s\)\n$/);
  });

  it('send into a pipe prints nothing', async () => {
    const r = await runCli(['send', '-a', 'sendme'], { env, input: 'four\nfive\n' });
    assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
  });

  it('an invalid app name is refused in the CLI\'s words, for every command', async () => {
    const cases = [
      ['apps:create', 'MyApp'],
      ['apps:destroy', 'MyApp'],
      ['tokens:create', 'MyApp', 'web'],
      ['send', '-a', 'MyApp'],
      ['logs', '-a', 'MyApp'],
      ['drains', '-a', 'MyApp'],
      ['drains:add', 'https://logs.example.com/x', '-a', 'MyApp'],
      ['apps:create', `a${'b'.repeat(100)}`],
      ['apps:create', '_x'],
    ];
    for (const args of cases) {
      const r = await runCli(args, { env, input: 'x\n' });
      const name = args.find((a) => /^(MyApp|ab+|_x)$/.test(a))!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `logplane: invalid app name ${JSON.stringify(name)}: ${RULE}\n`, args.join(' '));
    }
  });
});

describe('logplane --version', () => {
  it('--version and -v print the package version', async () => {
    for (const flag of ['--version', '-v']) assert.deepEqual(await runCli([flag]), { code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });
});
