// The built `logplane` CLI (SPEC 8) against a spawned server, found with no
// flags (./.logplane/server.json and config.json), and its error lines.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sendSyslog } from '../support/syslog.js';
import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { OctetFramer } from '../../src/ingest/framing.js';
import { ScanError, SyslogHeader, scanSyslog } from '../../src/ingest/syslog.js';
import { tempDir } from '../support/server.js';
import { cleanEnv, killAll, runCli, spawnServer, type CliResult, type ServerProcess } from '../support/spawn.js';
import { freePort } from '../support/net.js';
import { until } from '../support/wait.js';

const TOKEN_RE = /^t\.[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Exactly one line on stderr, nothing on stdout, a non-zero exit. */
function assertOneLineError(r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^logplane: [^\n]+\n$/, `one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, pattern);
}


describe('the CLI against a running server', () => {
  let cwd: string;
  let srv: ServerProcess;
  let syslogPort: number;
  const cli = (args: string[], input?: string) => runCli(args, { cwd, env: cleanEnv(), input });

  before(async () => {
    cwd = tempDir('logplane-cli-');
    dirs.push(cwd);
    syslogPort = await freePort();
    // no LOGPLANE_DATA_DIR: the server and the CLI both use ./.logplane
    srv = await spawnServer({ dataDir: join(cwd, '.logplane'), cwd, syslogPort });
  });
  after(async () => {
    await srv?.stop('SIGTERM');
  });

  it('apps:create, apps, tokens:create, logs, apps:destroy', async () => {
    let r = await cli(['apps']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No apps yet/);

    r = await cli(['apps:create', 'myapp']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Created myapp\n {2}token app: t\.[0-9a-f-]{36}\n$/);
    const appToken = /token app: (t\.[0-9a-f-]{36})/.exec(r.stdout)![1]!;

    assertOneLineError(await cli(['apps:create', 'myapp']), /app "myapp" already exists/);

    r = await cli(['tokens:create', 'myapp', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), TOKEN_RE);
    const webToken = r.stdout.trim();

    await sendSyslog(syslogPort, [
      `<190>1 2024-01-01T00:00:01Z h ${appToken} web.1 - - hello one`,
      `<190>1 2024-01-01T00:00:02Z h ${webToken} web.2 - - hello two`,
      `<190>1 2024-01-01T00:00:03Z h ${appToken} worker.1 - - hello three`,
    ]);
    await until('3 lines', async () => {
      const res = await fetch(`${srv.url}/v3/channels/myapp/logs`, { headers: { authorization: srv.auth }, signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      return res.headers.get('logplex-msg-count') === '3';
    });

    r = await cli(['apps']);
    assert.equal(r.code, 0, r.stderr);
    const row = r.stdout.split('\n').find((l) => l.startsWith('myapp'));
    assert.ok(row, r.stdout);
    assert.match(row, /^myapp\s+3\s+\S+ B\s+3\s+app,web\s+0$/);

    r = await cli(['logs', '-a', 'myapp', '-n', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '2024-01-01T00:00:02Z web[web.2]: hello two\n2024-01-01T00:00:03Z app[worker.1]: hello three\n');

    r = await cli(['logs', '-a', 'myapp', '-d', 'web']);
    assert.equal(r.stdout, '2024-01-01T00:00:01Z app[web.1]: hello one\n2024-01-01T00:00:02Z web[web.2]: hello two\n');
    r = await cli(['logs', '-a', 'myapp', '-s', 'app', '--json']);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l)), [
      { seq: 1, ts: '2024-01-01T00:00:01Z', source: 'app', dyno: 'web.1', pri: 190, msg: 'hello one' },
      { seq: 3, ts: '2024-01-01T00:00:03Z', source: 'app', dyno: 'worker.1', pri: 190, msg: 'hello three' },
    ]);

    r = await cli(['apps:destroy', 'myapp']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Destroyed myapp\n');
    assertOneLineError(await cli(['apps:destroy', 'myapp']), /^logplane: app "myapp" not found\n$/);
  });

  it('send (stdin) then logs -a APP -n N shows the lines', async () => {
    let r = await cli(['apps:create', 'sender']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['send', '-a', 'sender', '-d', 'web.1'], 'first\r\nsecond\n\nfourth has  spaces\nno newline at end');
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['logs', '-a', 'sender', '-n', '4']);
    assert.equal(r.code, 0, r.stderr);
    const got = r.stdout.split('\n').slice(0, -1).map((l) => l.replace(/^\S+ /, ''));
    assert.deepEqual(got, ['app[web.1]: second', 'app[web.1]: ', 'app[web.1]: fourth has  spaces', 'app[web.1]: no newline at end']);
    r = await cli(['logs', '-a', 'sender', '-n', '10']);
    assert.equal(r.stdout.split('\n').length - 1, 5, 'exactly the stored lines');
  });

  it('unknown app: one line and a non-zero exit, for every command', async () => {
    for (const args of [['logs', '-a', 'ghost'], ['tokens:create', 'ghost', 'x'], ['apps:destroy', 'ghost'], ['send', '-a', 'ghost']]) {
      assertOneLineError(await cli(args, 'x\n'), /^logplane: app "ghost" not found\n$/);
    }
  });

  it('usage errors exit 2 with one line; --help prints the usage and exits 0', async () => {
    assertOneLineError(await cli(['logs']), /missing app/);
    assertOneLineError(await cli(['frobnicate']), /unknown command "frobnicate"/);
    assertOneLineError(await cli(['logs', '-a', 'x', '--bogus']), /--bogus/);
    assertOneLineError(await cli(['logs', '-a', 'x', '-n', 'many']), /-n must be a whole number/);
    assert.equal((await cli(['logs'])).code, 2);
    for (const args of [['--help'], ['apps', '--help'], ['send', '-h'], ['help', 'logs'], ['logs', '-a', 'x', '--help']]) {
      const r = await cli(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /^usage: logplane/);
    }
  });

  it('two apps named (APP and -a, two APPs, -a twice): a usage error, and no app is touched', async () => {
    for (const app of ['keep', 'other']) assert.equal((await cli(['apps:create', app])).code, 0);
    // each of these once acted on one of the two apps and silently ignored the other
    for (const args of [
      ['apps:destroy', 'keep', '-a', 'other'],
      ['apps:destroy', 'keep', 'other'],
      ['apps:destroy', '-a', 'keep', '-a', 'other'],
      ['apps:create', 'fresh', 'other'],
      ['apps:create', 'fresh', '-a', 'fresh2'],
      ['drains:add', 'https://example.com/x', '-a', 'keep', '-a', 'other'],
      ['tokens:create', 'web', '-a', 'keep', '-a', 'other'],
      ['logs', '-a', 'keep', '-n', '1', '-n', '2'],
    ]) {
      const r = await cli(args);
      assertOneLineError(r, /unexpected argument|given more than once/);
      assert.equal(r.code, 2, args.join(' '));
    }
    const list = JSON.parse((await cli(['apps', '--json'])).stdout) as { channel: string; drains: number; token_names: string[] }[];
    const mine = list.filter((a) => ['keep', 'other', 'fresh', 'fresh2'].includes(a.channel));
    assert.deepEqual(mine.map((a) => [a.channel, a.drains, a.token_names]), [['keep', 0, ['app']], ['other', 0, ['app']]]);
  });

  it('a wrong key is one clear line', async () => {
    const r = await runCli(['apps'], { cwd, env: cleanEnv({ LOGPLANE_API_KEY: 'not-the-key-at-all' }) });
    assertOneLineError(r, /refused the API key/);
  });

  it('LOGPLANE_URL and LOGPLANE_API_KEY work from anywhere', async () => {
    const elsewhere = tempDir('logplane-cli-');
    dirs.push(elsewhere);
    const r = await runCli(['apps'], { cwd: elsewhere, env: cleanEnv({ LOGPLANE_URL: srv.url, LOGPLANE_API_KEY: srv.apiKey }) });
    assert.equal(r.code, 0, r.stderr);
  });
});

describe('the CLI with no server', () => {
  it('no server.json and no key: one clear line saying where the key was looked for', async () => {
    const cwd = tempDir('logplane-cli-');
    dirs.push(cwd);
    assertOneLineError(await runCli(['apps'], { cwd, env: cleanEnv({ HOME: cwd }) }), /^logplane: no API key for http:\/\/127\.0\.0\.1:8601 \(the default: LOGPLANE_URL is unset and there is no \S+server\.json\): looked in LOGPLANE_API_KEY, .*logplane serve/);
  });

  it('a server.json left by a dead process: one clear line', async () => {
    const cwd = tempDir('logplane-cli-');
    dirs.push(cwd);
    mkdirSync(join(cwd, '.logplane'));
    // a pid that cannot exist (above the kernel's pid_max)
    writeFileSync(join(cwd, '.logplane', 'server.json'), JSON.stringify({ version: 1, url: 'http://127.0.0.1:9', localUrl: 'http://127.0.0.1:9', pid: 2 ** 30 }));
    assertOneLineError(await runCli(['apps'], { cwd, env: cleanEnv({ HOME: cwd }) }), /left over from pid \d+, which is gone/);
  });

  it('nothing listening at LOGPLANE_URL: cannot reach ... connection refused', async () => {
    const port = await freePort();
    const r = await runCli(['apps'], { env: cleanEnv({ LOGPLANE_URL: `http://127.0.0.1:${port}`, LOGPLANE_API_KEY: 'k'.repeat(20) }) });
    assertOneLineError(r, new RegExp(`^logplane: cannot reach the server at http://127\\.0\\.0\\.1:${port}: connection refused\\n$`));
  });
});

describe('logplane send on the wire (SPEC 3.1), against a recording server', () => {
  let fake: Server;
  let url: string;
  const posts: { headers: IncomingMessage['headers']; body: Buffer }[] = [];
  let tokenCreated = false;
  const TOKEN = 't.11111111-2222-4333-8444-555555555555';

  before(async () => {
    fake = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const json = (status: number, v: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(v));
        };
        if (req.method === 'GET' && req.url === '/v3/channels/fake') return json(200, { channel: 'fake', tokens: tokenCreated ? { app: TOKEN } : { heroku: 't.x' }, drains: [] });
        if (req.method === 'POST' && req.url === '/v3/channels/fake/tokens') {
          assert.deepEqual(JSON.parse(body.toString()), { name: 'app' });
          tokenCreated = true;
          return json(200, { token: TOKEN, name: 'app' });
        }
        if (req.method === 'POST' && req.url === '/logs') {
          posts.push({ headers: req.headers, body });
          res.writeHead(204);
          return res.end();
        }
        json(404, { id: 'not_found', error: 'channel not found' });
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
  });
  after(async () => {
    fake.closeAllConnections();
    await new Promise((r) => fake.close(r));
  });

  it('creates the "app" token, then POSTs octet-counted RFC 5424 frames with Basic token auth', async () => {
    const long = `${'é'.repeat(12_000)}`; // 24,000 bytes: split into pieces of at most 10,000, never inside a character
    const input = `one\r\ntwo  spaced\n\n- [not sd] dash\n${long}\nlast`;
    const r = await runCli(['send', '-a', 'fake', '-d', 'web.3'], { env: cleanEnv({ LOGPLANE_URL: url, LOGPLANE_API_KEY: 'k'.repeat(20) }), input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(tokenCreated, 'the app had no "app" token, so send made one');
    assert.ok(posts.length >= 1);

    const msgs: string[] = [];
    for (const p of posts) {
      assert.equal(p.headers['authorization'], `Basic ${Buffer.from(`token:${TOKEN}`).toString('base64')}`);
      assert.equal(p.headers['content-type'], 'application/logplex-1');
      let frames = 0;
      const hdr = new SyslogHeader();
      const framer = new OctetFramer((buf, s, e) => {
        frames++;
        assert.equal(scanSyslog(buf, s, e, hdr), ScanError.OK);
        assert.equal(hdr.pri, 190);
        assert.equal(buf.toString('latin1', hdr.appStart, hdr.appEnd), 'app');
        assert.equal(buf.toString('latin1', hdr.procStart, hdr.procEnd), 'web.3');
        assert.match(buf.toString('latin1', hdr.tsStart, hdr.tsEnd), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
        assert.ok(e - s < 64 * 1024);
        // the nil MSGID and SD are explicit, so a message that starts with "- [" is kept whole
        assert.equal(buf.toString('latin1', hdr.procEnd, hdr.procEnd + 5), ' - - ');
        msgs.push(buf.toString('utf8', hdr.procEnd + 5, e));
      });
      assert.equal(framer.push(p.body), 0);
      assert.equal(framer.end(), 0);
      assert.equal(p.headers['logplex-msg-count'], String(frames));
    }
    const pieces = [long.slice(0, 5000), long.slice(5000, 10000), long.slice(10000)];
    assert.deepEqual(msgs, ['one', 'two  spaced', '', '- [not sd] dash', ...pieces, 'last']);
  });
});
