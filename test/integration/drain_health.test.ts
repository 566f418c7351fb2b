// Drain health in numbers (SPEC 16) through a real server: latency_ms
// {p50, p99} from each line's ingest time to the consumer's 2xx and
// dropped_1h in the drain status (API and CLI), and the
// logplane_drain_latency_seconds histogram (per line, labelled by kind only).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drainsStatus, type CliIO } from '../../src/cli/drains.js';
import { lineFrom } from '../../src/line.js';
import { route } from '../../src/router.js';
import { HttpReceiver, startDrainServer, TS } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

type Json = Record<string, any>;

function metricLine(text: string, name: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? null : Number(line.slice(name.length + 1));
}

test('drain status shows latency p50/p99 from ingest to the 2xx, and the latency histogram counts every line', async () => {
  const r = await HttpReceiver.start();
  const t = await startDrainServer();
  try {
    await t.server.ctx.registry.putApp('lat', ['app']);
    const res = await t.api('POST', '/v3/channels/lat/drains', { url: r.url() });
    const id = (res.json as Json).id as string;
    const fresh = ((await t.api('GET', `/v3/channels/lat/drains/${id}`)).json as Json).status;
    assert.deepEqual(fresh.latency_ms, { p50: null, p99: null }, 'nothing delivered yet');
    assert.equal(fresh.dropped_1h, 0);
    const a = t.server.ctx.registry.require('lat');
    const now = Date.now();
    // 98 lines ingested 100 ms ago and 2 ingested 5 s ago (their received time is what counts)
    for (let i = 0; i < 98; i++) route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: `recent ${i}`, receivedMs: now - 100 }));
    for (let i = 0; i < 2; i++) route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: `late ${i}`, receivedMs: now - 5000 }));
    await until('100 lines', () => r.messages().length >= 100);
    const s = ((await t.api('GET', `/v3/channels/lat/drains/${id}`)).json as Json).status;
    assert.ok(s.latency_ms.p50 >= 100 && s.latency_ms.p50 < 5000, `p50 ${s.latency_ms.p50}`);
    assert.ok(s.latency_ms.p99 >= 5000 && s.latency_ms.p99 < 8192, `p99 ${s.latency_ms.p99}`);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    assert.match(text, /# TYPE logplane_drain_latency_seconds histogram/);
    assert.equal(metricLine(text, 'logplane_drain_latency_seconds_count{kind="http"}'), 100);
    assert.equal(metricLine(text, 'logplane_drain_latency_seconds_bucket{kind="http",le="0.064"}'), 0);
    assert.equal(metricLine(text, 'logplane_drain_latency_seconds_bucket{kind="http",le="4.096"}'), 98);
    assert.equal(metricLine(text, 'logplane_drain_latency_seconds_bucket{kind="http",le="+Inf"}'), 100);
    assert.ok(metricLine(text, 'logplane_drain_latency_seconds_sum{kind="http"}')! >= 98 * 0.1 + 2 * 5);
    assert.doesNotMatch(text, /logplane_drain_latency_seconds\S*\{[^}]*app=/, 'no app label');
    const out: string[] = [];
    const io: CliIO = { out: (x) => out.push(x), env: {}, conn: { url: t.url, key: t.server.apiKey } };
    await drainsStatus(['-a', 'lat'], io);
    assert.match(out.join(''), /latency: +p50 \d+ ms, p99 \d+ ms \(last 5 min\)/);
    assert.match(out.join(''), /dropped \(1h\): +0\n/);
  } finally {
    await t.close();
    await r.close();
  }
});

test('dropped_1h counts the lines a hanging drain dropped', async () => {
  const r = await HttpReceiver.start();
  r.mode = 'hang';
  // no burst borrowing: the hanging drain has not timed out yet, so it still counts as healthy
  const t = await startDrainServer({ LOGPLANE_DRAIN_QUEUE_BYTES: String(16 * 1024), LOGPLANE_DRAIN_BURST_BYTES: String(16 * 1024), LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '60000' });
  try {
    await t.server.ctx.registry.putApp('drops', ['app']);
    const res = await t.api('POST', '/v3/channels/drops/drains', { url: r.url() });
    const id = (res.json as Json).id as string;
    const a = t.server.ctx.registry.require('drops');
    route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: 'first' }));
    await until('first batch in flight', () => r.requests.length === 1);
    for (let i = 0; i < 2000; i++) route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: `line ${i} ${'x'.repeat(100)}` }));
    const s = ((await t.api('GET', `/v3/channels/drops/drains/${id}`)).json as Json).status;
    assert.ok(s.dropped > 1000, `dropped ${s.dropped}`);
    assert.equal(s.dropped_1h, s.dropped);
  } finally {
    await t.close();
    await r.close();
  }
});
