// A graceful stop and the POST /logs requests in flight (SPEC 10: stop
// accepting, then save; SPEC 3.1: a shipper's retry is not stored twice). A
// request the server has taken is answered before the server closes its
// connection, or is not stored at all, so what a shipper retries (anything
// not answered 2xx) was never stored. Each case stops the server at a moment
// the test sees (the server's own request events), and then does what a
// shipper does: retry what was not answered 2xx at the restarted server,
// with the same Logplex-Frame-Id (the Frame-Id table is in memory: a restart
// forgets it). In embedded mode the history comes back from the ring
// snapshot; in distributed mode from Redis, written at the stop.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:http';
import type { App } from '../../src/apps.js';
import { msgOf } from '../../src/line.js';
import { logplexBody, postLogplex } from '../support/http.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { startServer, tempDir, type TestServer } from '../support/server.js';

const LINES = 20_000;
const FRAME_ID = 'batch-42';

function body(): Buffer {
  return logplexBody(Array.from({ length: LINES }, (_, i) => `<190>1 2026-05-01T12:00:00Z host app web.1 - bulk ${i} ${'b'.repeat(100)}`));
}

/** The status of the answer, or the error that ended the request instead. */
type Outcome = { status: number } | { error: string };

/**
 * POST /logs with the body in two writes; `between` runs once the server has
 * the request (after the first write) and before the second.
 */
function postInTwo(url: string, token: string, b: Buffer, between: () => void | Promise<void>): Promise<Outcome> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: '/logs',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/logplex-1', 'content-length': String(b.length), authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}`, 'logplex-frame-id': FRAME_ID },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode! }));
        res.on('error', (e) => resolve({ error: e.message }));
      },
    );
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.write(b.subarray(0, b.length >> 1), () => {
      void Promise.resolve(between()).then(() => req.end(b.subarray(b.length >> 1)));
    });
  });
}

/** The next request the server takes (after its POST /logs front has taken it). */
function nextRequest(ts: TestServer): Promise<IncomingMessage> {
  return new Promise((resolve) => ts.server.http.server.once('request', resolve));
}

async function copiesOf(ts: TestServer, appId: string): Promise<{ lines: number; last: number }> {
  const app: App = ts.server.ctx.registry.get(appId)!;
  const h = await ts.server.history.read(app, Infinity);
  const last = `bulk ${LINES - 1} `;
  return { lines: h.lines.length, last: h.lines.filter((l) => msgOf(l).toString('latin1').startsWith(last)).length };
}

for (const mode of ['embedded', 'distributed'] as const) {
  describe(`graceful stop with POST /logs in flight (${mode} mode)`, () => {
    let redis: TestRedis | null = null;
    before(async () => {
      if (mode === 'distributed') redis = await startRedis();
    });
    after(async () => {
      await redis?.close();
    });

    /** Start, stop at `stop` while a POST is in flight, restart (same data dir / Redis), retry as a shipper does. */
    async function run(stopWhen: 'reading' | 'parsing', check: (first: Outcome, stopMs: number) => void): Promise<void> {
      const dataDir = tempDir();
      const env: Record<string, string> = { LOGPLANE_INGEST_WORKERS: '1', LOGPLANE_HISTORY_LINES: String(3 * LINES), ...(redis ? { REDIS_URL: redis.url } : {}) };
      const a = await startServer(env, { dataDir });
      const { app } = await a.server.ctx.registry.putApp(`dup-${stopWhen}`, ['app']);
      const token = app.record.tokens[0]!.token;
      const b = body();
      let stopping: Promise<void> | null = null;
      let stopMs = 0;
      const stop = (): void => {
        const t0 = Date.now();
        stopping = a.close({ keepData: true }).then(() => void (stopMs = Date.now() - t0));
      };
      const taken = nextRequest(a);
      let first: Outcome;
      if (stopWhen === 'reading') {
        // the server has the request and half its body when it is told to stop
        first = await postInTwo(a.url, token, b, async () => {
          await taken;
          stop();
        });
      } else {
        // the whole body is read (the front's 'end' listener came first: it is on its way to the worker)
        void taken.then((req) => req.once('end', stop));
        first = await postInTwo(a.url, token, b, () => {});
      }
      await stopping;
      const c = await startServer(env, { dataDir });
      try {
        if (!('status' in first) || first.status !== 204) {
          const retry = await postLogplex(c.url, token, b, { 'logplex-frame-id': FRAME_ID });
          assert.equal(retry.status, 204, 'the retry is stored');
        }
        const copies = await copiesOf(c, app.id);
        assert.equal(copies.last, 1, `copies of the body's last line after the retry: ${copies.last} (first attempt: ${JSON.stringify(first)})`);
        assert.equal(copies.lines, LINES);
        check(first, stopMs);
      } finally {
        await c.close();
      }
    }

    it('a body being parsed when the stop begins is answered 204 before the connection closes, and stored once', async () => {
      await run('parsing', (first) => assert.deepEqual(first, { status: 204 }));
    });

    it('a body still being read when the stop begins is read, answered 204 and stored once', async () => {
      await run('reading', (first) => assert.deepEqual(first, { status: 204 }));
    });
  });
}

describe('graceful stop with a POST /logs body that never completes', () => {
  it('waits for it at most 2 s, closes it unanswered, stores nothing of it: the retry after the restart is the only copy', async () => {
    const dataDir = tempDir();
    const env = { LOGPLANE_INGEST_WORKERS: '1', LOGPLANE_HISTORY_LINES: String(3 * LINES) };
    const a = await startServer(env, { dataDir });
    const { app } = await a.server.ctx.registry.putApp('stalled', ['app']);
    const token = app.record.tokens[0]!.token;
    const b = body();
    const taken = nextRequest(a);
    const u = new URL(a.url);
    // declares the whole body, sends half, then nothing
    const first = new Promise<Outcome>((resolve) => {
      const req = request({ host: u.hostname, port: u.port, path: '/logs', method: 'POST', agent: false, headers: { 'content-type': 'application/logplex-1', 'content-length': String(b.length), authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}`, 'logplex-frame-id': FRAME_ID } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode! }));
      });
      req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
      req.write(b.subarray(0, b.length >> 1));
    });
    await taken;
    const t0 = Date.now();
    await a.close({ keepData: true });
    const stopMs = Date.now() - t0;
    const outcome = await first;
    assert.ok(!('status' in outcome), `no answer expected, got ${JSON.stringify(outcome)}`);
    assert.ok(stopMs >= 1900 && stopMs < 8000, `stop took ${stopMs} ms (the wait for requests is 2 s)`);
    const c = await startServer(env, { dataDir });
    try {
      assert.equal((await copiesOf(c, app.id)).lines, 0, 'nothing of the cut request stored');
      assert.equal((await postLogplex(c.url, token, b, { 'logplex-frame-id': FRAME_ID })).status, 204);
      assert.equal((await copiesOf(c, app.id)).lines, LINES);
    } finally {
      await c.close();
    }
  });
});
