// Changing a drain's URL (PUT /v3/channels/:app/drains/:id) loses nothing
// silently (SPEC 6.5, docs/drains.md "Changing a drain's URL"): the batch
// held in backoff goes to the new URL first, and loss not yet reported is
// reported there by an exact L10 line; the status counters carry over.
// Also: a replay's notice dropped by an overflow is not counted in `dropped`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { postLogs, syslog } from '../support/cluster.js';
import { accepted, HttpReceiver, l10Count, msgText, startDrainServer, testLine } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

interface Status {
  state: string;
  delivered: number;
  dropped: number;
  dropped_1h: number;
  queue_depth: number;
}

const L10_TEXT = /^Error L10 \(output buffer overflow\): (\d+) messages dropped since (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00)\.$/;

/** A server with one drain on `r` at /a for app `app`; the receiver answers `aStatus` on /a, 204 elsewhere. */
async function putSetup(r: HttpReceiver, aStatus: number, env: Record<string, string> = {}) {
  r.plan = (i) => (r.requests[i]!.url === '/a' ? aStatus : 204);
  const t = await startDrainServer(env);
  const { app } = await t.server.ctx.registry.putApp('moved', ['app']);
  const token = app.record.tokens[0]!.token;
  const add = await t.api('POST', '/v3/channels/moved/drains', { url: r.url('/a') });
  assert.equal(add.status, 201);
  const id = (add.json as { id: string }).id;
  const status = async () => ((await t.api('GET', `/v3/channels/moved/drains/${id}`)).json as { status: Status }).status;
  const put = async (path: string) => assert.equal((await t.api('PUT', `/v3/channels/moved/drains/${id}`, { url: r.url(path) })).status, 200);
  const send = async (...msgs: string[]) => assert.equal(await postLogs(t.url, token, msgs.map((m) => syslog(m))), 204);
  /** Messages delivered to `path` (2xx), in order, L10 lines included. */
  const at = (path: string) => r.requests.filter((q) => q.url === path && q.status !== null && q.status < 300).flatMap((q) => q.frames.map((f) => msgText(r.kind, f)));
  return { t, id, status, put, send, at };
}

test('a URL change sends the batch held in backoff to the new URL first, then the queue', async () => {
  const r = await HttpReceiver.start();
  const { t, status, put, send, at } = await putSetup(r, 503, { LOGPLANE_DRAIN_RETRIES: '2', LOGPLANE_DRAIN_BACKOFF_BASE_MS: '200', LOGPLANE_DRAIN_BACKOFF_MAX_MS: '400' });
  try {
    await send('one', 'two', 'three');
    await until('a 503 on /a', () => r.requests.some((q) => q.url === '/a' && q.status === 503), 5000);
    await send('four', 'five');
    await put('/b');
    await until('five lines on /b', () => at('/b').length >= 5, 5000);
    assert.deepEqual(at('/b'), ['one', 'two', 'three', 'four', 'five'], 'the batch in hand first, no L10: nothing was lost');
    const s = await status();
    assert.equal(s.dropped, 0);
    assert.equal(s.delivered, 5);
  } finally {
    await t.close();
    await r.close();
  }
});

test('a URL change carries the loss not yet reported: the new URL gets the exact L10, status keeps its counts', async () => {
  const r = await HttpReceiver.start();
  const { t, status, put, send, at } = await putSetup(r, 400);
  try {
    const before = Date.now();
    await send('l1', 'l2', 'l3', 'l4');
    await until('4 dropped', async () => (await status()).dropped === 4, 5000);
    assert.equal((await status()).state, 'failing');
    await put('/b');
    await send('n1', 'n2');
    await until('two lines on /b', () => at('/b').filter((m) => l10Count(m) === null).length === 2, 5000);
    const got = at('/b');
    const m = L10_TEXT.exec(got[0]!);
    assert.ok(m, `first message on /b is the L10 line: ${got[0]}`);
    assert.equal(Number(m[1]), 4);
    const since = Date.parse(m[2]!);
    assert.ok(since >= before - 1000 && since <= Date.now(), m[2]);
    assert.deepEqual(got.slice(1), ['n1', 'n2'], 'one L10 line, then the new lines');
    const s = await until('idle', async () => {
      const x = await status();
      return x.state === 'idle' ? x : null;
    }, 5000);
    assert.equal(s.dropped, 4);
    assert.equal(s.dropped_1h, 4);
    assert.equal(s.delivered, 2);
    assert.equal(accepted(r).reported, 4, 'the loss reported once');
  } finally {
    await t.close();
    await r.close();
  }
});

test('a replay notice dropped by an overflow is not counted in dropped; the next L10 reports what it announced', async () => {
  const r = await HttpReceiver.start();
  const { t, id, status } = await putSetup(r, 204, { LOGPLANE_DRAIN_QUEUE_BYTES: '65536', LOGPLANE_DRAIN_BURST_BYTES: '65536' });
  try {
    const drain = t.server.drains.drain('moved', id)!;
    const lines = Array.from({ length: 1500 }, (_, i) => testLine(i));
    const queued = drain.replay(lines, { line: testLine(-1, 'Error L10 (output buffer overflow): 7 messages dropped since 2024-05-06T07:08:09.123456Z.'), missing: 7, sinceMs: Date.parse('2024-05-06T07:08:09.123Z') });
    assert.equal(queued, 1501);
    await until('idle', async () => (await status()).state === 'idle', 10_000);
    const s = await status();
    const a = accepted(r);
    assert.ok(s.dropped > 0, 'the queue overflowed');
    assert.equal(s.delivered + s.dropped, 1500, 'dropped counts lines of the app only');
    assert.equal(a.msgs.length, s.delivered);
    assert.equal(a.reported, s.dropped + 7, 'the L10 line reports the dropped lines and what the notice announced');
    assert.equal(a.l10NotFirst, 0);
  } finally {
    await t.close();
    await r.close();
  }
});
