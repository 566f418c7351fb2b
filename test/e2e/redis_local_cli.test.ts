// SPEC 12: "The admin key stays readable by the local CLI in the data dir
// (mode 0600)", in distributed mode too, where the key lives in Redis: a
// node started with a data dir that does not exist yet makes it, and the
// CLI run beside it with that data dir finds the node and its key without
// flags, as the start message's "try it" commands do.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestRedis } from '../support/redis.js';
import { cleanEnv, killAll, runCli, spawnServer, type ServerProcess } from '../support/spawn.js';
import { until } from '../support/wait.js';

let redis: TestRedis;
let root: string;
let node: ServerProcess;

before(async () => {
  redis = await startRedis();
  root = mkdtempSync(join(tmpdir(), 'logplane-redis-cli-'));
  // no LOGPLANE_API_KEY: the first node makes the key and keeps it in Redis
  node = await spawnServer({ dataDir: join(root, 'not', 'yet'), env: { REDIS_URL: redis.url } });
});
after(async () => {
  await killAll();
  await redis.close();
  rmSync(root, { recursive: true, force: true });
});

test('distributed mode: the local CLI finds the node and its admin key in the data dir (0600), with no flags', async () => {
  const dataDir = join(root, 'not', 'yet');
  assert.equal(statSync(join(dataDir, 'server.json')).mode & 0o777, 0o600);
  assert.equal(statSync(dataDir).mode & 0o777, 0o700);
  // (the start message follows server.json, which spawnServer waits for)
  await until('the start message', () => node.stdout().includes('admin API key'), 10_000);
  assert.match(node.stdout(), /admin API key: +\S+ +\(shown this once; kept in \S+admin-key\.json and, while this node runs, \S+server\.json \(Redis keeps only its SHA-256\)/);
  const env = cleanEnv({ LOGPLANE_DATA_DIR: dataDir });
  const created = await runCli(['apps:create', 'myapp'], { env });
  assert.equal(created.code, 0, created.stderr);
  const sent = await runCli(['send', '-a', 'myapp'], { env, input: 'hello from the local cli\n' });
  assert.equal(sent.code, 0, sent.stderr);
  const key = await runCli(['config:key'], { env });
  assert.equal(key.code, 0, key.stderr);
  assert.equal(key.stdout.trim(), node.apiKey);
  // the key is the one Redis holds: the node answers it
  const r = await fetch(`${node.url}/v3/channels/myapp`, { headers: { authorization: `Bearer ${key.stdout.trim()}` } });
  assert.equal(r.status, 200);
  // once the node is stopped the CLI no longer takes a key from its run file
  await node.stop();
  const gone = await runCli(['config:key'], { env });
  assert.notEqual(gone.code, 0);
});

test('distributed mode: a node given the key says where it keeps it, in a sentence and with the full path', async () => {
  const dataDir = join(root, 'given');
  const given = await spawnServer({ dataDir, env: { REDIS_URL: redis.url, LOGPLANE_API_KEY: 'g'.repeat(32) } });
  try {
    await until('the start message', () => given.stdout().includes('admin API key'), 10_000);
    // before: "kept in while this node runs, <relative path>"
    assert.ok(given.stdout().includes(`admin API key:          kept in ${join(dataDir, 'server.json')} while this node runs (Redis keeps only its SHA-256); print it with: `), given.stdout());
  } finally {
    await given.stop();
  }
});
