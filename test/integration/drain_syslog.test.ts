// Syslog drain specifics (SPEC 6.4): reconnect backoff 2^failures s capped at
// 300 s (driven by a manual clock, no sleeps), reconnect after the peer drops
// the connection, and the L14 line on a TLS certificate failure, once per
// failure episode.
import assert from 'node:assert/strict';
import { ManualClock } from '../support/clock.js';
import { after, test } from 'node:test';
import type { Clock } from '../../src/basics/clock.js';
import type { Drain } from '../../src/drains/drain.js';
import { viewOf } from '../../src/line.js';
import { loadConfig } from '../../src/config.js';
import { SyslogReceiver, makeDrain, msgText, testLine } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

const drains: Drain[] = [];
const receivers: SyslogReceiver[] = [];
after(async () => {
  for (const d of drains) d.destroy();
  for (const r of receivers) await r.close();
});
function drain(url: string, over: Parameters<typeof makeDrain>[1] = {}): Drain {
  const d = makeDrain(url, over);
  drains.push(d);
  return d;
}
async function receiver(tls: false | 'ca' | 'self' = false): Promise<SyslogReceiver> {
  const r = await SyslogReceiver.start(tls);
  receivers.push(r);
  return r;
}


test('reconnect backoff is 2^failures seconds, at most 300 s (real defaults, manual clock)', async () => {
  const r = await receiver();
  r.mode = 'fail';
  await r.settled();
  const clock = new ManualClock();
  // the server's real defaults (what `logplane serve` gives a syslog drain), not values of the test's own
  const real = loadConfig([], {});
  const d = drain(r.url(), { clock, reconnectBaseMs: real.drainReconnectBaseMs, reconnectMaxMs: real.drainReconnectMaxMs, retries: 100 });
  d.offer(testLine(0));
  const delays: number[] = [];
  for (let i = 0; i < 11; i++) {
    await until(`failure ${i + 1}`, () => clock.timers.length === 1);
    const s = d.status();
    assert.equal(s.nextRetryAt! - s.lastError!.at, clock.timers[0]!.ms);
    assert.equal(s.lastError!.errno, 'ECONNREFUSED');
    delays.push(clock.fire());
  }
  assert.deepEqual(delays, [2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000]);
  // the receiver comes back: the next attempt delivers and the count starts over
  r.mode = 'ok';
  await r.settled();
  await until('one more failure or none', () => clock.timers.length === 1);
  clock.fire();
  await until('delivered after reconnect', () => r.messages().length === 1);
  assert.equal(msgText('syslog', r.messages()[0]!), 'line 0');
  assert.equal(d.status().state, 'idle');
});

test('a dropped connection is re-opened and delivery continues', async () => {
  const r = await receiver();
  const d = drain(r.url());
  for (let i = 0; i < 100; i++) d.offer(testLine(i));
  await until('first 100', () => r.messages().length === 100);
  r.dropConnections();
  // the drain notices the close before it writes again
  await until('drain sees the close', () => !(d as unknown as { connected: boolean }).connected);
  for (let i = 100; i < 200; i++) d.offer(testLine(i));
  await until('next 100', () => r.messages().length === 200);
  assert.deepEqual(r.messages().map((m) => msgText('syslog', m)), Array.from({ length: 200 }, (_, i) => `line ${i}`));
  assert.equal(r.connections, 2);
});

test('TLS certificate failure: the app gets one L14 line per failure episode', async () => {
  const r = await receiver('self');
  const emitted: Buffer[] = [];
  const d = drain(r.url(), { emit: (rec) => emitted.push(rec), retries: 100 });
  d.offer(testLine(0));
  await until('several failed handshakes', () => d.counters.attemptsRetry.value >= 4);
  assert.equal(emitted.length, 1);
  const v = viewOf(emitted[0]!);
  assert.equal(v.source, 'heroku');
  assert.equal(v.dyno, 'logplex');
  assert.equal(v.pri, 172);
  assert.equal(v.msg, `Error L14 (certificate validation): error="self-signed certificate" uri="syslog+tls://127.0.0.1:${r.port}"`);
  assert.equal(d.status().lastError!.errno, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.equal(r.messages().length, 0);

  // #insecure: delivered, and never an L14
  const emitted2: Buffer[] = [];
  const ok = drain(`${r.url()}#insecure`, { emit: (rec) => emitted2.push(rec) });
  ok.offer(testLine(1));
  await until('insecure delivery', () => r.messages().length === 1);
  assert.equal(emitted2.length, 0);
});

test('a new failure episode after a good connection gets a new L14', async () => {
  const r = await receiver('self');
  const emitted: Buffer[] = [];
  const d = drain(r.url(), { emit: (rec) => emitted.push(rec), retries: 100 });
  d.offer(testLine(0));
  await until('failing', () => d.counters.attemptsRetry.value >= 2);
  assert.equal(emitted.length, 1);
  // the peer gets a valid certificate: delivered, episode over
  r.useCert('ca');
  await until('delivered once the certificate is valid', () => r.messages().length === 1);
  // and a bad one again: a new episode, one new L14
  r.useCert('self');
  r.dropConnections();
  await until('closed', () => !(d as unknown as { connected: boolean }).connected);
  const failed = d.counters.attemptsRetry.value;
  d.offer(testLine(1));
  await until('failing again', () => d.counters.attemptsRetry.value >= failed + 3);
  assert.equal(emitted.length, 2);
});
