// docs/api.md: `store_unavailable` (503), "Redis could not be reached;
// nothing was applied". The answer says so in words, as its embedded
// counterpart `data_dir_unwritable` does, and not with the Redis client's
// own message; the CLI prints it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestRedis } from '../support/redis.js';
import { cleanEnv, killAll, runCli, spawnServer, type ServerProcess } from '../support/spawn.js';

const KEY = 'redis-down-admin-key-0123456789';
const SENTENCE = 'Redis is unreachable; nothing was changed';

let redis: TestRedis;
let root: string;
let node: ServerProcess;

before(async () => {
  redis = await startRedis();
  root = mkdtempSync(join(tmpdir(), 'logplane-redis-down-'));
  node = await spawnServer({ dataDir: join(root, 'node'), env: { REDIS_URL: redis.url, LOGPLANE_API_KEY: KEY } });
});
after(async () => {
  await killAll();
  await redis.close();
  rmSync(root, { recursive: true, force: true });
});

test('Redis stopped: a config write answers 503 store_unavailable saying so in words, and the CLI prints it', async () => {
  await redis.stop();
  const res = await fetch(`${node.url}/v3/channels/down`, { method: 'PUT', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ tokens: ['app'] }) });
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), { id: 'store_unavailable', error: SENTENCE });
  const cli = await runCli(['apps:create', 'down'], { env: cleanEnv({ LOGPLANE_URL: node.url, LOGPLANE_API_KEY: KEY }) });
  assert.notEqual(cli.code, 0);
  assert.equal(cli.stderr.trim(), `logplane: the server answered 503: ${SENTENCE}`);
});
