// Drain state as app owners and metrics see it (SPEC 6.5, docs/drains.md):
// a drain with nothing to send is `idle` (new, or caught up), never stuck at
// `connecting`; a failure stays visible until it is reported; metric label
// values have no spaces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { postLogs, syslog } from '../support/cluster.js';
import { HttpReceiver, startDrainServer } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

interface Status {
  state: string;
  delivered: number;
  dropped: number;
  queue_depth: number;
  last_success_at: string | null;
}

test('a drain with nothing to send is idle, new or caught up; a failure shows until reported', async () => {
  const r = await HttpReceiver.start();
  const t = await startDrainServer({ LOGPLANE_DRAIN_RETRIES: '1' });
  try {
    const { app } = await t.server.ctx.registry.putApp('quiet', ['app']);
    const token = app.record.tokens[0]!.token;
    const add = await t.api('POST', '/v3/channels/quiet/drains', { url: r.url() });
    assert.equal(add.status, 201);
    const id = (add.json as { id: string }).id;
    const status = async () => ((await t.api('GET', `/v3/channels/quiet/drains/${id}`)).json as { status: Status }).status;

    // new, nothing sent yet: idle, no last success
    const s0 = await status();
    assert.equal(s0.state, 'idle');
    assert.equal(s0.last_success_at, null);
    assert.equal(s0.queue_depth, 0);

    // caught up after delivering: idle again, with the time of the last delivery
    assert.equal(await postLogs(t.url, token, [syslog('one'), syslog('two')]), 204);
    await until('two lines', () => r.messages().length === 2);
    const s1 = await (async () => {
      let s = await status();
      const deadline = Date.now() + 5000;
      while (s.state !== 'idle' && Date.now() < deadline) s = await status();
      return s;
    })();
    assert.equal(s1.state, 'idle');
    assert.equal(s1.delivered, 2);
    assert.ok(s1.last_success_at !== null && !Number.isNaN(Date.parse(s1.last_success_at)), String(s1.last_success_at));

    // a dropped batch is a failure to report: not idle while the L10 is owed
    r.mode = 'fail';
    assert.equal(await postLogs(t.url, token, [syslog('three')]), 204);
    await until('batch dropped', () => t.server.drains.drain('quiet', id)!.status().dropped === 1);
    assert.notEqual((await status()).state, 'idle');
    r.mode = 'ok';
    await until('idle after the L10 is delivered', () => t.server.drains.drain('quiet', id)!.state === 'idle', 10_000);
    assert.equal((await status()).state, 'idle');
  } finally {
    await t.close();
    await r.close();
  }
});

test('drain state metric labels have no spaces (backing_off)', async () => {
  const t = await startDrainServer();
  try {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    const states = [...text.matchAll(/^logplane_drains\{kind="https",state="([^"]*)"\} \d+$/gm)].map((m) => m[1]);
    assert.deepEqual(states.sort(), ['backing_off', 'connecting', 'delivering', 'failing', 'idle']);
    assert.ok(!/state="[^"]* [^"]*"/.test(text), 'no label value with a space');
  } finally {
    await t.close();
  }
});
