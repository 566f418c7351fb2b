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

describe('RedisStore: a change is not lost when its message or its re-read is', () => {
  let r: TestRedis;
  before(async () => {
    r = await startRedis();
  });
  after(async () => {
    await r.close();
  });

  const app = (id: string) => ({ id, uuid: `u-${id}`, createdAt: 'c', updatedAt: 'u', tokens: [], drains: [] });

  test('a listener whose re-read fails is handed the change again until it succeeds', async () => {
    const a = await RedisStore.connect(r.url);
    const b = await RedisStore.connect(r.url);
    try {
      await a.load();
      const calls: string[] = [];
      let failures = 3;
      a.onChange(async (c) => {
        if (c.kind !== 'app' || c.id !== 'flaky') return;
        calls.push(c.id);
        if (failures-- > 0) throw new Error('re-read failed');
      });
      await b.putApp(app('flaky'));
      await until('handed again after three failures', () => calls.length >= 4, 10_000);
      await new Promise((res) => setTimeout(res, 1500));
      assert.equal(calls.length, 4, 'not handed again once it succeeded');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a change whose message was missed is reported by the config version check within a bounded time', async () => {
    const a = await RedisStore.connect(r.url, { checkMs: 200 });
    const raw = new Redis(r.url);
    try {
      await a.load();
      const seen: StoreChange[] = [];
      a.onChange((c) => seen.push(c));
      await new Promise((res) => setTimeout(res, 500)); // subscribed, version read
      // another node's change whose message never came: the record and the version, no message
      await raw.sadd('lp:apps', 'silent');
      await raw.set('lp:{silent}:config', JSON.stringify(app('silent')));
      await raw.incr('lp:config:version');
      await until('the missed app reported', () => seen.some((c) => c.kind === 'app' && c.id === 'silent'), 5000);
      assert.ok(seen.some((c) => c.kind === 'keys'), 'the keys re-read too');
      // caught up: nothing more is reported while nothing changes
      const n = seen.length;
      await new Promise((res) => setTimeout(res, 1000));
      assert.equal(seen.length, n);
    } finally {
      raw.disconnect();
      await a.close();
    }
  });
});
