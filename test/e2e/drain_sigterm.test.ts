// The built server, as an operator runs it: a drain whose endpoint is slow
// still holds lines when SIGTERM arrives; the process delivers them within
// the flush bound and exits 0 (SPEC 10).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { HttpReceiver, l10Count, msgText } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';
import { freePort } from '../support/net.js';
import { api } from '../support/api.js';
import { spawnServer } from '../support/spawn.js';

const CLI = fileURLToPath(new URL('../../src/cli/logplane.js', import.meta.url));
const LINES = 20_000;


test('SIGTERM: the served process flushes its drains, then exits 0', async () => {
  const r = await HttpReceiver.start();
  // a slow endpoint: each batch waits 40 ms for its answer, and none is answered before every line is in the
  // drain (released at SIGTERM): the drain holds lines then, however slowly a loaded machine ingested them
  let release!: () => void;
  const released = new Promise<void>((res) => (release = res));
  const origEmit = r.server.emit.bind(r.server);
  r.server.emit = ((event: string, ...args: unknown[]) => {
    if (event === 'request') {
      void released.then(() => setTimeout(() => origEmit(event, ...args), 40));
      return true;
    }
    return origEmit(event, ...args);
  }) as typeof r.server.emit;

  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-e2e-drains-'));
  const now = new Date().toISOString();
  const token = `t.${randomUUID()}`;
  const apiKey = 'k'.repeat(32);
  writeFileSync(join(dataDir, 'config.json'), JSON.stringify({
    version: 1,
    apiKey,
    apps: [{
      id: 'bye', uuid: randomUUID(), createdAt: now, updatedAt: now,
      tokens: [{ token, name: 'app', createdAt: now }],
      drains: [{ id: randomUUID(), token: `d.${randomUUID()}`, url: r.url('/bye'), createdAt: now, updatedAt: now }],
    }],
  }));
  const [httpPort, syslogPort] = [await freePort(), await freePort()];
  const proc = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      ...process.env,
      LOGPLANE_PORT: String(httpPort),
      LOGPLANE_SYSLOG_PORT: String(syslogPort),
      LOGPLANE_DATA_DIR: dataDir,
      LOGPLANE_API_KEY: apiKey,
      LOGPLANE_LOG_LEVEL: 'warn',
      LOGPLANE_DRAIN_ALLOW_PRIVATE: '1',
      LOGPLANE_DRAIN_QUEUE_BYTES: String(16 << 20),
      LOGPLANE_DRAIN_FLUSH_TIMEOUT_MS: '8000',
      // the batch held until SIGTERM is not timed out and sent again (each line once)
      LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '60000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  try {
    const status = async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/v3/channels/bye/drains`, { headers: { Authorization: `Bearer ${apiKey}` } }).catch(() => null);
      return res && res.ok ? ((await res.json()) as Array<{ status: { delivered: number; queue_depth: number } }>)[0]!.status : null;
    };
    const deadline = Date.now() + 15_000;
    while ((await status()) === null) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`server did not start: ${stderr}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    const sock = connect({ host: '127.0.0.1', port: syslogPort });
    await new Promise<void>((res) => sock.once('connect', () => res()));
    const parts: Buffer[] = [];
    for (let i = 0; i < LINES; i++) {
      const m = Buffer.from(`<190>1 2024-05-06T07:08:09Z host ${token} web.1 - - line ${i} ${'p'.repeat(80)}`);
      parts.push(Buffer.from(`${m.length} `), m);
    }
    sock.end(Buffer.concat(parts));
    // every line is in the drain (delivered or held) before we stop the server
    let s = await status();
    while (s === null || s.delivered + s.queue_depth < LINES) {
      if (Date.now() > deadline) throw new Error(`lines not ingested: ${JSON.stringify(s)}`);
      await new Promise((res) => setTimeout(res, 20));
      s = await status();
    }
    assert.ok(s.queue_depth > 0, 'the drain still holds lines at SIGTERM');
    const t0 = Date.now();
    proc.kill('SIGTERM');
    release();
    const code = await exited;
    const took = Date.now() - t0;
    assert.equal(code, 0, stderr);
    // bounded by the drain flush timeout; generous for a loaded machine
    assert.ok(took < 30_000, `stop took ${took} ms`);
    await until('every line delivered', () => r.messages().length >= LINES);
    const got = r.messages().map((m) => msgText('http', m));
    assert.equal(got.length, LINES);
    for (let i = 0; i < LINES; i++) if (!got[i]!.startsWith(`line ${i} `)) assert.fail(`line ${i}: ${got[i]!.slice(0, 40)}`);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await r.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** Whether a TCP connection to the port is accepted (false: refused). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.setTimeout(5000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

test('SIGTERM: the process stops accepting HTTP and syslog connections while it still flushes its drains', async () => {
  const r = await HttpReceiver.start();
  r.mode = 'hang'; // the drain cannot finish: the flush runs to its bound
  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-sigterm-'));
  const srv = await spawnServer({ dataDir, syslogPort: await freePort(), env: { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_FLUSH_TIMEOUT_MS: '8000', LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '60000' } });
  try {
    const put = await api(srv, 'PUT', '/v3/channels/closing', { tokens: ['app'] });
    assert.equal(put.status, 201);
    assert.equal((await api(srv, 'POST', '/v3/channels/closing/drains', { url: r.url() })).status, 201);
    const token = put.json.tokens.app as string;
    const m = `<190>1 2024-05-06T07:08:09Z host ${token} web.1 - - held`;
    const res = await fetch(`${srv.url}/logs`, { method: 'POST', headers: { 'content-type': 'application/logplex-1', authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}` }, body: `${Buffer.byteLength(m)} ${m}` });
    assert.equal(res.status, 204);
    await until('the drain request hanging', () => r.hanging() === 1);
    const httpPort = Number(new URL(srv.url).port);
    assert.equal(await accepts(httpPort), true);
    assert.equal(await accepts(srv.syslogPort!), true);

    let exited = false;
    void srv.exited.then(() => (exited = true));
    srv.child.kill('SIGTERM');
    // refused while the drain is still being flushed: its request still hangs (the flush gives up at 8 s)
    await until('HTTP connections refused', async () => !(await accepts(httpPort)));
    await until('syslog connections refused', async () => !(await accepts(srv.syslogPort!)));
    assert.equal(r.hanging(), 1, 'the drain was still flushing when the process stopped accepting');
    assert.equal(exited, false);
    const { code } = await srv.exited;
    assert.equal(code, 0, srv.stderr());
  } finally {
    await srv.stop('SIGKILL');
    await r.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('SIGTERM with LOGPLANE_DRAIN_FLUSH_TIMEOUT_MS raised past 10 s: the stop waits for the flush, saves the rings and exits 0', async () => {
  const r = await HttpReceiver.start();
  r.mode = 'hang'; // the flush runs to its bound, 11 s
  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-sigterm-long-'));
  const env = { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_FLUSH_TIMEOUT_MS: '11000', LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '60000' };
  const srv = await spawnServer({ dataDir, env });
  let again: Awaited<ReturnType<typeof spawnServer>> | null = null;
  try {
    const put = await api(srv, 'PUT', '/v3/channels/patient', { tokens: ['app'] });
    assert.equal(put.status, 201);
    assert.equal((await api(srv, 'POST', '/v3/channels/patient/drains', { url: r.url() })).status, 201);
    const token = put.json.tokens.app as string;
    const m = `<190>1 2024-05-06T07:08:09Z host ${token} web.1 - - kept across the stop`;
    const res = await fetch(`${srv.url}/logs`, { method: 'POST', headers: { 'content-type': 'application/logplex-1', authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}` }, body: `${Buffer.byteLength(m)} ${m}` });
    assert.equal(res.status, 204);
    await until('the drain request hanging', () => r.hanging() === 1);
    srv.child.kill('SIGTERM');
    const { code } = await srv.exited;
    // before, `serve` gave up at a fixed 10 s: exit 1, the rings never saved
    assert.equal(code, 0, srv.stderr());
    again = await spawnServer({ dataDir, env });
    const history = await (await fetch(`${again.url}/v3/channels/patient/logs`, { headers: { authorization: again.auth } })).text();
    assert.match(history, /kept across the stop/);
  } finally {
    await srv.stop('SIGKILL');
    await again?.stop('SIGKILL');
    await r.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('SIGTERM: lines a drain could not deliver within the flush bound are announced by an L10 line after the restart (embedded mode)', async () => {
  const r = await HttpReceiver.start();
  r.mode = 'hang'; // the endpoint holds the first batch: nothing is delivered before the stop
  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-sigterm-loss-'));
  const env = { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_FLUSH_TIMEOUT_MS: '500', LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '60000' };
  const srv = await spawnServer({ dataDir, env });
  let again: Awaited<ReturnType<typeof spawnServer>> | null = null;
  let crashed: Awaited<ReturnType<typeof spawnServer>> | null = null;
  const post = async (url: string, token: string, msgs: string[]) => {
    const body = msgs.map((msg) => `<190>1 2024-05-06T07:08:09Z host ${token} web.1 - - ${msg}`).map((m) => `${Buffer.byteLength(m)} ${m}`).join('');
    const res = await fetch(`${url}/logs`, { method: 'POST', headers: { 'content-type': 'application/logplex-1', authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}` }, body });
    assert.equal(res.status, 204);
  };
  try {
    const put = await api(srv, 'PUT', '/v3/channels/lossy', { tokens: ['app'] });
    assert.equal(put.status, 201);
    assert.equal((await api(srv, 'POST', '/v3/channels/lossy/drains', { url: r.url() })).status, 201);
    const token = put.json.tokens.app as string;
    await post(srv.url, token, ['first']);
    await until('the drain request hanging', () => r.hanging() === 1);
    await post(srv.url, token, ['second', 'third']);
    srv.child.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0, srv.stderr());
    // a start that crashes before its L10 line went out (the endpoint still hangs): the next start announces it again
    crashed = await spawnServer({ dataDir, env });
    assert.ok(existsSync(join(dataDir, 'drain-losses.json')), 'the losses stay on disk until they are announced and a stop saves again');
    await crashed.stop('SIGKILL');
    r.mode = 'ok';
    again = await spawnServer({ dataDir, env });
    await post(again.url, token, ['after the restart']);
    await until('the line after the restart delivered', () => r.messages().some((m) => msgText('http', m) === 'after the restart'));
    const got = r.messages().map((m) => msgText('http', m));
    // before, the three lines were gone without a word: the drain got only the new line
    assert.equal(l10Count(got[0]!), 3, got.join('\n'));
    assert.deepEqual(got.slice(1), ['after the restart']);
    const metrics = await (await fetch(`${again.url}/metrics`)).text();
    assert.match(metrics, /^logplane_drain_lines_dropped_total\{kind="http",reason="stop"\} 3$/m);
  } finally {
    await srv.stop('SIGKILL');
    await crashed?.stop('SIGKILL');
    await again?.stop('SIGKILL');
    await r.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
