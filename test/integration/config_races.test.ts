// Concurrent config changes (SPEC 7): every acknowledged change holds, on one
// embedded server and across two nodes sharing one real redis-server.
// Parallel token creates all keep their tokens; parallel identical PUTs of a
// new channel create it once and all answer the same working token; a drain
// added while tokens are added overwrites none of them; a token name that
// exists answers the token it has.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { Server } from '../../src/server.js';
import { API_KEY, api, fastCluster, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { until } from '../support/wait.js';

interface Target {
  /** The servers to spread requests over (round robin). */
  urls: string[];
  servers: Server[];
}

const pick = (t: Target, i: number): string => t.urls[i % t.urls.length]!;

/** Wait until every server answers this channel's tokens as `want`. */
async function everywhere(t: Target, app: string, want: (json: any) => boolean, what: string): Promise<any> {
  let last: any = null;
  for (const url of t.urls) {
    await until(`${what} on ${url} (last: ${JSON.stringify(last)})`, async () => {
      const r = await api(url, 'GET', `/v3/channels/${app}`);
      last = r.json;
      return r.status === 200 && want(r.json);
    });
  }
  return last;
}

/** Every token authenticates on every server (one line each). */
async function allAuthenticate(t: Target, tokens: string[]): Promise<void> {
  for (const url of t.urls) {
    const statuses = await Promise.all(tokens.map((tok) => postLogs(url, tok, [syslog('race')])));
    assert.deepEqual(statuses, tokens.map(() => 204), `every acknowledged token authenticates on ${url}`);
  }
}

async function parallelTokenCreates(t: Target, app: string): Promise<Record<string, string>> {
  const made = await api(t.urls[0]!, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] });
  assert.equal(made.status, 201, made.text);
  await everywhere(t, app, () => true, 'the channel');
  const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
  const rs = await Promise.all(names.map((name, i) => api(pick(t, i), 'POST', `/v3/channels/${app}/tokens`, { name })));
  for (const r of rs) assert.equal(r.status, 200, r.text);
  const want: Record<string, string> = { app: made.json.tokens.app };
  for (const r of rs) want[r.json.name] = r.json.token;
  await everywhere(t, app, (j) => isDeepStrictEqual(j.tokens, want), 'all 21 tokens');
  await allAuthenticate(t, Object.values(want));
  return want;
}

async function parallelIdenticalPuts(t: Target, app: string): Promise<void> {
  const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => api(pick(t, i), 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })));
  const statuses = rs.map((r) => r.status);
  assert.equal(statuses.filter((c) => c === 201).length, 1, `exactly one 201: ${statuses.join(',')}`);
  assert.equal(statuses.filter((c) => c === 200).length, 19, `the rest 200: ${statuses.join(',')}`);
  const tokens = new Set(rs.map((r) => r.json.tokens.app as string));
  assert.equal(tokens.size, 1, 'every answer has the same app token');
  const token = [...tokens][0]!;
  await everywhere(t, app, (j) => isDeepStrictEqual(j.tokens, { app: token }), 'that token');
  await allAuthenticate(t, [token]);
}

async function drainAndTokensTogether(t: Target, app: string): Promise<void> {
  assert.equal((await api(t.urls[0]!, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).status, 201);
  await everywhere(t, app, () => true, 'the channel');
  const jobs: Array<Promise<{ status: number; text: string; json: any }>> = [];
  for (let i = 0; i < 10; i++) {
    jobs.push(api(pick(t, i), 'POST', `/v3/channels/${app}/tokens`, { name: `w${i}` }));
    if (i < 4) jobs.push(api(pick(t, i + 1), 'POST', `/v3/channels/${app}/drains`, { url: `http://127.0.0.1:9/d${i}` }));
  }
  const rs = await Promise.all(jobs);
  for (const r of rs) assert.ok(r.status === 200 || r.status === 201, r.text);
  const drainIds = rs.filter((r) => r.status === 201).map((r) => r.json.id as string).sort();
  assert.equal(drainIds.length, 4);
  const tokens = rs.filter((r) => r.status === 200).map((r) => r.json.token as string);
  await everywhere(t, app, (j) => Object.keys(j.tokens).length === 11 && j.drains.length === 4, '11 tokens and 4 drains');
  for (const url of t.urls) {
    const j = (await api(url, 'GET', `/v3/channels/${app}`)).json;
    assert.deepEqual(j.drains.map((d: { id: string }) => d.id).sort(), drainIds);
    for (const tok of tokens) assert.ok(Object.values(j.tokens).includes(tok));
  }
  await allAuthenticate(t, tokens);
}

async function existingTokenName(t: Target, app: string): Promise<void> {
  const made = await api(t.urls[0]!, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] });
  assert.equal(made.status, 201);
  await everywhere(t, app, () => true, 'the channel');
  const again = await api(pick(t, 1), 'POST', `/v3/channels/${app}/tokens`, { name: 'app' });
  assert.equal(again.status, 200);
  assert.deepEqual(again.json, { token: made.json.tokens.app, name: 'app' }, 'the name the channel has answers its token');
  const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => api(pick(t, i), 'POST', `/v3/channels/${app}/tokens`, { name: 'web' })));
  for (const r of rs) assert.equal(r.status, 200, r.text);
  const web = new Set(rs.map((r) => r.json.token as string));
  assert.equal(web.size, 1, 'racing creates of one name answer one token');
  const token = [...web][0]!;
  await everywhere(t, app, (j) => j.tokens.web === token, 'the web token');
  for (const s of t.servers) {
    const names = s.ctx.registry.get(app)!.record.tokens.map((x) => x.name).sort();
    assert.deepEqual(names, ['app', 'web'], 'no second, invisible token');
  }
}

describe('config races on one embedded server', () => {
  const ENV = { LOGPLANE_API_KEY: API_KEY, LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' };
  let s: TestServer;
  let t: Target;
  before(async () => {
    s = await startServer(ENV);
    t = { urls: [s.url], servers: [s.server] };
  });
  after(async () => {
    await s.close();
  });

  test('parallel token creates on one channel: every acknowledged token is kept, authenticates, and survives a restart', async () => {
    const want = await parallelTokenCreates(t, 'race');
    await s.close({ keepData: true });
    s = await startServer(ENV, { dataDir: s.dataDir });
    t = { urls: [s.url], servers: [s.server] };
    assert.deepEqual((await api(s.url, 'GET', '/v3/channels/race')).json.tokens, want);
  });

  test('parallel identical PUTs of a new channel: one 201, the rest 200, all with the same working token', async () => {
    await parallelIdenticalPuts(t, 'same');
  });

  test('a drain added while tokens are added: neither change overwrites the other', async () => {
    await drainAndTokensTogether(t, 'mixed');
  });

  test('creating a token with a name the channel has answers that token, also when requests race', async () => {
    await existingTokenName(t, 'named');
  });
});

describe('config races across two nodes on one Redis', () => {
  let redis: TestRedis;
  let nodes: Node[];
  let t: Target;
  before(async () => {
    redis = await startRedis();
    nodes = await Promise.all([0, 1].map(() => startNode(redis.url, fastCluster, { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' })));
    t = { urls: nodes.map((n) => n.url), servers: nodes.map((n) => n.server) };
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis.close();
  });

  test('parallel token creates on two nodes: every acknowledged token is kept and authenticates on both', async () => {
    await parallelTokenCreates(t, 'race');
  });

  test('parallel identical PUTs of a new channel on two nodes: one 201, the rest 200, all with the same working token', async () => {
    await parallelIdenticalPuts(t, 'same');
  });

  test('a drain added on one node while tokens are added on the other: neither change overwrites the other', async () => {
    await drainAndTokensTogether(t, 'mixed');
  });

  test('creating a token with a name the channel has answers that token, also when requests race on two nodes', async () => {
    await existingTokenName(t, 'named');
  });
});
