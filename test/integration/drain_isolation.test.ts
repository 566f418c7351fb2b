// Isolation (SPEC 6.5): one app, three drains: one that accepts the
// connection and never answers, one that answers 500, one healthy, while
// 200,000 lines flow in through syslog TCP ingest. The healthy drain gets
// every line in order with no L10; ingest completes while the broken drains
// are still broken; for each failing
// drain, delivered + dropped (as its L10 lines and its status say) is exactly
// the number of lines sent.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { HttpReceiver, l10Count, msgText, startDrainServer } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

const LINES = 200_000;
/** Target ingest rate (lines/s): a very busy app. */
const RATE = 40_000;
const TS = '2024-05-06T07:08:09.123456+00:00';
const PAD = 'x'.repeat(60);

/** What the receiver accepted (2xx, each Frame-Id once): lines by number, and the L10 total. */
function accepted(r: HttpReceiver): { lines: number[]; reported: number } {
  const seen = new Set<string>();
  const lines: number[] = [];
  let reported = 0;
  for (const q of r.requests) {
    if (q.status === null || q.status < 200 || q.status >= 300) continue;
    const id = String(q.headers['logplex-frame-id']);
    if (seen.has(id)) continue;
    seen.add(id);
    for (const f of q.frames) {
      const m = msgText('http', f);
      const n = l10Count(m);
      if (n !== null) reported += n;
      else lines.push(Number(m.slice(5, m.indexOf(' ', 5))));
    }
  }
  return { lines, reported };
}

test('a hanging drain and a failing drain never delay a healthy one, nor ingest; every loss is counted exactly', async () => {
  const healthy = await HttpReceiver.start();
  const hanging = await HttpReceiver.start();
  const failing = await HttpReceiver.start();
  hanging.mode = 'hang';
  failing.mode = 'fail';
  const t = await startDrainServer({
    // the queue absorbs what one event-loop turn routes: after a CPU stall the
    // syslog reader may route a few MB of backlog at once (see docs/drains.md)
    LOGPLANE_DRAIN_QUEUE_BYTES: String(16 << 20),
    LOGPLANE_DRAIN_RETRIES: '2',
    // long enough that the healthy drain's answers are never late on a loaded machine (a late answer
    // is a retry, and after the retries a drop); the hanging drain still times out many times
    LOGPLANE_DRAIN_RESPONSE_TIMEOUT_MS: '2000',
    LOGPLANE_DRAIN_CONNECT_TIMEOUT_MS: '300',
    LOGPLANE_HISTORY_LINES: '100',
  });
  try {
    const { app } = await t.server.ctx.registry.putApp('busy', ['app']);
    const token = app.record.tokens[0]!.token;
    const ids: Record<string, string> = {};
    for (const [name, r] of [['healthy', healthy], ['hanging', hanging], ['failing', failing]] as const) {
      const res = await t.api('POST', '/v3/channels/busy/drains', { url: r.url(`/${name}`) });
      assert.equal(res.status, 201);
      ids[name] = (res.json as { id: string }).id;
    }
    const drain = (name: string) => t.server.drains.drain('busy', ids[name]!)!;

    // paced ingest: RATE lines/s in 10 ms slices
    const sock = connect({ host: '127.0.0.1', port: t.server.ports.syslog! });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const t0 = Date.now();
    let sent = 0;
    while (sent < LINES) {
      const due = Math.min(LINES, Math.floor(((Date.now() - t0) / 1000) * RATE) + RATE / 100);
      if (due > sent) {
        const parts: Buffer[] = [];
        for (; sent < due; sent++) {
          const m = Buffer.from(`<190>1 ${TS} host ${token} web.1 - - line ${sent} ${PAD}`, 'latin1');
          parts.push(Buffer.from(`${m.length} `, 'latin1'), m);
        }
        if (!sock.write(Buffer.concat(parts))) await new Promise((r) => sock.once('drain', r));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    // ingest is not held back by the broken drains: every line is routed while
    // both of them are still broken (none delivered anything yet). How fast
    // ingest runs beside failing drains is measured by the benches, not here.
    await until('all lines ingested', () => app.seq >= LINES, 60_000);
    sock.destroy();
    assert.equal(app.seq, LINES);
    assert.equal(drain('hanging').status().delivered + drain('failing').status().delivered, 0, 'the broken drains were still broken while ingest completed');

    // the healthy drain: every line, in order, no L10 (wait until it holds
    // nothing: on a loaded machine a batch may time out after the receiver
    // took it and be sent again, so the receiver's raw count runs ahead)
    const settled = () => {
      const d = drain('healthy');
      const s = d.status();
      return d.idle && s.delivered + s.dropped >= LINES;
    };
    await until('healthy drain complete', settled, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${healthy.messages().length} received, status ${JSON.stringify(drain('healthy').status())}`);
    });
    const h = accepted(healthy);
    assert.equal(h.reported, 0, 'no L10 on the healthy drain');
    assert.equal(h.lines.length, LINES);
    for (let i = 0; i < LINES; i++) if (h.lines[i] !== i) assert.fail(`healthy drain: line ${i} is ${h.lines[i]}`);
    const hs = drain('healthy').status();
    assert.equal(hs.delivered, LINES);
    assert.equal(hs.dropped, 0);

    // the failing drains lost lines while broken, and say so
    const hang0 = drain('hanging').status();
    const fail0 = drain('failing').status();
    assert.ok(hang0.dropped > 0 && fail0.dropped > 0, 'the failing drains dropped lines');
    assert.equal(hang0.lastError?.errno, 'ETIMEDOUT');
    assert.equal(fail0.lastError?.status, 500);
    assert.equal(hang0.delivered + fail0.delivered, 0);

    // heal them: what they still hold is delivered, and an L10 reports the rest, exactly
    hanging.mode = 'ok';
    failing.mode = 'ok';
    for (const [name, r] of [['hanging', hanging], ['failing', failing]] as const) {
      const d = drain(name);
      await until(`${name} drain idle`, () => d.idle, 60_000);
      const got = accepted(r);
      const s = d.status();
      assert.equal(s.delivered + s.dropped, LINES, `${name}: status delivered ${s.delivered} + dropped ${s.dropped}`);
      assert.equal(got.lines.length, s.delivered, `${name}: receiver lines vs status`);
      assert.equal(got.reported, s.dropped, `${name}: L10 total vs status`);
      assert.equal(got.lines.length + got.reported, LINES, `${name}: delivered + L10 counts`);
      for (let i = 1; i < got.lines.length; i++) if (!(got.lines[i]! > got.lines[i - 1]!)) assert.fail(`${name}: out of order at ${i}`);
    }
  } finally {
    await t.close();
    await healthy.close();
    await hanging.close();
    await failing.close();
  }
});
