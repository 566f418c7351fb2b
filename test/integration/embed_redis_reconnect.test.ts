// The library with Redis never leaves a promise rejection unhandled (Node 20
// ends an embedding process for one): not even when an instance is closed
// right as its subscriber connection came back after a Redis restart, its
// resubscription still unanswered. Redis reaches the instance through a
// proxy that holds the replies to a SUBSCRIBE (and what follows them on that
// connection) longer than a close waits for its QUIT: the close drops the
// connection under the resubscription, which then fails with "Connection is
// closed.".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { createLogplane } from '../../src/logplane.js';
import { appChannel, CONFIG_CHANNEL } from '../../src/redis/keys.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { tempDir } from '../support/server.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

/** The subscriber connection's replies from its first SUBSCRIBE on are held this long: more than a close waits for its QUIT (1 s). */
const REPLY_DELAY_MS = 3000;
/** SUBSCRIBE as it goes over the wire (an argument of a RESP command). */
const SUBSCRIBE = '\r\nsubscribe\r\n';
const ROUNDS = 3;

let redis: TestRedis;
let reader: Redis;
const dirs: string[] = [];
const unhandled: unknown[] = [];
const record = (reason: unknown): void => {
  unhandled.push(reason);
};

before(async () => {
  // the app and its tail outlive the restart (a Redis that lost them would end the tail)
  redis = await startRedis({ persist: true });
  reader = new Redis(redis.url, { lazyConnect: true, retryStrategy: () => 50 });
  reader.on('error', () => {});
  await reader.connect();
  process.on('unhandledRejection', record);
});

after(async () => {
  process.off('unhandledRejection', record);
  reader.disconnect();
  await redis.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An instance through a fresh proxy, subscribed to the config channel and to an app's tail channel. */
async function subscribedInstance(round: number) {
  const proxy = await startTcpProxy(redis.port);
  const dataDir = tempDir('logplane-embed-reconnect-');
  dirs.push(dataDir);
  const lp = await createLogplane({ dataDir, redis: proxy.url, http: false, syslog: false, logger: false, apiKey: 'embedded-admin-key-0123456789' });
  const app = `reconnect${round}`;
  await lp.apps.create(app);
  const tail = lp.tail(app);
  const reading = (async () => {
    for await (const _ of tail);
  })();
  await subscribed([CONFIG_CHANNEL, appChannel(app)]);
  return { lp, proxy, tail, reading, app };
}

/** Redis counts one subscriber on each channel (the instance's, subscribed to it). */
async function subscribed(channels: string[]): Promise<void> {
  await until(`one subscriber on ${channels.join(', ')}`, async () => {
    const counts = await reader.pubsub('NUMSUB', ...channels);
    return channels.every((_, i) => counts[2 * i + 1] === 1);
  }, 10_000);
}

test('an instance closed right as its subscriber came back after a Redis restart leaves no unhandled rejection', { timeout: 120_000 }, async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const { lp, proxy, tail, reading, app } = await subscribedInstance(round);
    try {
      proxy.delayReplies(REPLY_DELAY_MS, SUBSCRIBE);
      await redis.stop();
      await redis.restart();
      // the subscriber is back and subscribed again; the replies are held by the proxy: close it now
      await subscribed([CONFIG_CHANNEL, appChannel(app)]);
    } finally {
      tail.close();
      await reading;
      await lp.close();
      await proxy.close();
    }
    // a rejection nobody handles is reported once the microtasks ran: give it a turn
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(unhandled.map((e) => (e instanceof Error ? e.message : String(e))), [], `round ${round}`);
  }
});
