// The library in distributed mode (SPEC 14 over SPEC 9): two instances on one
// Redis, no ports: a line published on one is in the other's history and tail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createLogplane, LogplaneError, type TailEvent } from '../../src/logplane.js';
import { HttpReceiver } from '../support/drain-receivers.js';
import { startRedis } from '../support/redis.js';
import { tempDir } from '../support/server.js';
import { until } from '../support/wait.js';

test('createLogplane with redis: apps, history and tails are shared by instances on one Redis', { timeout: 60_000 }, async () => {
  const redis = await startRedis();
  const dirs = [tempDir('logplane-embed-'), tempDir('logplane-embed-')];
  const [a, b] = await Promise.all(dirs.map((dataDir) => createLogplane({ dataDir, redis: redis.url, http: false, syslog: false, logger: false, apiKey: 'embedded-admin-key-0123456789' })));
  try {
    await a!.apps.create('shared', { tokens: ['app'] });
    await until('the app reaches the other instance', async () => (await b!.apps.get('shared')) !== null, 10_000);
    const events: TailEvent[] = [];
    const tail = b!.tail('shared');
    const reading = (async () => {
      for await (const ev of tail) events.push(ev);
    })();
    // the tail follows the other instance's lines once subscribed (asynchronous): probe until it hears one
    let probes = 0;
    await until('the tail hears the other instance', () => {
      if (events.length > 0) return true;
      a!.publish('shared', { source: 'app', dyno: 'probe', msg: `probe ${++probes}` });
      return false;
    }, 10_000, 50);
    a!.publish('shared', { source: 'app', dyno: 'web.1', msg: 'from a' });
    a!.publish('shared', { source: 'app', dyno: 'web.2', msg: 'again from a' });
    await until('both lines', () => events.some((e) => e.type === 'line' && e.msg === 'again from a'), 10_000);
    tail.close();
    await reading;
    const real = events.filter((e) => e.type !== 'line' || e.dyno !== 'probe');
    assert.deepEqual(real.map((e) => (e.type === 'line' ? `${e.dyno} ${e.msg}` : 'gap')), ['web.1 from a', 'web.2 again from a']);
    await until('history on the other instance', async () => (await b!.history('shared', { dyno: 'web' })).length === 2, 10_000);
    assert.deepEqual((await b!.history('shared', { dyno: 'web' })).map((l) => l.msg), ['from a', 'again from a']);
  } finally {
    await a!.close();
    await b!.close();
    await redis.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('createLogplane with redis: drains.list status has latencyMs and dropped1h on the delivering instance and the other one (SPEC 16)', { timeout: 60_000 }, async () => {
  const redis = await startRedis();
  const rx = await HttpReceiver.start();
  const dirs = [tempDir('logplane-embed-'), tempDir('logplane-embed-')];
  const [a, b] = await Promise.all(
    dirs.map((dataDir) => createLogplane({ dataDir, redis: redis.url, http: false, syslog: false, logger: false, apiKey: 'embedded-admin-key-0123456789', settings: { LOGPLANE_DRAIN_ALLOW_PRIVATE: true } })),
  );
  try {
    await a!.apps.create('health');
    await a!.drains.add('health', rx.url());
    await until('the drain reaches the other instance', async () => (await b!.drains.list('health')).length === 1, 10_000);
    a!.publish('health', { source: 'app', dyno: 'web.1', msg: 'measured' });
    for (const lp of [a!, b!]) {
      const s = await until('a latency on each instance', async () => {
        const st = (await lp.drains.list('health'))[0]!.status;
        return st.delivered === 1 && st.latencyMs.p50 !== null ? st : null;
      }, 20_000, 50);
      assert.equal(typeof s.latencyMs.p99, 'number');
      assert.equal(s.dropped1h, 0);
    }
  } finally {
    await a!.close();
    await b!.close();
    await redis.close();
    await rx.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('createLogplane with redis: a closed instance acknowledges no line (LPX_ERR_STATE); what it published before close is in Redis', { timeout: 60_000 }, async () => {
  const redis = await startRedis();
  const dirs = [tempDir('logplane-embed-'), tempDir('logplane-embed-')];
  const open = (dataDir: string) => createLogplane({ dataDir, redis: redis.url, http: false, syslog: false, logger: false, apiKey: 'embedded-admin-key-0123456789' });
  const a = await open(dirs[0]!);
  let b: Awaited<ReturnType<typeof open>> | null = null;
  try {
    await a.apps.create('stopped', { tokens: ['app'] });
    for (let i = 0; i < 100; i++) a.publish('stopped', { source: 'app', dyno: 'web.1', msg: `before ${i}` });
    await a.close();
    assert.throws(
      () => a.publish('stopped', { source: 'app', dyno: 'web.1', msg: 'after close' }),
      (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_STATE',
    );
    await assert.rejects(a.apps.create('other'), (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_STATE');
    b = await open(dirs[1]!);
    const msgs = (await b.history('stopped', { num: 1000 })).map((l) => l.msg);
    assert.equal(msgs.length, 100);
    assert.equal(msgs[99], 'before 99');
  } finally {
    await b?.close();
    await redis.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
