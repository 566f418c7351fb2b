// Secrets at rest and in the open (SPEC 12), and revocation across nodes:
//   - API keys are stored only as hashes: the data dir (embedded) and the
//     Redis keyspace (distributed) never hold a key's secret; own logs (at
//     trace level) and /metrics hold no key, token or drain password;
//   - a key revoked or narrowed on one node stops working on another node
//     sharing the same redis-server within 1 s, live tails included;
//   - a live drain token is the admin's to read: a viewer or developer key
//     reads `***` in every GET answer (the web console's drain poll
//     included), in history and sessions (the audit line of a drain update
//     names the drain by id), and in the answer to a PUT or DELETE; only the
//     POST that creates a drain shows its token, to whoever created it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { accessTable } from '../../src/api/scope.js';
import { api, type ApiTarget } from '../support/api.js';
import { AUTH, startNode, type Node } from '../support/cluster.js';
import { as, createKey, type TestKey } from '../support/keys.js';
import { captureLog, type CapturedLog } from '../support/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { WsClient } from '../support/tail.js';
import { until } from '../support/wait.js';

/** Every file under dir, read as bytes (latin1 keeps every byte). */
function filesText(dir: string): string {
  let out = '';
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out += statSync(p).isDirectory() ? filesText(p) : readFileSync(p).toString('latin1');
  }
  return out;
}

/** Every key and value in a Redis database, as text. */
async function keyspaceText(url: string): Promise<string> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  try {
    let out = '';
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) {
        out += `${k}\n`;
        const type = await r.type(k);
        if (type === 'string') out += (await r.getBuffer(k))?.toString('latin1') ?? '';
        else if (type === 'hash') out += JSON.stringify(await r.hgetall(k));
        else if (type === 'list') out += (await r.lrangeBuffer(k, 0, -1)).map((b) => b.toString('latin1')).join('\n');
        else if (type === 'set') out += (await r.smembers(k)).join('\n');
        else if (type === 'zset') out += (await r.zrange(k, '0', '-1')).join('\n');
        else if (type === 'stream') out += JSON.stringify(await r.xrange(k, '-', '+'));
        out += '\n';
      }
    } while (cursor !== '0');
    return out;
  } finally {
    r.disconnect();
  }
}

/** Makes an app, a key of each role, a token and a drain with a password; returns the secrets made. */
async function makeSecrets(admin: ApiTarget): Promise<{ keys: string[]; others: string[]; viewer: TestKey }> {
  const put = await api(admin, 'PUT', '/v3/channels/vault', { tokens: ['app'] });
  assert.ok(put.status === 201 || put.status === 200, put.text);
  const viewer = await createKey(admin, 'vault-viewer', 'viewer', ['vault']);
  const dev = await createKey(admin, 'vault-dev', 'developer', ['vault']);
  const boss = await createKey(admin, 'vault-admin', 'admin', []);
  const tok = await api(as(admin, dev), 'POST', '/v3/channels/vault/tokens', { name: 'router' });
  const drain = await api(as(admin, dev), 'POST', '/v3/channels/vault/drains', { url: 'http://drainuser:Dr41nP4ssw0rd@127.0.0.1:9/x?token=QueryS3cret' });
  assert.equal(drain.status, 201, drain.text);
  assert.match(drain.json.token, /^d\./);
  // a drain update is an audit line, written to the app's stream (not to own logs)
  const moved = await api(as(admin, dev), 'PUT', `/v3/channels/vault/drains/${drain.json.id}`, { url: 'http://drainuser:Dr41nP4ssw0rd@127.0.0.1:9/y?token=QueryS3cret' });
  assert.equal(moved.status, 200, moved.text);
  // use each key, rightly and wrongly
  for (const k of [viewer, dev, boss]) {
    await api(as(admin, k), 'GET', '/v3/channels/vault');
    await api(as(admin, k), 'GET', '/v3/channels/elsewhere');
    await api({ url: admin.url, auth: `Bearer ${k.key}x` }, 'GET', '/v3/channels/vault');
  }
  return { keys: [viewer.key, dev.key, boss.key], others: [tok.json.token, put.json.tokens.app, drain.json.token, 'Dr41nP4ssw0rd', 'QueryS3cret'], viewer };
}

function assertNone(where: string, text: string, secrets: readonly string[]): void {
  for (const s of secrets) {
    assert.ok(!text.includes(s), `${where} holds the secret ${s.slice(0, 8)}...`);
    // the key's random part alone, too (a store that dropped the prefix)
    if (s.startsWith('lpk_')) assert.ok(!text.includes(s.slice(4)), `${where} holds the random part of ${s.slice(0, 8)}...`);
  }
}

describe('no secret at rest or in the open', () => {
  test('embedded: the data dir, own logs and /metrics hold no API key; logs and metrics no token or drain password', async () => {
    const log: CapturedLog = captureLog('trace');
    const ts = await startServer({ LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_LOG_LEVEL: 'trace' }, { log: log.log });
    try {
      const { keys, others } = await makeSecrets(ts);
      const metrics = (await api({ url: ts.url }, 'GET', '/metrics')).text;
      await ts.close({ keepData: true });
      assertNone('the data dir', filesText(ts.dataDir), keys);
      assertNone('own logs', JSON.stringify(log.entries()), [...keys, ...others, ts.apiKey]);
      assertNone('/metrics', metrics, [...keys, ...others, ts.apiKey]);
      assert.ok(log.entries().length > 0, 'nothing logged: the check is empty');
    } finally {
      await ts.close();
    }
  });

  test('distributed: the Redis keyspace holds no API key', async () => {
    const redis = await startRedis();
    const log = captureLog('trace');
    let node: Node | null = null;
    try {
      node = await startNode(redis.url, undefined, { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_LOG_LEVEL: 'trace' }, { log: log.log });
      const { keys, others } = await makeSecrets({ url: node.url, auth: AUTH });
      const text = await keyspaceText(redis.url);
      assert.ok(text.includes('lp:keys'), 'no key records in Redis: the check is empty');
      assertNone('the Redis keyspace', text, keys);
      assertNone('own logs', JSON.stringify(log.entries()), [...keys, ...others]);
    } finally {
      await node?.close();
      await redis.close();
    }
  });
});

describe('drain tokens: the admin reads them, other keys read *** (SPEC 12)', () => {
  let ts: TestServer;
  let viewer: TestKey;
  let dev: TestKey;
  /** The live drains of app `vault`: [id, token]; the first made by the developer key, the second by the admin. */
  const drains: [string, string][] = [];

  before(async () => {
    // the admin key's changes audited too (its update line is in the stream every viewer reads)
    ts = await startServer({ LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' }, { adminAudit: true });
    assert.equal((await api(ts, 'PUT', '/v3/channels/vault', { tokens: ['app'] })).status, 201);
    viewer = await createKey(ts, 'vault-viewer', 'viewer', ['vault']);
    dev = await createKey(ts, 'vault-dev', 'developer', ['vault']);
    // whoever creates a drain reads its token in that one answer (v3 and Heroku's, as `heroku drains:add`)
    const mine = await api(as(ts, dev), 'POST', '/v3/channels/vault/drains', { url: 'http://drainuser:Dr41nP4ssw0rd@127.0.0.1:9/x?key=QueryS3cret' });
    assert.equal(mine.status, 201, mine.text);
    assert.match(mine.json.token, /^d\.[0-9a-f-]{36}$/);
    const boss = await api(ts, 'POST', '/apps/vault/log-drains', { url: 'https://logs.example.com/admin-drain' });
    assert.equal(boss.status, 201, boss.text);
    assert.match(boss.json.token, /^d\.[0-9a-f-]{36}$/);
    drains.push([mine.json.id, mine.json.token], [boss.json.id, boss.json.token]);
    // updates by a developer key and by the admin: audit lines in the app's stream
    assert.equal((await api(as(ts, dev), 'PUT', `/v3/channels/vault/drains/${mine.json.id}`, { url: 'http://drainuser:N3wP4ssw0rd@127.0.0.1:9/y?key=QueryS3cret' })).status, 200);
    assert.equal((await api(ts, 'PUT', `/v3/channels/vault/drains/${boss.json.id}`, { url: 'https://logs.example.com/admin-drain-2' })).status, 200);
  });
  after(async () => {
    await ts?.close();
  });

  /** Every GET route a viewer may call, with the app and a drain filled in, plus the query forms clients send. */
  function readPaths(): string[] {
    const paths = accessTable(ts.server.http)
      .filter((r) => r.method === 'GET' && (r.rule === null || r.rule.perm === 'read'))
      .map((r) => r.url.replace(':app', 'vault').replace(':id', drains[0]![0]));
    assert.ok(paths.includes('/v3/channels/vault/drains') && paths.includes('/apps/vault/log-drains'), `no drain list among ${paths.join(' ')}`);
    // `heroku drains --extended`; the history a tail starts with
    return [...paths, '/apps/vault/log-drains?extended=true', '/v3/channels/vault/logs?num=1000'];
  }

  for (const role of ['viewer', 'developer'] as const) {
    test(`a ${role} key reads no live drain token in any GET answer, history or session, and sees *** where a token goes`, async () => {
      const k = role === 'viewer' ? viewer : dev;
      const secrets = drains.map(([, t]) => t);
      for (const path of readPaths()) {
        const r = await api(as(ts, k), 'GET', path);
        assert.equal(r.status, 200, `${path}: ${r.text}`);
        assertNone(`GET ${path}`, r.text, secrets);
      }
      // the web console's drain poll: GET .../drains as the console sends it (Bearer key, asking for JSON)
      const poll = await api(as(ts, k), 'GET', '/v3/channels/vault/drains', undefined, { accept: 'application/json' });
      assert.deepEqual(poll.json.map((d: { token: string }) => d.token), ['***', '***']);
      assert.deepEqual((await api(as(ts, k), 'GET', `/v3/channels/vault/drains/${drains[0]![0]}`)).json.token, '***');
      assert.deepEqual((await api(as(ts, k), 'GET', '/v3/channels/vault')).json.drains.map((d: { token: string }) => d.token), ['***', '***']);
      for (const q of ['', '?extended=true']) {
        assert.deepEqual((await api(as(ts, k), 'GET', `/apps/vault/log-drains${q}`)).json.map((d: { token: string }) => d.token), ['***', '***'], q);
      }
      // a session the key makes: history over chunked text, with the update audit lines in it
      const s = await api(as(ts, k), 'POST', '/v3/sessions', { channel_id: 'vault', num: 1000 });
      assert.equal(s.status, 201, s.text);
      const text = await (await fetch(s.json.url, { signal: AbortSignal.timeout(10_000) })).text();
      assert.ok(text.includes('Update drain'), `no drain update in the session's history: the check is empty\n${text}`);
      assertNone('the session', text, [...secrets, 'N3wP4ssw0rd']);
    });
  }

  test('the admin key still reads every drain token, in every answer that shows one', async () => {
    const [[mineId, mineToken], [, bossToken]] = drains as [[string, string], [string, string]];
    assert.deepEqual((await api(ts, 'GET', '/v3/channels/vault')).json.drains.map((d: { token: string }) => d.token), [mineToken, bossToken]);
    assert.deepEqual((await api(ts, 'GET', '/v3/channels/vault/drains')).json.map((d: { token: string }) => d.token), [mineToken, bossToken]);
    assert.equal((await api(ts, 'GET', `/v3/channels/vault/drains/${mineId}`)).json.token, mineToken);
    for (const q of ['', '?extended=true']) {
      assert.deepEqual((await api(ts, 'GET', `/apps/vault/log-drains${q}`)).json.map((d: { token: string }) => d.token), [mineToken, bossToken], q);
    }
    const put = await api(ts, 'PUT', `/v3/channels/vault/drains/${mineId}`, { url: 'http://drainuser:N3wP4ssw0rd@127.0.0.1:9/z' });
    assert.equal(put.json.token, mineToken);
  });

  test('a developer key changing a drain reads *** for its token in the answer', async () => {
    const put = await api(as(ts, dev), 'PUT', `/v3/channels/vault/drains/${drains[0]![0]}`, { url: 'http://drainuser:N3wP4ssw0rd@127.0.0.1:9/y?key=QueryS3cret' });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.token, '***');
    assert.equal(put.json.url, 'http://drainuser:***@127.0.0.1:9/y?key=***');
  });

  test('a developer key removing a drain through Heroku\'s route reads *** for its token; the admin reads it', async () => {
    const made = await api(as(ts, dev), 'POST', '/apps/vault/log-drains', { url: 'https://logs.example.com/short-lived' });
    assert.equal(made.status, 201, made.text);
    assert.match(made.json.token, /^d\./);
    const gone = await api(as(ts, dev), 'DELETE', `/apps/vault/log-drains/${made.json.id}`);
    assert.equal(gone.status, 200, gone.text);
    assert.equal(gone.json.token, '***');
    assert.equal(gone.json.url, 'https://logs.example.com/short-lived');
    const other = await api(ts, 'POST', '/apps/vault/log-drains', { url: 'https://logs.example.com/short-lived-2' });
    assert.equal((await api(ts, 'DELETE', `/apps/vault/log-drains/${other.json.id}`)).json.token, other.json.token);
  });
});

describe('revocation across nodes (two nodes, one redis-server)', () => {
  let redis: TestRedis;
  let n1: Node;
  let n2: Node;
  before(async () => {
    redis = await startRedis();
    n1 = await startNode(redis.url);
    n2 = await startNode(redis.url);
    for (const app of ['ra', 'rb']) assert.equal((await api({ url: n1.url, auth: AUTH }, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).status, 201);
    await until('apps on node 2', async () => (await api({ url: n2.url, auth: AUTH }, 'GET', '/v3/channels/rb')).status === 200);
  });
  after(async () => {
    await n1?.close();
    await n2?.close();
    await redis?.close();
  });

  test('a key revoked on one node stops working on the other within 1 s, and its live tail there ends', async () => {
    const k = await createKey({ url: n1.url, auth: AUTH }, 'roamer', 'viewer', ['ra']);
    await until('key known on node 2', async () => (await api(as({ url: n2.url }, k), 'GET', '/v3/channels/ra')).status === 200, 10_000);
    const s = await api(as({ url: n2.url }, k), 'POST', '/v3/sessions', { channel_id: 'ra', tail: true });
    assert.equal(s.status, 201);
    const ws = new WsClient(s.json.url);
    await ws.opened;
    const t0 = Date.now();
    assert.equal((await api({ url: n1.url, auth: AUTH }, 'DELETE', `/v3/keys/${k.id}`)).status, 204);
    await until('401 on node 2', async () => (await api(as({ url: n2.url }, k), 'GET', '/v3/channels/ra')).status === 401, 1000);
    const closed = await Promise.race([ws.closed, new Promise<null>((r) => setTimeout(() => r(null), 1000 - (Date.now() - t0)))]);
    assert.deepEqual(closed, { code: 1008, reason: 'access revoked' });
  });

  test('a key narrowed on one node gets 403 for the app it lost on the other within 1 s', async () => {
    const k = await createKey({ url: n1.url, auth: AUTH }, 'shrinking', 'developer', ['ra', 'rb']);
    await until('key known on node 2', async () => (await api(as({ url: n2.url }, k), 'GET', '/v3/channels/rb')).status === 200, 10_000);
    assert.equal((await api({ url: n1.url, auth: AUTH }, 'PATCH', `/v3/keys/${k.id}`, { apps: ['ra'] })).status, 200);
    await until('403 on node 2', async () => (await api(as({ url: n2.url }, k), 'GET', '/v3/channels/rb')).status === 403, 1000);
    assert.equal((await api(as({ url: n2.url }, k), 'GET', '/v3/channels/ra')).status, 200);
  });

  test('an app destroyed on one node leaves the keys on the other node without it', async () => {
    assert.equal((await api({ url: n1.url, auth: AUTH }, 'PUT', '/v3/channels/rgone', { tokens: ['app'] })).status, 201);
    await until('app on node 2', async () => (await api({ url: n2.url, auth: AUTH }, 'GET', '/v3/channels/rgone')).status === 200);
    const k = await createKey({ url: n2.url, auth: AUTH }, 'loser', 'viewer', ['rgone', 'ra']);
    assert.equal((await api({ url: n1.url, auth: AUTH }, 'DELETE', '/v3/channels/rgone')).status, 204);
    await until('key lost the app on node 2', async () => {
      const r = await api({ url: n2.url, auth: AUTH }, 'GET', `/v3/keys/${k.id}`);
      return r.status === 200 && JSON.stringify(r.json.apps) === '["ra"]';
    });
    assert.equal((await api(as({ url: n2.url }, k), 'GET', '/v3/channels/ra')).status, 200);
  });
});
