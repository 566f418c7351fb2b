// Audit lines when changes overlap (SPEC 12: every change of an app's
// configuration is a line in its stream): one line per change that happened,
// however many requests asked for it at once, on one embedded server and
// across two nodes sharing one real redis-server. Racing creates of one
// token name make one token: one `Create token`; identical PUTs are one
// change; of two different PUTs, each line says what that one changed (the
// second removes what the first created); identical drain updates are one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { API_KEY, api, fastCluster, startNode, type Node } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { until } from '../support/wait.js';

/** Changes made with the admin key are audited (the default), drains on loopback allowed. */
const ENV = { LOGPLANE_AUDIT_ADMIN_KEY: '1', LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' };

const MARK = ' logplane api - ';

/** The app's audit messages in its history, oldest first. */
async function auditLines(url: string, app: string): Promise<string[]> {
  const r = await api(url, 'GET', `/v3/channels/${app}/logs?num=1000`);
  assert.equal(r.status, 200, r.text);
  return r.text
    .split('\n')
    .filter((l) => l.includes(MARK))
    .map((l) => l.slice(l.indexOf(MARK) + MARK.length).trim());
}

function counts(lines: readonly string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const l of lines) c[l] = (c[l] ?? 0) + 1;
  return c;
}

/** n copies of a request, spread over the servers (round robin). */
function parallel(urls: readonly string[], n: number, method: string, path: string, body: unknown) {
  return Promise.all(Array.from({ length: n }, (_, i) => api(urls[i % urls.length]!, method, path, body)));
}

async function overlappingChanges(urls: readonly string[], app: string): Promise<void> {
  assert.equal((await api(urls[0]!, 'PUT', `/v3/channels/${app}`, { tokens: ['app', 'old'] })).status, 201);
  const made = await parallel(urls, 30, 'POST', `/v3/channels/${app}/tokens`, { name: 'same' });
  assert.deepEqual([...new Set(made.map((r) => r.status))], [200]);
  assert.equal(new Set(made.map((r) => r.json.token)).size, 1, 'one token made');
  for (const r of await parallel(urls, 10, 'PUT', `/v3/channels/${app}`, { tokens: ['app', 'zz'] })) assert.equal(r.status, 200, r.text);
  const two = await Promise.all([api(urls[0]!, 'PUT', `/v3/channels/${app}`, { tokens: ['app', 'p1'] }), api(urls[1 % urls.length]!, 'PUT', `/v3/channels/${app}`, { tokens: ['app', 'p2'] })]);
  for (const r of two) assert.equal(r.status, 200, r.text);
  const drain = await api(urls[0]!, 'POST', `/v3/channels/${app}/drains`, { url: 'http://127.0.0.1:9/a' });
  assert.equal(drain.status, 201, drain.text);
  for (const r of await parallel(urls, 10, 'PUT', `/v3/channels/${app}/drains/${drain.json.id}`, { url: 'http://127.0.0.1:9/b' })) assert.equal(r.status, 200, r.text);

  const final = Object.keys((await api(urls[0]!, 'GET', `/v3/channels/${app}`)).json.tokens).filter((n) => n !== 'app');
  assert.equal(final.length, 1, `one of p1, p2 is left: ${final.join(',')}`);
  const first = final[0] === 'p1' ? 'p2' : 'p1';
  const update = `Update drain ${drain.json.id} to http://127.0.0.1:9/b by admin`;
  // the last change's line is in: every earlier change's lines were written before it
  const lines = await until('the drain update\'s audit line', async () => {
    const l = await auditLines(urls[0]!, app);
    return l.includes(update) && l;
  });
  assert.deepEqual(counts(lines), {
    'Create token app by admin': 1,
    'Create token old by admin': 1,
    'Create token same by admin': 1,
    'Remove token old by admin': 1,
    'Remove token same by admin': 1,
    'Create token zz by admin': 1,
    'Remove token zz by admin': 1,
    [`Create token ${first} by admin`]: 1,
    [`Remove token ${first} by admin`]: 1,
    [`Create token ${final[0]} by admin`]: 1,
    'Add drain http://127.0.0.1:9/a by admin': 1,
    [update]: 1,
  });
}

describe('audit lines of overlapping changes on one embedded server', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ LOGPLANE_API_KEY: API_KEY, ...ENV }, { adminAudit: true });
  });
  after(async () => {
    await s?.close();
  });

  test('one line per change that happened, however many requests asked for it', async () => {
    await overlappingChanges([s.url], 'keep');
  });
});

describe('audit lines of overlapping changes across two nodes on one Redis', () => {
  let redis: TestRedis;
  let nodes: Node[];
  before(async () => {
    redis = await startRedis();
    nodes = await Promise.all([0, 1].map(() => startNode(redis.url, fastCluster, ENV)));
  });
  after(async () => {
    await Promise.all((nodes ?? []).map((n) => n.close()));
    await redis?.close();
  });

  test('one line per change that happened, whichever node answered', async () => {
    await overlappingChanges(nodes.map((n) => n.url), 'keep');
  });
});
