// /metrics after real traffic (HTTP and syslog ingest, garbage input, an HTTP
// drain, a live text tail): Prometheus's own checker accepts the exposition,
// SPEC 10's series are there, and no label value names an app or has a space.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { postLogs, syslog } from '../support/cluster.js';
import { HttpReceiver, startDrainServer, type DrainTestServer } from '../support/drain-receivers.js';
import { sendSyslog } from '../support/syslog.js';
import { HttpStream } from '../support/tail.js';
import { until } from '../support/wait.js';

/** Distinctive app ids, to be sure none leaks into a label. */
const APPS = ['metrics-shop-7f3a', 'metrics-blog-91c2'];

let t: DrainTestServer;
let receiver: HttpReceiver;
let tail: HttpStream;
let text = '';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function samples(exposition: string): Sample[] {
  const out: Sample[] = [];
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]!.replace('Inf', 'Infinity')) });
  }
  return out;
}

/** The one sample with this name and these labels (others ignored); fails when absent. */
function sample(all: Sample[], name: string, labels: Record<string, string> = {}): number {
  const s = all.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(s, `no sample ${name}${JSON.stringify(labels)} in:\n${text}`);
  return s.value;
}

before(async () => {
  t = await startDrainServer();
  const tokens: string[] = [];
  for (const id of APPS) {
    const { app } = await t.server.ctx.registry.putApp(id, ['app']);
    tokens.push(app.record.tokens[0]!.token);
  }
  receiver = await HttpReceiver.start(false);
  const d = await t.api('POST', `/v3/channels/${APPS[0]}/drains`, { url: receiver.url() });
  assert.equal(d.status, 201, d.text);
  const s = await t.api('POST', '/v3/sessions', { channel_id: APPS[0], num: 0, tail: true });
  assert.equal(s.status, 201, s.text);
  tail = new HttpStream((s.json as { url: string }).url);
  await until('the text tail to open', () => t.server.tails.tailCount === 1, 10_000);

  // ingest: HTTP, syslog TCP with both apps' tokens, an unknown token, and one unframeable connection
  assert.equal(await postLogs(t.url, tokens[0]!, [syslog('over http 1'), syslog('over http 2')]), 204);
  const port = t.server.ports.syslog!;
  await sendSyslog(port, [
    syslog('over tcp').replace(' app ', ` ${tokens[0]} `),
    syslog('other app').replace(' app ', ` ${tokens[1]} `),
    syslog('stranger').replace(' app ', ' t.ffffffff-0000-4000-8000-000000000000 '),
  ]);
  await new Promise<void>((resolve) => {
    const sock = connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    sock.on('error', () => {});
    sock.on('close', () => resolve());
    sock.setTimeout(5000, () => sock.destroy());
  });
  await until('the drain to deliver three lines', () => receiver.messages().length >= 3, 10_000);
  await until('the tail to show three lines', () => tail.text.split('\n').length > 3, 10_000);
  text = await (await fetch(`${t.url}/metrics`)).text();
});

after(async () => {
  tail?.close();
  await t?.close();
  await receiver?.close();
});

test('/metrics passes `promtool check metrics`', (ctx) => {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    if (process.env.CI === 'true') assert.fail('promtool is missing in CI: scripts/deps.sh installs it (Debian package prometheus)');
    ctx.skip('promtool not installed (scripts/deps.sh installs it)');
    return;
  }
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `promtool check metrics: exit ${r.status}\n${r.stdout}${r.stderr}\n--- exposition ---\n${text}`);
});

test('/metrics shows SPEC 10: lines by transport, drops by reason, drain deliveries/errors/latency, tails, ring bytes, event-loop lag', () => {
  const all = samples(text);
  assert.equal(sample(all, 'logplane_ingest_lines_total', { transport: 'http' }), 2);
  assert.equal(sample(all, 'logplane_ingest_lines_total', { transport: 'tcp' }), 2);
  assert.ok(sample(all, 'logplane_ingest_bytes_total', { transport: 'tcp' }) > 0);
  assert.equal(sample(all, 'logplane_ingest_dropped_total', { transport: 'tcp', reason: 'unknown_token' }), 1);
  assert.equal(sample(all, 'logplane_ingest_dropped_total', { transport: 'tcp', reason: 'unframeable' }), 1);
  // drains: deliveries, errors (retries and drops), latency as a histogram
  assert.ok(sample(all, 'logplane_drain_lines_delivered_total', { kind: 'http' }) >= 3);
  assert.equal(sample(all, 'logplane_drain_attempts_total', { kind: 'http', outcome: 'retry' }), 0);
  assert.equal(sample(all, 'logplane_drain_lines_dropped_total', { kind: 'http', reason: 'overflow' }), 0);
  const delivered = sample(all, 'logplane_drain_delivery_seconds_count', { kind: 'http' });
  assert.ok(delivered >= 1);
  assert.equal(sample(all, 'logplane_drain_delivery_seconds_bucket', { kind: 'http', le: '+Inf' }), delivered);
  assert.ok(sample(all, 'logplane_drain_delivery_seconds_sum', { kind: 'http' }) >= 0);
  assert.equal(sample(all, 'logplane_drain_delivery_seconds_count', { kind: 'syslog' }), 0, 'every drain kind has its series');
  // one http drain, caught up (idle) or still finishing (delivering)
  assert.equal(sample(all, 'logplane_drains', { kind: 'http', state: 'idle' }) + sample(all, 'logplane_drains', { kind: 'http', state: 'delivering' }), 1);
  // tails, ring, event loop
  assert.equal(sample(all, 'logplane_tails', { transport: 'text' }), 1);
  assert.ok(sample(all, 'logplane_tail_lines_total', { transport: 'text' }) >= 3);
  assert.ok(sample(all, 'logplane_ring_bytes') > 0);
  assert.ok(sample(all, 'logplane_event_loop_lag_seconds') >= 0);
  // prom-client's default process and Node.js metrics, unprefixed
  assert.ok(sample(all, 'process_cpu_seconds_total') > 0);
  assert.ok(sample(all, 'process_resident_memory_bytes') > 0);
  assert.ok(sample(all, 'nodejs_eventloop_lag_p99_seconds') >= 0);
  assert.ok(sample(all, 'nodejs_heap_size_used_bytes') > 0);
});

test('/metrics label values: no app id, no token, no spaces (backing_off, not "backing off")', () => {
  const all = samples(text);
  const values = new Set(all.flatMap((s) => Object.values(s.labels)));
  for (const v of values) {
    for (const id of APPS) assert.ok(!v.includes(id), `label value ${JSON.stringify(v)} names app ${id}`);
    assert.ok(!/t\.[0-9a-f]{8}-/.test(v), `label value ${JSON.stringify(v)} holds a token`);
    assert.ok(!/\s/.test(v), `label value ${JSON.stringify(v)} has white space`);
  }
  assert.equal(sample(all, 'logplane_drains', { kind: 'http', state: 'backing_off' }), 0);
});
