// The ConfigStore behavioural suite against every backend: memory, file and
// Redis (a real redis-server). The Redis store also reports other nodes'
// changes and resyncs after a disconnect.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MemoryStore } from '../../src/store/memory.js';
import { FileStore } from '../../src/store/file.js';
import { RedisStore } from '../../src/store/redis.js';
import type { StoreChange } from '../../src/store/store.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { storeSuite } from '../support/store-suite.js';
import { until } from '../support/wait.js';

storeSuite('memory', { fresh: async () => new MemoryStore(), reopen: null, notifies: false });

const dirs: string[] = [];
storeSuite('file', {
  fresh: async () => {
    const d = mkdtempSync(join(tmpdir(), 'logplane-store-'));
    dirs.push(d);
    return new FileStore(d);
  },
  reopen: async (s) => new FileStore((s as FileStore).path.replace(/\/config\.json$/, '')),
  notifies: false,
  cleanup: async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  },
});

// One redis-server for the Redis backend; each fresh() gets an empty database (FLUSHALL).
let redis: TestRedis | null = null;
const redisUrl = async (): Promise<string> => {
  redis ??= await startRedis();
  return redis.url;
};
storeSuite('redis', {
  fresh: async () => {
    const url = await redisUrl();
    const r = new Redis(url);
    await r.flushall();
    r.disconnect();
    return RedisStore.connect(url);
  },
  reopen: async () => RedisStore.connect(await redisUrl()),
  notifies: true,
  hashesAdminKey: true,
  cleanup: async () => {
    await redis?.close();
    redis = null;
  },
});

describe('RedisStore across a Redis restart', () => {
  let r: TestRedis;
  before(async () => {
    r = await startRedis({ persist: true });
  });
  after(async () => {
    await r.close();
  });

  test('fails fast with a 503 StoreError while Redis is down, and reports every app as changed once back', async () => {
    const a = await RedisStore.connect(r.url);
    const b = await RedisStore.connect(r.url);
    await a.load();
    const seen: StoreChange[] = [];
    a.onChange((c) => seen.push(c));
    await b.putApp({ id: 'x', uuid: 'u', createdAt: 'c', updatedAt: 'u', tokens: [], drains: [] });
    await until('a sees the app b stored', () => seen.some((c) => c.kind === 'app' && c.id === 'x'));
    await r.stop();
    const err = await a.getApp('x').then(() => null, (e: Error & { status?: number }) => e);
    assert.ok(err, 'rejects while down');
    assert.equal(err.status, 503);
    seen.length = 0;
    await r.restart();
    // back: a resync reports every known and stored app (changes may have been missed)
    await until('the resync to report x', () => seen.some((c) => c.kind === 'app' && c.id === 'x'));
    assert.equal((await a.getApp('x'))?.id, 'x');
    await a.close();
    await b.close();
  });
});
