// The built CLI with a developer and a viewer key (SPEC 12), whose GET
// answers mask tokens as `***` and drain URLs' secrets: `send` gets the
// app's token the way a developer may and tells a viewer key it cannot send;
// `tokens:create` does what its help says; `drains:remove` and
// `drains:replay` find a drain by the URL as added and as `logplane drains`
// prints it. Refused roles get one line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { api } from '../support/api.js';
import { HttpReceiver } from '../support/drain-receivers.js';
import { startServer, tempDir, type TestServer } from '../support/server.js';
import { cleanEnv, killAll, runCli, type CliResult } from '../support/spawn.js';
import { line, push } from '../support/tail.js';
import { until } from '../support/wait.js';

let ts: TestServer;
let home: string;
let receiver: HttpReceiver;
const keys = { dev: '', viewer: '' };

before(async () => {
  ts = await startServer({ LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' });
  receiver = await HttpReceiver.start();
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
  await receiver.close();
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

/** The URL column of `logplane drains` (the second; the first two lines are the title and the header). */
function shownUrls(stdout: string): string[] {
  return stdout.trimEnd().split('\n').slice(2).map((l) => l.split(/ +/)[1]!);
}

test('drains:remove and drains:replay by URL: as added (a developer key, whose list is redacted) and as `logplane drains` prints it; a viewer key is one line', async () => {
  const app = ts.server.ctx.registry.get('myapp')!;
  push(app, 1, 4, (i) => line(i, { msg: `replayed ${i}` }));
  const raw = (path: string, user = 'user:s3cret') => receiver.url(path).replace('://', `://${user}@`);
  const a = raw('/a?api_key=v1');
  const b = raw('/b?api_key=v2');
  for (const url of [a, b]) assert.equal((await api(ts, 'POST', '/v3/channels/myapp/drains', { url })).status, 201);

  const listed = await cli(keys.dev, ['drains', '-a', 'myapp']);
  assert.equal(listed.code, 0, listed.stderr);
  const printedA = receiver.url('/a?api_key=***');
  assert.ok(shownUrls(listed.stdout).includes(printedA), listed.stdout);

  // replay by the URL as added, with a developer key (its list shows it redacted)
  const rep = await cli(keys.dev, ['drains:replay', a, '-a', 'myapp', '--num', '2']);
  assert.equal(rep.code, 0, rep.stderr);
  assert.equal(rep.stdout, `Replaying 2 lines to ${printedA}\n`);
  await until('the replayed lines at /a', () => receiver.requests.some((q) => q.url.startsWith('/a') && q.frames.some((f) => f.includes('replayed 3'))));
  // ... and by the URL as printed
  const rep2 = await cli(keys.dev, ['drains:replay', printedA, '-a', 'myapp', '--num', '1']);
  assert.equal(rep2.code, 0, rep2.stderr);
  assertOneLine(await cli(keys.viewer, ['drains:replay', a, '-a', 'myapp', '--num', '1']), 'forbidden: the viewer key "ci-reader" may not change the drains of app "myapp" (key from LOGPLANE_API_KEY)');

  // remove: a viewer key is refused; a developer key removes by the URL as added
  assertOneLine(await cli(keys.viewer, ['drains:remove', a, '-a', 'myapp']), 'forbidden: the viewer key "ci-reader" may not change the drains of app "myapp" (key from LOGPLANE_API_KEY)');
  const rmA = await cli(keys.dev, ['drains:remove', a, '-a', 'myapp']);
  assert.equal(rmA.code, 0, rmA.stderr);
  assert.equal(rmA.stdout, `Successfully removed drain ${printedA}\n`);
  // the admin removes by the URL `logplane drains` printed for it (user:password@ left out)
  const adminList = await cli(ts.apiKey, ['drains', '-a', 'myapp']);
  const printedB = receiver.url('/b?api_key=v2');
  assert.ok(shownUrls(adminList.stdout).includes(printedB), adminList.stdout);
  const rmB = await cli(ts.apiKey, ['drains:remove', printedB, '-a', 'myapp']);
  assert.equal(rmB.code, 0, rmB.stderr);
  assert.deepEqual((await api(ts, 'GET', '/v3/channels/myapp/drains')).json, []);
  assertOneLine(await cli(keys.dev, ['drains:remove', a, '-a', 'myapp']), `no drain ${JSON.stringify(receiver.url('/a?api_key=v1'))} on myapp`);
});

test('drains:remove and drains:replay with a URL several drains are shown as: one line asking for the id; the URL as added still removes the one it names', async () => {
  const c1 = receiver.url('/c').replace('://', '://u:p1@');
  const c2 = receiver.url('/c').replace('://', '://u:p2@');
  const ids: string[] = [];
  for (const url of [c1, c2]) ids.push((await api(ts, 'POST', '/v3/channels/myapp/drains', { url })).json.id);
  const printed = receiver.url('/c');
  const several = `2 drains of myapp are shown as ${JSON.stringify(printed)} (they differ in what is hidden): give the drain's id (logplane drains -a myapp --json)`;
  assertOneLine(await cli(keys.dev, ['drains:remove', printed, '-a', 'myapp']), several);
  assertOneLine(await cli(keys.dev, ['drains:replay', printed, '-a', 'myapp', '--num', '1']), several);
  // the server compares the stored URL: exactly the one given
  const rm = await cli(keys.dev, ['drains:remove', c2, '-a', 'myapp']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.deepEqual((await api(ts, 'GET', '/v3/channels/myapp/drains')).json.map((d: { id: string }) => d.id), [ids[0]]);
  const last = await cli(keys.dev, ['drains:remove', printed, '-a', 'myapp']);
  assert.equal(last.code, 0, last.stderr);
  assert.deepEqual((await api(ts, 'GET', '/v3/channels/myapp/drains')).json, []);
});
