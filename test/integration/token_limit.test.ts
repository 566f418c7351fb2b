// Tokens per app (SPEC 17: every input has a limit): an app has at most
// LOGPLANE_MAX_TOKENS_PER_APP tokens, whoever adds them and however (POST
// .../tokens, PUT of the channel, the CLI), and racing creations cannot pass
// it together. A small limit here; the default is 100.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startServer, tempDir } from '../support/server.js';
import { api, type ApiResponse, type ApiTarget } from '../support/api.js';
import { as, createKey } from '../support/keys.js';
import { cleanEnv, runCli } from '../support/spawn.js';

const LIMIT = { LOGPLANE_MAX_TOKENS_PER_APP: '3' };
const ERROR = { id: 'limit_reached', error: 'maximum number of tokens reached: an app has at most 3' };

function token(who: ApiTarget, app: string, name: string): Promise<ApiResponse> {
  return api(who, 'POST', `/v3/channels/${app}/tokens`, { name });
}

async function tokenNames(who: ApiTarget, app: string): Promise<string[]> {
  return Object.keys((await api(who, 'GET', `/v3/channels/${app}`)).json.tokens as object).sort();
}

test('a developer key cannot grow an app past the token limit: 422 limit_reached; a name the app has still answers its token; PUT over the limit is 422 and changes nothing', async () => {
  const ts = await startServer(LIMIT);
  assert.equal((await api(ts, 'PUT', '/v3/channels/tl', { tokens: ['app'] })).status, 201);
  const dev = as(ts, await createKey(ts, 'dev', 'developer', ['tl']));
  for (const n of ['w1', 'w2']) assert.equal((await token(dev, 'tl', n)).status, 200);
  const over = await token(dev, 'tl', 'w3');
  assert.equal(over.status, 422, over.text);
  assert.deepEqual(over.json, ERROR);
  assert.equal((await token(ts, 'tl', 'w3')).status, 422, 'the admin key too');
  const again = await token(dev, 'tl', 'w1');
  assert.equal(again.status, 200, 'an existing name is no new token');
  assert.deepEqual(await tokenNames(ts, 'tl'), ['app', 'w1', 'w2']);

  const put = await api(ts, 'PUT', '/v3/channels/tl', { tokens: ['a', 'b', 'c', 'd'] });
  assert.equal(put.status, 422, put.text);
  assert.deepEqual(put.json, ERROR);
  assert.equal((await api(ts, 'PUT', '/v3/channels/fresh', { tokens: ['a', 'b', 'c', 'd'] })).status, 422, 'a new app too');
  assert.equal((await api(ts, 'GET', '/v3/channels/fresh')).status, 404);
  assert.deepEqual(await tokenNames(ts, 'tl'), ['app', 'w1', 'w2'], 'unchanged');
  // duplicates count once; a PUT within the limit replaces the set
  assert.equal((await api(ts, 'PUT', '/v3/channels/tl', { tokens: ['a', 'b', 'c', 'c'] })).status, 200);
  assert.deepEqual(await tokenNames(ts, 'tl'), ['a', 'b', 'c']);
  await ts.close();
});

test('racing token creations stop at the limit together', async () => {
  const ts = await startServer(LIMIT);
  assert.equal((await api(ts, 'PUT', '/v3/channels/race', { tokens: [] })).status, 201);
  const all = await Promise.all(Array.from({ length: 12 }, (_, i) => token(ts, 'race', `r${i}`)));
  assert.equal(all.filter((r) => r.status === 200).length, 3);
  assert.equal(all.filter((r) => r.status === 422).length, 9);
  assert.equal((await tokenNames(ts, 'race')).length, 3);
  await ts.close();
});

test('logplane tokens:create says the limit on one line', async () => {
  const ts = await startServer(LIMIT);
  const home = tempDir('logplane-token-limit-');
  assert.equal((await api(ts, 'PUT', '/v3/channels/cl', { tokens: ['a', 'b', 'c'] })).status, 201);
  const r = await runCli(['tokens:create', 'cl', 'd'], { env: cleanEnv({ HOME: home, LOGPLANE_URL: ts.url, LOGPLANE_API_KEY: ts.server.apiKey! }) });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, `logplane: the server answered 422: ${ERROR.error}\n`);
  assert.equal(r.stdout, '');
  rmSync(home, { recursive: true, force: true });
  await ts.close();
});

test('adding a token indexes that token only: the others keep their entries (a creation costs one entry, not one per token); a token removed stops authenticating', async () => {
  const ts = await startServer({ LOGPLANE_MAX_TOKENS_PER_APP: '200' });
  const names = Array.from({ length: 150 }, (_, i) => `n${i}`);
  const put = await api(ts, 'PUT', '/v3/channels/big', { tokens: names });
  assert.equal(put.status, 201);
  const table = ts.server.ctx.registry.tokens;
  const entries = names.map((n) => table.get(put.json.tokens[n] as string)!);
  const made = await token(ts, 'big', 'late');
  assert.equal(made.status, 200);
  assert.ok(table.get(made.json.token as string)?.live);
  names.forEach((n, i) => assert.equal(table.get(put.json.tokens[n] as string), entries[i], `entry of ${n} kept`));

  assert.equal((await api(ts, 'PUT', '/v3/channels/big', { tokens: names.slice(1) })).status, 200);
  assert.equal(table.get(put.json.tokens['n0'] as string), undefined);
  assert.equal(entries[0]!.live, false, 'cached references of the removed token see it is gone');
  assert.equal(table.get(put.json.tokens['n1'] as string), entries[1]);
  await ts.close();
});
