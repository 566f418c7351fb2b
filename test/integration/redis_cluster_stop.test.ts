// A process whose Redis Cluster clients are closed can exit: nothing of the
// clients keeps its event loop alive (a slot-map refresh under way when a
// client closes must not re-arm the client's refresh timer).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';

const CONNECTION = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/redis/connection.js');

/** Run a module script in a child node; resolves with its exit code, or 'still running' after timeoutMs (then killed). */
function runScript(source: string, timeoutMs: number): Promise<number | null | 'still running'> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((res) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      res('still running');
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      res(code);
    });
  });
}

describe('closing Redis Cluster clients', () => {
  let redis: TestRedisCluster;
  before(async () => {
    redis = await startRedisCluster({ masters: 1 });
  });
  after(async () => {
    await redis?.close();
  });

  test('a process exits once its cluster clients are closed, even while a slot-map refresh was under way', async () => {
    // each client is closed while its periodic slot-map refresh (every second) is under way
    const source = `
      import { commandClient, subscriberClient, connectOrThrow, closeClient } from ${JSON.stringify(CONNECTION)};
      const url = ${JSON.stringify(redis.url)};
      for (const c of [commandClient(url, 'stop-test'), subscriberClient(url, 'stop-test-sub')]) {
        c.on('error', () => {});
        await connectOrThrow(c, 10000);
        const until = Date.now() + 5000;
        while (!c.isRefreshing && Date.now() < until) await new Promise((r) => setImmediate(r));
        if (!c.isRefreshing) process.exit(2);
        await closeClient(c);
      }
    `;
    assert.equal(await runScript(source, 20_000), 0);
  });
});
