// SPEC 10 (operations) and the rows of SPEC 11 no other file covers: what an
// operator sees at /healthz, /readyz and /metrics (each metric moves with what
// it measures), the server's own log at info level (every line has an `at`,
// none carries user log content, tokens or keys), the default 8 MiB body
// limit of POST /logs, bad bodies on the Heroku Platform API routes, and the
// L11 line a slow text or SSE tail is sent.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { api } from '../support/api.js';
import { HttpReceiver } from '../support/drain-receivers.js';
import { captureLog, type CapturedLog } from '../support/log.js';
import { startServer, type TestServer } from '../support/server.js';
import { sendSyslog } from '../support/syslog.js';
import { WsClient, line, push } from '../support/tail.js';
import { until } from '../support/wait.js';

const TS = '2026-01-02T03:04:05.678901+00:00';
const syslog = (token: string, msg: string): string => `<190>1 ${TS} host ${token} web.1 - - ${msg}`;

/** POST /logs with octet-counted frames; returns the status. */
async function postLogs(url: string, token: string, body: Buffer): Promise<number> {
  const res = await fetch(`${url}/logs`, {
    method: 'POST',
    headers: { 'content-type': 'application/logplex-1', authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}` },
    body: new Uint8Array(body),
  });
  await res.arrayBuffer();
  return res.status;
}
const frames = (msgs: readonly string[]): Buffer => Buffer.concat(msgs.map((m) => Buffer.from(`${Buffer.byteLength(m)} ${m}`)));

/** One sample of a Prometheus text page (labels given in order), or NaN. */
async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const esc = `${name}${labels ? `{${labels}}` : ''}`.replace(/[{}()[\].+*?^$|\\]/g, '\\$&');
  const m = new RegExp(`^${esc} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

describe('SPEC 10 in embedded mode', () => {
  let ts: TestServer;
  let log: CapturedLog;
  before(async () => {
    log = captureLog('info');
    ts = await startServer({ LOGPLANE_LOG_LEVEL: 'info', LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_RETRIES: '0', LOGPLANE_DRAIN_BACKOFF_BASE_MS: '5' }, { log: log.log });
  });
  after(async () => {
    await ts.close();
  });

  test('/healthz answers OK and /readyz says ready, without the API key', async () => {
    const h = await fetch(`${ts.url}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(await h.text(), 'OK');
    const r = await fetch(`${ts.url}/readyz`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ready: true });
  });

  test('logplane_tails counts open tails by transport: up when one opens, down when it closes', async () => {
    assert.equal((await api(ts, 'PUT', '/v3/channels/tails', { tokens: ['app'] })).status, 201);
    const before = await metric(ts.url, 'logplane_tails', 'transport="ws"');
    const s = await api(ts, 'POST', '/v3/sessions', { channel_id: 'tails', tail: true, num: 0 });
    const ws = new WsClient(s.json.url);
    try {
      await ws.opened;
      await until('the tail counted', async () => (await metric(ts.url, 'logplane_tails', 'transport="ws"')) === before + 1);
    } finally {
      ws.ws.close();
    }
    await until('the closed tail uncounted', async () => (await metric(ts.url, 'logplane_tails', 'transport="ws"')) === before);
  });

  test('logplane_ring_bytes grows by the lines stored', async () => {
    const { app } = await ts.server.ctx.registry.putApp('ringbytes', ['app']);
    const before = await metric(ts.url, 'logplane_ring_bytes');
    push(app, 0, 100, (i) => line(i, { msg: 'x'.repeat(200) }));
    const after = await metric(ts.url, 'logplane_ring_bytes');
    assert.ok(after - before >= 100 * 200, `ring bytes ${before} -> ${after} after 100 lines of 200 bytes`);
  });

  test('logplane_event_loop_lag_seconds shows a blocked event loop', async () => {
    await metric(ts.url, 'logplane_event_loop_lag_seconds'); // a scrape starts a new interval
    // the gauge is the p99 of the loop's delays since the last scrape: block the loop the server runs on
    // (it runs in this process) for 50 ms, 20 times, with one short turn between, so most turns are slow
    for (let k = 0; k < 20; k++) {
      const end = Date.now() + 50;
      while (Date.now() < end) {
        /* busy */
      }
      await new Promise((r) => setImmediate(r));
    }
    // a lower bound: load can only make the measured delay longer
    const lag = await metric(ts.url, 'logplane_event_loop_lag_seconds');
    assert.ok(lag >= 0.04, `lag ${lag} s while the loop was blocked for 50 ms at a time`);
  });

  test('logplane_drain_delivery_seconds measures the time to the acknowledgement', async () => {
    const r = await HttpReceiver.start();
    r.answerDelayMs = 300;
    try {
      const token = (await api(ts, 'PUT', '/v3/channels/latency', { tokens: ['app'] })).json.tokens.app as string;
      assert.equal((await api(ts, 'POST', '/v3/channels/latency/drains', { url: r.url() })).status, 201);
      const count0 = await metric(ts.url, 'logplane_drain_delivery_seconds_count', 'kind="http"');
      const sum0 = await metric(ts.url, 'logplane_drain_delivery_seconds_sum', 'kind="http"');
      const fast0 = await metric(ts.url, 'logplane_drain_delivery_seconds_bucket', 'kind="http",le="0.25"');
      assert.equal(await postLogs(ts.url, token, frames([syslog(token, 'slow endpoint')])), 204);
      await until('the batch acknowledged', async () => (await metric(ts.url, 'logplane_drain_delivery_seconds_count', 'kind="http"')) > count0);
      const n = (await metric(ts.url, 'logplane_drain_delivery_seconds_count', 'kind="http"')) - count0;
      const sum = (await metric(ts.url, 'logplane_drain_delivery_seconds_sum', 'kind="http"')) - sum0;
      // the endpoint answered each batch after 300 ms: a lower bound load cannot break
      assert.ok(sum >= 0.29 * n, `${n} batch(es) took ${sum} s in all`);
      // none of them in the buckets up to 0.25 s
      assert.equal(await metric(ts.url, 'logplane_drain_delivery_seconds_bucket', 'kind="http",le="0.25"'), fast0);
    } finally {
      await r.close();
    }
  });

  test('own logs at info: one JSON line per event with an `at`, never user log content, tokens or keys', async () => {
    const SECRET_MSG = 'user-secret-payload-8c1f';
    const PASSWORD = 'drain-pass-5e2a';
    const failing = await HttpReceiver.start();
    failing.mode = 'fail';
    try {
      // things that log: an app and its token, lines in by HTTP and syslog, an unknown token,
      // a failing drain with a password in its URL, a session, a wrong API key, a bad request
      const put = await api(ts, 'PUT', '/v3/channels/ownlogs', { tokens: ['app'] });
      const token = put.json.tokens.app as string;
      const drain = await api(ts, 'POST', '/v3/channels/ownlogs/drains', { url: `http://user:${PASSWORD}@127.0.0.1:${failing.port}/drain?key=${PASSWORD}` });
      assert.equal(drain.status, 201);
      assert.equal(await postLogs(ts.url, token, frames([syslog(token, `${SECRET_MSG} over http`)])), 204);
      await sendSyslog(ts.server.ports.syslog!, [syslog(token, `${SECRET_MSG} over tcp`), syslog('t.00000000-0000-4000-8000-000000000000', `${SECRET_MSG} unknown token`)]);
      assert.equal((await api(ts, 'POST', '/v3/sessions', { channel_id: 'ownlogs', num: 10 })).status, 201);
      assert.equal((await api({ url: ts.url, auth: 'Bearer wrong-key-0123456789' }, 'GET', '/v3/channels')).status, 401);
      assert.equal(await postLogs(ts.url, token, Buffer.from(`999 ${SECRET_MSG} broken frame`)), 400);
      await until('the failing drain logged', () => log.lines.some((e) => String(e['at'] ?? '').startsWith('drain.')));

      const lines = log.entries();
      assert.ok(lines.length > 0, 'the server logged at info level');
      for (const e of lines) {
        const text = JSON.stringify(e);
        assert.equal(typeof e['at'], 'string', `no \`at\`: ${text}`);
        assert.match(e['at'] as string, /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/, `\`at\` is a stable dotted key: ${text}`);
        assert.ok(!text.includes(SECRET_MSG), `user log content in an own log line: ${text}`);
        assert.ok(!text.includes(token), `a token in an own log line: ${text}`);
        assert.ok(!text.includes(ts.apiKey), `the API key in an own log line: ${text}`);
        assert.ok(!text.includes(PASSWORD), `a drain URL secret in an own log line: ${text}`);
        assert.ok(!text.includes('wrong-key-0123456789'), `a presented key in an own log line: ${text}`);
      }
    } finally {
      await failing.close();
    }
  });
});

describe('SPEC 11 rows', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startServer({ LOGPLANE_TAIL_QUEUE_LINES: '64' });
  });
  after(async () => {
    await ts.close();
  });

  test('POST /logs: a body of exactly the default 8 MiB is accepted, one byte more is 413 and nothing is stored', async () => {
    assert.equal(ts.config.maxBodyBytes, 8 * 1024 * 1024, 'the default limit');
    const { app } = await ts.server.ctx.registry.putApp('bigbody', ['app']);
    const token = app.record.tokens[0]!.token;
    // frames of about 8 KiB each, padded so the body is exactly `size` bytes
    const body = (size: number): Buffer => {
      const parts: Buffer[] = [];
      let left = size;
      let i = 0;
      while (left > 0) {
        const head = syslog(token, `big ${i++} `);
        let frameLen = Math.min(left, 8192);
        if (left - frameLen > 0 && left - frameLen < 200) frameLen = left; // no tiny last frame
        // a frame is "<len> <msg>": find msg so that the whole frame is frameLen bytes
        let msgLen = frameLen - 6;
        while (String(msgLen).length + 1 + msgLen !== frameLen) msgLen += frameLen - (String(msgLen).length + 1 + msgLen);
        const m = head + 'p'.repeat(msgLen - head.length);
        parts.push(Buffer.from(`${msgLen} ${m}`));
        left -= frameLen;
      }
      const b = Buffer.concat(parts);
      assert.equal(b.length, size);
      return b;
    };
    const limit = 8 * 1024 * 1024;
    assert.equal(await postLogs(ts.url, token, body(limit)), 204);
    const stored = app.ring.count;
    assert.ok(stored > 0);
    assert.equal(await postLogs(ts.url, token, body(limit + 1)), 413);
    assert.equal(app.ring.count, stored, 'nothing of the refused request stored');
  });

  test('Platform API: bad bodies get 400 naming the field, and create nothing', async () => {
    await ts.server.ctx.registry.putApp('platform', ['app']);
    const drains = async () => (await api(ts, 'GET', '/apps/platform/log-drains')).json as unknown[];
    for (const [body, field] of [
      [{}, 'url'],
      [{ url: 5 }, 'url'],
      [[], 'url'],
      ['{"url": ', null],
    ] as const) {
      const r = await api(ts, 'POST', '/apps/platform/log-drains', body);
      assert.equal(r.status, 400, `log-drains ${JSON.stringify(body)}: ${r.text}`);
      assert.equal(typeof r.json?.error, 'string', r.text);
      // a field error also carries Heroku's `message` (what the heroku CLI prints), naming the field
      if (field) assert.match(r.json.message, new RegExp(field), r.text);
    }
    assert.deepEqual(await drains(), []);
    for (const [body, field] of [
      [{ tail: 'yes' }, 'tail'],
      [{ lines: 'ten' }, 'lines'],
      [{ source: 5 }, 'source'],
      [{ dyno: ['web.1'] }, 'dyno'],
      ['[1, 2', null],
      ['"a string"', null],
    ] as const) {
      const r = await api(ts, 'POST', '/apps/platform/log-sessions', body);
      assert.equal(r.status, 400, `log-sessions ${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json?.logplex_url, undefined, 'no session made');
      if (field) assert.match(r.text, new RegExp(field), r.text);
    }
  });

  for (const transport of ['text', 'sse'] as const) {
    test(`a slow ${transport} tail is sent the L11 line with the exact number of lines it lost`, async () => {
      const { app } = await ts.server.ctx.registry.putApp(`slow${transport}`, ['app']);
      const s = await api(ts, 'POST', '/v3/sessions', { channel_id: app.id, tail: true, num: 0 });
      assert.equal(s.status, 201);
      const u = new URL(s.json.url as string);
      // a reader that stops reading its socket after the response head
      const sock: Socket = connect(Number(u.port), u.hostname);
      const chunks: Buffer[] = [];
      sock.on('data', (c: Buffer) => chunks.push(c));
      sock.on('error', () => {});
      try {
        await new Promise<void>((r) => sock.once('connect', () => r()));
        sock.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\n${transport === 'sse' ? 'Accept: text/event-stream\r\n' : ''}\r\n`);
        await until('the tail open', () => Buffer.concat(chunks).includes('\r\n\r\n'));
        sock.pause();
        // far more than the socket buffers and the 64-line queue hold
        const TOTAL = 40_000;
        const big = 'y'.repeat(400);
        for (let i = 1; i <= TOTAL; i += 500) {
          push(app, i, Math.min(i + 500, TOTAL + 1), (k) => line(k, { msg: `n ${k} ${big}` }));
          await new Promise((r) => setImmediate(r));
        }
        sock.resume();
        const text = () => Buffer.concat(chunks).toString('utf8');
        await until('the last line', () => text().includes(`n ${TOTAL} `), 60_000);
        const body = text();
        const got = (body.match(/: n \d+ /g) ?? []).length;
        const l11 = [...body.matchAll(/heroku\[logplex\]: Error L11 \(Tail buffer overflow\) -> This tail session dropped (\d+) messages since \S+\./g)];
        assert.ok(l11.length >= 1, `an L11 line (got ${got} of ${TOTAL} lines)`);
        const dropped = l11.reduce((n, m) => n + Number(m[1]), 0);
        assert.equal(got + dropped, TOTAL, `delivered ${got} + reported ${dropped} = every line`);
      } finally {
        sock.destroy();
      }
    });
  }
});
