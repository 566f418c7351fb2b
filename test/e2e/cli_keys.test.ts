// The built CLI with API keys (SPEC 12): keys, keys:create, keys:revoke, and
// login, then an app developer's `logplane logs` (history and -t) with their
// own viewer key from the stored login, and one clear line for another app.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { api } from '../support/api.js';
import { startServer, tempDir, type TestServer } from '../support/server.js';
import { CLI, cleanEnv, killAll, runCli } from '../support/spawn.js';
import { until } from '../support/wait.js';

let ts: TestServer;
const dirs: string[] = [];
let cwd: string;
let home: string;

before(async () => {
  ts = await startServer();
  for (const app of ['shop', 'bank']) assert.equal((await api(ts, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).status, 201);
  const token = (await api(ts, 'GET', '/v3/channels/shop')).json.tokens.app as string;
  const body = Buffer.from(['one', 'two', 'three'].map((m) => `<190>1 2026-05-01T12:00:00+00:00 host app web.1 - ${m}`).map((f) => `${Buffer.byteLength(f)} ${f}`).join(''));
  const r = await fetch(`${ts.url}/logs`, { method: 'POST', headers: { 'content-type': 'application/logplex-1', authorization: `Basic ${Buffer.from(`t:${token}`).toString('base64')}` }, body });
  assert.equal(r.status, 204);
  cwd = tempDir('logplane-keys-cwd-');
  home = tempDir('logplane-keys-home-');
  dirs.push(cwd, home);
});
after(async () => {
  await killAll();
  await ts.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The operator: the server's URL and admin key in the environment. */
const adminEnv = () => cleanEnv({ HOME: home, LOGPLANE_URL: ts.url, LOGPLANE_API_KEY: ts.apiKey });
/** The app developer: nothing but the stored login (no env, no local server). */
const devEnv = () => cleanEnv({ HOME: home });

let viewerKey = '';
let viewerId = '';

test('keys:create prints only the secret; keys lists it; bad usage exits 2 with one line', async () => {
  const c = await runCli(['keys:create', 'shop-dev', '--role', 'viewer', '-a', 'shop'], { cwd, env: adminEnv() });
  assert.equal(c.code, 0, c.stderr);
  viewerKey = c.stdout.trim();
  assert.match(viewerKey, /^lpk_[A-Za-z0-9_-]{43}$/);
  const l = await runCli(['keys', '--json'], { cwd, env: adminEnv() });
  assert.equal(l.code, 0, l.stderr);
  const k = JSON.parse(l.stdout).find((x: { name: string }) => x.name === 'shop-dev');
  assert.deepEqual([k.role, k.apps], ['viewer', ['shop']]);
  viewerId = k.id;
  const table = await runCli(['keys'], { cwd, env: adminEnv() });
  assert.match(table.stdout, new RegExp(`^${viewerId}\\s+shop-dev\\s+viewer\\s+shop$`, 'm'));
  assert.ok(!table.stdout.includes(viewerKey));
  for (const args of [['keys:create', 'x'], ['keys:create', 'x', '--role', 'owner', '-a', 'shop'], ['keys:create', 'x', '--role', 'viewer'], ['keys:revoke']]) {
    const r = await runCli(args, { cwd, env: adminEnv() });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^logplane: [^\n]+\n$/);
  }
});

test('login checks the key and stores URL and key with mode 0600; a wrong key stores nothing', async () => {
  const bad = await runCli(['login'], { cwd, env: devEnv(), input: `${ts.url}\nlpk_${'x'.repeat(43)}\n` });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /^logplane: the server at \S+ refused that key; nothing was stored\n$/);
  const path = join(home, '.config', 'logplane', 'credentials.json');
  assert.equal(existsSync(path), false);
  const r = await runCli(['login'], { cwd, env: devEnv(), input: `${ts.url}\n${viewerKey}\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /logged in to .* \(1 app: shop\)/);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { url: ts.url, key: viewerKey });
});

test('login makes an existing ~/.config/logplane that others could read 0700, as the docs say', async () => {
  const own = tempDir('logplane-keys-home-');
  dirs.push(own);
  const dir = join(own, '.config', 'logplane');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const r = await runCli(['login'], { cwd, env: cleanEnv({ HOME: own }), input: `${ts.url}\n${viewerKey}\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'credentials.json')).mode & 0o777, 0o600);
});

test('whoami names the key in use: the stored viewer key, or the admin key from the environment', async () => {
  const dev = await runCli(['whoami'], { cwd, env: devEnv() });
  assert.equal(dev.code, 0, dev.stderr);
  assert.equal(dev.stdout, `shop-dev (viewer; apps shop) on ${ts.url}\n`);
  const json = await runCli(['whoami', '--json'], { cwd, env: devEnv() });
  assert.deepEqual(JSON.parse(json.stdout), { id: viewerId, name: 'shop-dev', role: 'viewer', apps: ['shop'] });
  const admin = await runCli(['whoami'], { cwd, env: adminEnv() });
  assert.equal(admin.stdout, `admin (admin; every app) on ${ts.url}\n`);
  const bad = await runCli(['whoami', 'extra'], { cwd, env: adminEnv() });
  assert.equal(bad.code, 2);
});

test('logs with the stored viewer key: history works; -t follows; another app is one clear line and exit 1', async () => {
  const h = await runCli(['logs', '-a', 'shop', '-n', '5'], { cwd, env: devEnv() });
  assert.equal(h.code, 0, h.stderr);
  assert.deepEqual(h.stdout.trim().split('\n').map((l) => l.slice(l.indexOf(': ') + 2)), ['one', 'two', 'three', 'Add key shop-dev (viewer) by admin']);
  const other = await runCli(['logs', '-a', 'bank', '-n', '5'], { cwd, env: devEnv() });
  assert.equal(other.code, 1);
  assert.match(other.stderr, /^logplane: forbidden: the viewer key "shop-dev" may not read app "bank" \(key from \S+credentials\.json\)\n$/);
  const otherTail = await runCli(['logs', '-a', 'bank', '-t'], { cwd, env: devEnv() });
  assert.equal(otherTail.code, 1);
  assert.equal(otherTail.stderr.split('\n').length, 2, otherTail.stderr);

  const child = spawn(process.execPath, [CLI, 'logs', '-a', 'shop', '-t', '-n', '1'], { cwd, env: devEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  try {
    await until('history line', () => out.includes('Add key shop-dev'));
    // a change by a developer key is an audit line every tail of the app sees
    const dev = await api(ts, 'POST', '/v3/keys', { name: 'shop-bot', role: 'developer', apps: ['shop'] });
    assert.equal((await api({ url: ts.url, auth: `Bearer ${dev.json.key}` }, 'POST', '/v3/channels/shop/tokens', { name: 'worker' })).status, 200);
    await until('the audit line live', () => out.includes('logplane[api]: Create token worker by shop-bot'));
    // revoked: the tail ends, and the CLI says why on one line
    const rv = await runCli(['keys:revoke', viewerId], { cwd, env: adminEnv() });
    assert.equal(rv.stdout, `revoked ${viewerId}\n`);
    assert.notEqual(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
  const after = await runCli(['logs', '-a', 'shop'], { cwd, env: devEnv() });
  assert.equal(after.code, 1);
  assert.match(after.stderr, /refused the API key/);
});

test('login with an admin key on many apps prints the count and the first 10 names, not every name', async () => {
  for (let i = 0; i < 12; i++) assert.equal((await api(ts, 'PUT', `/v3/channels/many-${String(i).padStart(2, '0')}`, { tokens: [] })).status, 201);
  const total = (await api(ts, 'GET', '/v3/channels?limit=1000')).json.channels.length as number;
  assert.ok(total >= 14, String(total));
  const own = tempDir('logplane-keys-home-');
  dirs.push(own);
  const r = await runCli(['login'], { cwd, env: cleanEnv({ HOME: own }), input: `${ts.url}\n${ts.apiKey}\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^logged in to \\S+ \\(${total} apps: ([^,() ]+, ){9}[^,() ]+ and ${total - 10} more\\); saved in \\S+\\n$`));
});
