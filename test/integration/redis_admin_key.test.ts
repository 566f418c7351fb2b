// SPEC 12: "API keys are stored only as hashes (data dir and Redis alike).
// The admin key stays readable by the local CLI in the data dir (mode
// 0600)": in distributed mode Redis keeps the admin key's SHA-256 only
// (`{lp:apikey}:sha256`), never the key; a node knows the key from its
// LOGPLANE_API_KEY or its data dir. The previous release's clear `lp:apikey`
// is replaced by the hash at a node's start. docs/operations.md, "The admin
// key in distributed mode".
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tempDirs } from '../support/server.js';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { Server } from '../../src/server.js';
import { silentLog, type Log } from '../../src/obs/log.js';
import { captureLog } from '../support/log.js';
import { sha256Hex } from '../../src/basics/digest.js';
import { API_KEY as CLEAR_KEY, API_KEY_HASH, CONFIG_CHANNEL } from '../../src/redis/keys.js';
import { QUIET_AUDIT } from '../support/quiet-audit.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { fastCluster, postLogs, syslog } from '../support/cluster.js';
import { until } from '../support/wait.js';

const GIVEN = 'given-admin-key-0123456789abcdef';

/** Every value Redis holds, as buffers: string values, hash fields and values, list, set, sorted set and stream entries. */
async function everyValue(r: Redis): Promise<Array<{ key: string; value: Buffer }>> {
  const out: Array<{ key: string; value: Buffer }> = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      out.push({ key, value: Buffer.from(key) });
      const type = await r.type(key);
      const add = (vs: Buffer[]) => {
        for (const value of vs) out.push({ key, value });
      };
      if (type === 'string') add([(await r.getBuffer(key))!]);
      else if (type === 'hash') add(await r.hgetallBuffer(key).then((h) => Object.entries(h).flatMap(([f, v]) => [Buffer.from(f), v])));
      else if (type === 'list') add(await r.lrangeBuffer(key, 0, -1));
      else if (type === 'set') add(await r.smembersBuffer(key));
      else if (type === 'zset') add(await r.zrangeBuffer(key, '0', '-1'));
      else if (type === 'stream') add((await r.xrangeBuffer(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields]));
    }
  } while (cursor !== '0');
  return out;
}

/** The keys whose value (or name) holds this text. */
async function holding(r: Redis, text: string): Promise<string[]> {
  const needle = Buffer.from(text);
  return [...new Set((await everyValue(r)).filter((e) => e.value.includes(needle)).map((e) => e.key))];
}

async function status(url: string, auth: string | null, path = '/v3/channels'): Promise<number> {
  const res = await fetch(`${url}${path}`, { headers: auth === null ? {} : { authorization: auth } });
  await res.arrayBuffer();
  return res.status;
}

describe('the admin key in Redis', () => {
  let redis: TestRedis;
  let admin: Redis;
  const dirs = tempDirs('logplane-admin-key-');
  const dataDir = dirs.make;
  const running = new Set<Server>();

  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  afterEach(async () => {
    await Promise.all([...running].map((s) => s.close().catch(() => {})));
    running.clear();
    await admin.flushall();
  });
  after(async () => {
    admin.disconnect();
    await redis.close();
    dirs.removeAll();
  });

  /** A node on this data dir; apiKey: its LOGPLANE_API_KEY (none: not set). */
  async function start(dir: string, apiKey?: string, log: Log = silentLog()): Promise<Server> {
    const env: Record<string, string> = { LOGPLANE_PORT: '0', LOGPLANE_DATA_DIR: dir, LOGPLANE_LOG_LEVEL: 'silent', REDIS_URL: redis.url, LOGPLANE_SYSLOG_PORT: '0', LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', ...QUIET_AUDIT };
    if (apiKey !== undefined) env['LOGPLANE_API_KEY'] = apiKey;
    const s = await Server.start(loadConfig([], env), { log, cluster: fastCluster });
    running.add(s);
    return s;
  }

  /** The key works on every node, a wrong key (and the hash itself) is refused on every node. */
  async function keyWorks(nodes: Server[], key: string): Promise<void> {
    for (const n of nodes) {
      assert.equal(await status(n.url, `Bearer ${key}`), 200, 'the admin key, Bearer');
      assert.equal(await status(n.url, `Basic ${Buffer.from(`:${key}`).toString('base64')}`), 200, 'the admin key, Basic');
      assert.equal(await status(n.url, 'Bearer wrong-admin-key-0123456789abcdef'), 401, 'a wrong key');
      assert.equal(await status(n.url, `Bearer ${sha256Hex(key)}`), 401, 'the stored hash is no key');
      assert.equal(await status(n.url, null), 401, 'no key');
    }
  }

  test('nodes given LOGPLANE_API_KEY: no Redis key holds the admin key, only its SHA-256; the key works on every node, a wrong one nowhere', async () => {
    const a = await start(dataDir(), GIVEN);
    const b = await start(dataDir(), GIVEN);
    // some of everything Redis keeps: an app, a token, a drain, an API key, lines, a session
    const auth = { authorization: `Bearer ${GIVEN}`, 'content-type': 'application/json' };
    const put = await fetch(`${a.url}/v3/channels/keyed`, { method: 'PUT', headers: auth, body: JSON.stringify({ tokens: ['app'] }) });
    const token = ((await put.json()) as { tokens: { app: string } }).tokens.app;
    assert.equal((await fetch(`${b.url}/v3/channels/keyed/drains`, { method: 'POST', headers: auth, body: JSON.stringify({ url: 'https://logs.example.com/x' }) })).status, 201);
    assert.equal((await fetch(`${a.url}/v3/keys`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'ci', role: 'viewer', apps: ['keyed'] }) })).status, 201);
    assert.equal(await postLogs(b.url, token, [syslog(`a line that is not ${GIVEN.slice(0, 5)}`)]), 204);
    assert.equal((await fetch(`${a.url}/v3/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ channel_id: 'keyed', num: 10 }) })).status, 201);
    await until('the line in Redis', async () => (await admin.exists('lp:{keyed}:chunks')) === 1);

    assert.deepEqual(await holding(admin, GIVEN), [], 'no Redis key or value holds the admin key');
    assert.equal(await admin.get(API_KEY_HASH), sha256Hex(GIVEN));
    assert.equal(await admin.exists(CLEAR_KEY), 0, 'no clear key for the previous release to read');
    await keyWorks([a, b], GIVEN);
  });

  test('no LOGPLANE_API_KEY: the first node makes the key, keeps it in its data dir (0600) and Redis only its hash; a node without it accepts it; one given the data dir knows it', async () => {
    const aDir = dataDir();
    const a = await start(aDir);
    assert.equal(a.generatedKey, true);
    const key = a.apiKey;
    assert.ok(key.length >= 16);
    const file = join(aDir, 'admin-key.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { apiKey: string }).apiKey, key);

    const b = await start(dataDir());
    assert.equal(b.generatedKey, false);
    assert.equal(b.apiKey, '', 'a node without the key and without it in its data dir does not know it');
    assert.deepEqual(await holding(admin, key), []);
    await keyWorks([a, b], key);

    // a restart on the data dir knows the key again (and does not make another)
    await a.close();
    running.delete(a);
    const a2 = await start(aDir);
    assert.equal(a2.generatedKey, false);
    assert.equal(a2.apiKey, key);
    // a node given the key file knows it too
    const cDir = dataDir();
    cpSync(file, join(cDir, 'admin-key.json'));
    const c = await start(cDir);
    assert.equal(c.apiKey, key);
    await keyWorks([a2, b, c], key);
    assert.deepEqual(await holding(admin, key), []);
  });

  test('upgrade: the clear key the previous release left in lp:apikey is replaced by its hash at start, and keeps working; one it writes later is taken over', async () => {
    const OLD = 'previous-release-admin-key-0123456789';
    await admin.set(CLEAR_KEY, OLD);
    const a = await start(dataDir());
    assert.equal(await admin.exists(CLEAR_KEY), 0, 'the clear key is gone');
    assert.equal(await admin.get(API_KEY_HASH), sha256Hex(OLD));
    assert.equal(a.generatedKey, false);
    assert.deepEqual(await holding(admin, OLD), []);
    const b = await start(dataDir(), OLD);
    await keyWorks([a, b], OLD);
    assert.deepEqual(await holding(admin, OLD), []);

    // a node of the previous release started with another LOGPLANE_API_KEY writes it in clear and says so:
    // as that release did, the key set last is the admin key, and the clear copy goes at once
    const NEW = 'changed-by-an-old-node-0123456789';
    await admin.set(CLEAR_KEY, NEW);
    await admin.publish(CONFIG_CHANNEL, JSON.stringify({ n: 'old-node', k: 'apiKey' }));
    await until('the clear key replaced by its hash', async () => (await admin.exists(CLEAR_KEY)) === 0 && (await admin.get(API_KEY_HASH)) === sha256Hex(NEW));
    await until('the new key accepted on both nodes', async () => (await status(a.url, `Bearer ${NEW}`)) === 200 && (await status(b.url, `Bearer ${NEW}`)) === 200);
    assert.equal(await status(a.url, `Bearer ${OLD}`), 401);
    assert.deepEqual(await holding(admin, NEW), []);
  });

  /** Redis restarted without its data (the test Redis keeps none). */
  async function restartEmpty(): Promise<void> {
    await admin.set('test:before-restart', '1');
    await redis.stop();
    await redis.restart();
    assert.equal(await admin.exists('test:before-restart'), 0, 'the restarted Redis holds nothing of before');
  }

  test('Redis restarted empty: the node that knows the key stores its hash again, every node accepts it again; a restart on the data dir keeps the key', async () => {
    const aDir = dataDir();
    const a = await start(aDir);
    const key = a.apiKey;
    const b = await start(dataDir());
    await restartEmpty();
    await until('the hash stored again', async () => (await admin.get(API_KEY_HASH)) === sha256Hex(key));
    await until('the key accepted on both nodes', async () => (await status(a.url, `Bearer ${key}`)) === 200 && (await status(b.url, `Bearer ${key}`)) === 200);
    assert.equal(a.apiKey, key, 'the node still knows the key');
    await keyWorks([a, b], key);

    // a node restarting on an empty Redis takes the key of its data dir, not a new one
    await a.close();
    running.delete(a);
    await restartEmpty();
    const a2 = await start(aDir);
    assert.equal(a2.generatedKey, false);
    assert.equal(a2.apiKey, key);
    assert.equal((JSON.parse(readFileSync(join(aDir, 'admin-key.json'), 'utf8')) as { apiKey: string }).apiKey, key, 'the saved key is kept');
    assert.equal(await admin.get(API_KEY_HASH), sha256Hex(key));
    // b, which does not know the key, hears of it from a2
    await until('b accepts the key again', async () => (await status(b.url, `Bearer ${key}`)) === 200);
    await keyWorks([a2, b], key);
  });

  test('Redis restarted empty: the node that stores the hash again logs cluster.admin_key_restored once per restart', async () => {
    const captured = captureLog('info');
    const a = await start(dataDir(), undefined, captured.log);
    const b = await start(dataDir());
    const key = a.apiKey;
    for (let restart = 1; restart <= 2; restart++) {
      await restartEmpty();
      await until('the hash stored again', async () => (await admin.get(API_KEY_HASH)) === sha256Hex(key));
      await until('the key accepted on both nodes', async () => (await status(a.url, `Bearer ${key}`)) === 200 && (await status(b.url, `Bearer ${key}`)) === 200);
      // every re-read the reconnect starts (the config resync, the key's own) is done by now, with room to spare
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(captured.at('cluster.admin_key_restored').length, restart, `after restart ${restart}: ${JSON.stringify(captured.at('cluster.admin_key_restored'))}`);
      assert.deepEqual(captured.at('cluster.admin_key_not_clusters'), [], 'its own key is the one stored');
    }
  });

  test('Redis restarted empty, nodes with different saved keys start: the first stores its hash, the other keeps its file and does not know the key', async () => {
    const first = 'first-saved-admin-key-0123456789';
    const other = 'other-saved-admin-key-0123456789';
    const [aDir, cDir] = [dataDir(), dataDir()];
    writeFileSync(join(aDir, 'admin-key.json'), JSON.stringify({ version: 1, apiKey: first }));
    writeFileSync(join(cDir, 'admin-key.json'), JSON.stringify({ version: 1, apiKey: other }));
    const a = await start(aDir);
    const c = await start(cDir);
    assert.equal(a.apiKey, first);
    assert.equal(c.apiKey, '', 'its key is not the cluster\'s');
    assert.equal(c.generatedKey, false);
    assert.equal((JSON.parse(readFileSync(join(cDir, 'admin-key.json'), 'utf8')) as { apiKey: string }).apiKey, other, 'its file is left as it was');
    await keyWorks([a, c], first);
    assert.equal(await status(c.url, `Bearer ${other}`), 401);
  });
});
