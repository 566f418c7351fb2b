// The built CLI with a developer and a viewer key (SPEC 12), whose GET
// answers mask tokens as `***`: `send` gets the app's token the way a
// developer may and tells a viewer key it cannot send; `tokens:create` does
// what its help says. Refused roles get one line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { api } from '../support/api.js';
import { startServer, tempDir, type TestServer } from '../support/server.js';
import { cleanEnv, killAll, runCli, type CliResult } from '../support/spawn.js';
import { until } from '../support/wait.js';

let ts: TestServer;
let home: string;
const keys = { dev: '', viewer: '' };

before(async () => {
  ts = await startServer();
  home = tempDir('logplane-roles-home-');
  assert.equal((await api(ts, 'PUT', '/v3/channels/myapp', { tokens: ['app'] })).status, 201);
  // an app without a token named "app": send makes one
  assert.equal((await api(ts, 'PUT', '/v3/channels/bare', { tokens: [] })).status, 201);
  keys.dev = (await api(ts, 'POST', '/v3/keys', { name: 'dev', role: 'developer', apps: ['myapp', 'bare'] })).json.key;
  keys.viewer = (await api(ts, 'POST', '/v3/keys', { name: 'ci-reader', role: 'viewer', apps: ['myapp'] })).json.key;
  assert.match(keys.dev, /^lpk_/);
  assert.match(keys.viewer, /^lpk_/);
});
after(async () => {
  await killAll();
  await ts.close();
  rmSync(home, { recursive: true, force: true });
});

function cli(key: string, args: string[], input = ''): Promise<CliResult> {
  return runCli(args, { env: cleanEnv({ HOME: home, LOGPLANE_URL: ts.url, LOGPLANE_API_KEY: key }), input });
}

function assertOneLine(r: CliResult, text: string): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, `logplane: ${text}\n`);
  assert.equal(r.stdout, '');
}

async function history(app: string): Promise<string> {
  const r = await fetch(`${ts.url}/v3/channels/${app}/logs?num=100`, { headers: { authorization: ts.auth } });
  return r.text();
}

test('send with a developer key: GET shows the "app" token as ***, so the token comes from POST .../tokens (made when missing) and the lines arrive', async () => {
  assert.equal((await api({ url: ts.url, auth: `Bearer ${keys.dev}` }, 'GET', '/v3/channels/myapp')).json.tokens.app, '***');
  const r = await cli(keys.dev, ['send', '-a', 'myapp', '-d', 'web.1'], 'sent by a developer\n');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  await until('the line in the history', async () => (await history('myapp')).includes('app web.1 - sent by a developer'));
  const bare = await cli(keys.dev, ['send', '-a', 'bare'], 'into an app with no token\n');
  assert.equal(bare.code, 0, bare.stderr);
  await until('the line in the history', async () => (await history('bare')).includes('app cli - into an app with no token'));
  assert.deepEqual(Object.keys((await api(ts, 'GET', '/v3/channels/bare')).json.tokens), ['app']);
});

test('send with a viewer key: one line saying the key cannot send, exit 1, nothing sent', async () => {
  const before = await history('myapp');
  const r = await cli(keys.viewer, ['send', '-a', 'myapp'], 'a viewer line\n');
  assertOneLine(r, 'this key cannot send to "myapp" (role viewer: sending needs a developer or admin key)');
  assert.equal(await history('myapp'), before);
});

test('tokens:create prints the name\'s token, the same on every call (one token per name, SPEC 7), as its help says; a developer key gets it too', async () => {
  const help = await cli(ts.apiKey, ['tokens:create', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /calling this again prints the\s+same token/);
  assert.doesNotMatch(help.stdout, /makes a new token|earlier ones keep working/);
  const first = await cli(ts.apiKey, ['tokens:create', 'myapp', 'worker']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^t\.[0-9a-f-]{36}\n$/);
  const again = await cli(ts.apiKey, ['tokens:create', 'myapp', 'worker']);
  assert.equal(again.stdout, first.stdout);
  const dev = await cli(keys.dev, ['tokens:create', 'worker', '-a', 'myapp']);
  assert.equal(dev.stdout, first.stdout);
  assert.equal((await api(ts, 'GET', '/v3/channels/myapp')).json.tokens.worker, first.stdout.trim());
  assertOneLine(await cli(keys.viewer, ['tokens:create', 'myapp', 'worker']), 'forbidden: the viewer key "ci-reader" may not create tokens of app "myapp" (key from LOGPLANE_API_KEY)');
});
