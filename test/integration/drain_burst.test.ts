// Bursts (SPEC 16, first bullet; SPEC 6.5): a drain's queue is bounded by
// bytes within a node-wide drain memory budget. A healthy drain keeps a
// burst that fits (one large POST /logs, many back-to-back POSTs), at HTTPS
// and syslog drains alike; a hanging drain sheds what is over its cap with
// exact L10 counts; and a hanging drain never makes a healthy one drop, even
// when the budget is small.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineFrom } from '../../src/line.js';
import { route } from '../../src/router.js';
import { postLogs, syslog } from '../support/cluster.js';
import { accepted, HttpReceiver, l10Count, metricValue, msgText, startDrainServer, SyslogReceiver, TS, type DrainTestServer, type Receiver } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';
import { api as sharedApi } from '../support/api.js';
import { tempDir } from '../support/server.js';
import { spawnServer } from '../support/spawn.js';
import { rmSync } from 'node:fs';

/** A new app with one drain to r; returns the app's token and the drain id. */
async function appWithDrain(t: DrainTestServer, app: string, r: Receiver, path = '/drain'): Promise<{ token: string; id: string }> {
  const { app: a } = await t.server.ctx.registry.putApp(app, ['app']);
  const res = await t.api('POST', `/v3/channels/${app}/drains`, { url: r instanceof HttpReceiver ? r.url(path) : r.url() });
  assert.equal(res.status, 201, res.text);
  return { token: a.record.tokens[0]!.token, id: (res.json as { id: string }).id };
}

const lines = (n: number, from = 0, pad = ''): string[] => Array.from({ length: n }, (_, i) => syslog(`line ${from + i}${pad}`));
const numbered = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `line ${from + i}`);

async function metrics(t: DrainTestServer): Promise<string> {
  return (await fetch(`${t.url}/metrics`)).text();
}

for (const kind of ['https', 'syslog'] as const) {
  test(`a healthy ${kind} drain delivers a whole 2,000-line POST: nothing dropped`, async () => {
    const r = kind === 'https' ? await HttpReceiver.start('ca') : await SyslogReceiver.start();
    const t = await startDrainServer();
    try {
      const { token, id } = await appWithDrain(t, 'burst', r);
      assert.equal(await postLogs(t.url, token, lines(2000)), 204);
      const d = t.server.drains.drain('burst', id)!;
      await until('all 2,000 lines', () => r.messages().length >= 2000 && d.idle, 15_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${r.messages().length} received, status ${JSON.stringify(d.status())}`);
      });
      const got = r.messages().map((m) => msgText(r.kind, m));
      assert.equal(got.filter((m) => l10Count(m) !== null).length, 0, 'no L10 line');
      assert.deepEqual(got, numbered(2000));
      const s = d.status();
      assert.equal(s.delivered, 2000);
      assert.equal(s.dropped, 0);
    } finally {
      await t.close();
      await r.close();
    }
  });
}

test('40 back-to-back 500-line POSTs all reach a healthy drain', async () => {
  const r = await HttpReceiver.start();
  const t = await startDrainServer();
  try {
    const { token, id } = await appWithDrain(t, 'steady', r);
    // sent as a shipper with several connections would: all in flight at once
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, k) => postLogs(t.url, token, lines(500, k * 500))));
    assert.deepEqual(new Set(statuses), new Set([204]));
    const d = t.server.drains.drain('steady', id)!;
    await until('all 20,000 lines', () => r.messages().length >= 20_000 && d.idle, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${r.messages().length} received, status ${JSON.stringify(d.status())}`);
    });
    const got = accepted(r);
    assert.equal(got.reported, 0, 'no L10 line');
    assert.deepEqual(got.msgs, numbered(20_000));
    assert.equal(d.status().dropped, 0);
  } finally {
    await t.close();
    await r.close();
  }
});

test('a hanging drain sheds what is over its byte cap, with exact L10 counts', async () => {
  const CAP = 64 * 1024;
  const r = await HttpReceiver.start();
  r.mode = 'hang';
  const t = await startDrainServer({ LOGPLANE_DRAIN_QUEUE_BYTES: String(CAP), LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '300', LOGPLANE_DRAIN_RETRIES: '2' });
  try {
    const { token, id } = await appWithDrain(t, 'stuck', r);
    const d = t.server.drains.drain('stuck', id)!;
    const SENT = 6000;
    for (let k = 0; k < 3; k++) assert.equal(await postLogs(t.url, token, lines(2000, k * 2000, ' '.padEnd(60, 'x'))), 204);
    await until('overflow', () => d.status().dropped > 0);
    // what the queue holds is bounded by the cap (the batch in flight aside)
    const held = metricValue(await metrics(t), 'logplane_drain_queue_bytes');
    assert.ok(held !== null && held > 0 && held <= CAP, `queued bytes ${held}`);

    r.mode = 'ok';
    await until('drain idle after healing', () => d.idle, 20_000);
    const s = d.status();
    const got = accepted(r);
    assert.ok(s.dropped > 0);
    assert.equal(s.delivered + s.dropped, SENT, `delivered ${s.delivered} + dropped ${s.dropped}`);
    assert.equal(got.msgs.length, s.delivered);
    assert.equal(got.reported, s.dropped, 'the L10 lines report every dropped line, exactly');
    assert.equal(got.l10NotFirst, 0, 'an L10 line starts its batch');
    const nums = got.msgs.map((m) => Number(m.split(' ')[1]));
    for (let i = 1; i < nums.length; i++) assert.ok(nums[i]! > nums[i - 1]!, `in order at ${i}`);
    assert.equal(nums.at(-1), SENT - 1, 'the newest lines are kept');
  } finally {
    await t.close();
    await r.close();
  }
});

test('with a small node budget, a hanging drain cannot make a healthy drain drop', async () => {
  // two drains share 1.5 MiB: each is guaranteed 768 KiB; the hanging one may
  // borrow up to its 1 MiB cap only while nobody else needs the memory
  const CAP = 1024 * 1024;
  const BUDGET = 1536 * 1024;
  const stuckRx = await HttpReceiver.start();
  stuckRx.mode = 'hang';
  const healthyRx = await HttpReceiver.start();
  const t = await startDrainServer({
    LOGPLANE_DRAIN_QUEUE_BYTES: String(CAP),
    LOGPLANE_DRAIN_BUDGET_BYTES: String(BUDGET),
    LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '2000',
    LOGPLANE_DRAIN_RETRIES: '2',
  });
  try {
    const stuck = await appWithDrain(t, 'stuck', stuckRx);
    const healthy = await appWithDrain(t, 'busy', healthyRx);
    const sd = t.server.drains.drain('stuck', stuck.id)!;
    const hd = t.server.drains.drain('busy', healthy.id)!;
    assert.equal(metricValue(await metrics(t), 'logplane_drain_budget_bytes'), BUDGET);
    // lines are routed as ingest does, a whole burst in one event-loop turn
    // (an HTTP body may be routed chunk by chunk as it arrives)
    const pad = ' '.padEnd(50, 'x');
    const burst = (app: string, from: number, n: number) => {
      const a = t.server.ctx.registry.require(app);
      for (let i = from; i < from + n; i++) route(a, lineFrom({ pri: 190, ts: TS, source: 'app', dyno: 'web.1', msg: `line ${i}${pad}` }));
    };

    // the hanging drain fills up to its own cap (and sheds the rest)
    let sent = 0;
    for (let k = 0; k < 4; k++, sent += 3000) {
      burst('stuck', sent, 3000);
      await new Promise((r) => setImmediate(r));
    }
    await until('the hanging drain overflowing', () => sd.status().dropped > 0);
    const filled = metricValue(await metrics(t), 'logplane_drain_queue_bytes')!;
    assert.ok(filled > BUDGET / 2 && filled <= CAP, `the hanging drain holds ${filled} bytes`);

    // a burst of ~710 KB (within the healthy drain's share) in one turn: the
    // total passes the budget by more than the healthy drain's first batch
    const overflowBefore = sd.counters.droppedOverflow.value;
    const BURST = 6000;
    burst('busy', 0, BURST);
    await until('the whole burst', () => healthyRx.messages().length >= BURST && hd.idle, 15_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${healthyRx.messages().length} received, status ${JSON.stringify(hd.status())}`);
    });
    const h = accepted(healthyRx);
    assert.equal(h.reported, 0, 'no L10 at the healthy drain');
    assert.deepEqual(h.msgs, numbered(BURST).map((m) => `${m}${pad}`));
    assert.equal(hd.status().dropped, 0);
    // the hanging drain got no line meanwhile, yet shed some: it gave its borrowed memory back
    assert.ok(sd.counters.droppedOverflow.value > overflowBefore, 'the hanging drain gave memory back');

    // ... and its accounting stays exact
    stuckRx.mode = 'ok';
    await until('the hanging drain idle after healing', () => sd.idle, 20_000);
    const s = sd.status();
    const got = accepted(stuckRx);
    assert.equal(s.delivered + s.dropped, sent, `delivered ${s.delivered} + dropped ${s.dropped}`);
    assert.equal(got.msgs.length, s.delivered);
    assert.equal(got.reported, s.dropped);
    assert.equal(got.l10NotFirst, 0);
  } finally {
    await t.close();
    await stuckRx.close();
    await healthyRx.close();
  }
});

test('a 100,000-line burst at full ingest speed reaches a consumer answering each POST in 5 ms, with no L10, with the default queue settings', async () => {
  // the server in its own process, as in production: the senders and the
  // consumer (this process) do not share its event loop
  const r = await HttpReceiver.start();
  r.answerDelayMs = 5;
  const dataDir = tempDir('logplane-burst-');
  // the default 4 MiB queue and 256 MiB budget (docs/drains.md, "Sizing for
  // bursts"): with one batch in flight the drain delivers a fraction of what
  // ingest takes in meanwhile, so the healthy drain borrows from the budget
  const srv = await spawnServer({ dataDir, env: { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_API_KEY: 'burst-test-key-0123456789abcdef' } });
  const call = (method: string, path: string, body?: unknown) => sharedApi({ url: srv.url, auth: srv.auth }, method, path, body);
  try {
    const token = ((await call('PUT', '/v3/channels/burst100k', { tokens: ['app'] })).json as { tokens: { app: string } }).tokens.app;
    const add = await call('POST', '/v3/channels/burst100k/drains', { url: r.url() });
    assert.equal(add.status, 201, add.text);
    const id = (add.json as { id: string }).id;
    const N = 100_000;
    const PER = 2000;
    // 50 bodies of 2,000 lines, 8 in flight at a time: as fast as the server ingests
    let next = 0;
    const sender = async (): Promise<void> => {
      while (next < N) {
        const from = next;
        next += PER;
        assert.equal(await postLogs(srv.url, token, lines(PER, from)), 204);
      }
    };
    await Promise.all(Array.from({ length: 8 }, sender));
    await until('all 100,000 lines', () => r.messages().length >= N, 120_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${r.messages().length} received, status ${(await call('GET', `/v3/channels/burst100k/drains/${id}`)).text}`);
    });
    const got = accepted(r);
    assert.equal(got.reported, 0, 'no L10 line');
    // concurrent POSTs are routed in any order: each line once, each body's lines in order
    const nums = got.msgs.map((m) => Number(m.split(' ')[1]));
    assert.deepEqual(nums.slice().sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i));
    const lastOfBody = new Map<number, number>();
    for (const n of nums) {
      const b = Math.floor(n / PER);
      assert.ok((lastOfBody.get(b) ?? -1) < n, `line ${n} in order within its body`);
      lastOfBody.set(b, n);
    }
    const s = ((await call('GET', `/v3/channels/burst100k/drains/${id}`)).json as { status: { dropped: number; delivered: number } }).status;
    assert.equal(s.dropped, 0);
    assert.equal(s.delivered, N);
  } finally {
    await srv.stop();
    await r.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
