// Loss accounting of live tails across a Redis outage (SPEC 5.3, 5.4, 9).
// Node a ingests a steady line rate (200 lines/s) over TCP while Redis is
// stopped for three seconds; more lines queue on a than Redis keeps (history
// of 200 lines), so when Redis is back it trims a's own lines before the
// tails' catch-up reads them. A tail on a got those lines directly: it must not be told they were
// lost. A tail on b never got them: it must be told, with the exact count.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { ClusterOptions } from '../../src/cluster/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { api, fastCluster, startNode, metricMatch, type Node } from '../support/cluster.js';
import { captureLog, type CapturedLog } from '../support/log.js';
import { SyslogStream } from '../support/syslog.js';
import { HttpStream, WsClient } from '../support/tail.js';
import { until } from '../support/wait.js';

const HISTORY = 200;
const RATE_TICK_MS = 50;
const PER_TICK = 10; // 200 lines/s
const DURING_OUTAGE = 600; // three times the history: a's queue is trimmed on its way in

/** The messages m-<k> of a text tail body, in order, and its L11 lines. */
function textTail(body: string): { msgs: string[]; l11: string[] } {
  const msgs: string[] = [];
  const l11: string[] = [];
  for (const l of body.split('\n')) {
    if (l.includes('Error L11')) l11.push(l);
    const m = /\]: (m-\d+)$/.exec(l);
    if (m) msgs.push(m[1]!);
  }
  return { msgs, l11 };
}

let redis: TestRedis;
/** Nodes of the running test, closed after it. */
const started: Node[] = [];

describe('live tails across a Redis outage', () => {
  before(async () => {
    redis = await startRedis({ persist: true });
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((n) => n.close()));
  });
  after(async () => {
    await redis?.close();
  });

  test('a tail is told of no loss for lines it got, and of exactly the lines it did not get', async () => {
    await scenario('steady', {});
  });

  test('lines a node could not write to Redis: no loss for its own tails, the exact count for a tail elsewhere', async () => {
    // a queues at most 300 of the 600 lines that arrive while Redis is away: the oldest 300 never reach Redis
    await scenario('dropping', { maxPendingLines: 300 });
  });
});

/**
 * Node a ingests app's lines and has a text and a WebSocket tail of them, node
 * b a WebSocket tail; Redis goes away and comes back (see outage()); then
 * every tail's lines and loss reports are checked against what was sent.
 */
async function scenario(app: string, aOpts: Partial<ClusterOptions>): Promise<void> {
  const dropping = aOpts.maxPendingLines !== undefined;
  const logA = captureLog();
  const logB = captureLog();
  const env = { LOGPLANE_HISTORY_LINES: String(HISTORY) };
  const a = await startNode(redis.url, { ...fastCluster, ...aOpts }, env, { log: logA.log, anyFreeSyslogPorts: true });
  started.push(a);
  const b = await startNode(redis.url, fastCluster, env, { log: logB.log });
  started.push(b);
  const token = (await api(a.url, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).json.tokens.app as string;
  await until('app on b', () => b.server.ctx.registry.get(app));
  const s = await api(a.url, 'POST', '/v3/sessions', { channel_id: app, tail: true, num: 0 });
  const id = (s.json.url as string).split('/sessions/')[1]!;
  const text = new HttpStream(`${a.url}/sessions/${id}`);
  const ws = new WsClient(`${a.url}/sessions/${id}`);
  const wsB = new WsClient(`${b.url}/sessions/${id}`);
  const feed = new SyslogStream(a.server.ports.syslog!);
  const sent: string[] = [];
  let running = true;
  let paused = false;
  let loop: Promise<void> = Promise.resolve();
  try {
    await Promise.all([ws.opened, wsB.opened, feed.ready]);
    // every tail is subscribed once it has a warm-up line (they are not counted)
    let warm = 0;
    await until('tails subscribed', () => {
      feed.write([`<190>1 2026-05-01T12:00:00Z host ${token} web.1 - - warm`]);
      warm++;
      return text.text.includes(': warm') && ws.lines().length > 0 && wsB.lines().length > 0;
    }, 10_000, 50);
    const steady = (t: WsClient) => t.lines().map((l: any) => l.msg as string).filter((m) => m.startsWith('m-'));

    loop = (async () => {
      while (running) {
        if (paused) {
          await new Promise((r) => setTimeout(r, RATE_TICK_MS));
          continue;
        }
        const msgs: string[] = [];
        for (let i = 0; i < PER_TICK; i++) msgs.push(`m-${sent.length + i}`);
        sent.push(...msgs);
        feed.write(msgs.map((m) => `<190>1 2026-05-01T12:00:00Z host ${token} web.1 - - ${m}`));
        await new Promise((r) => setTimeout(r, RATE_TICK_MS));
      }
    })();

    const follower = (x: Node) => x.server.cluster!.tailFollowers(app)[0];
    const total = async () => {
      const h = await a.server.cluster!.history.read(app);
      return h.trimmed + h.records.length;
    };
    /**
     * Stop Redis while 600 lines queue on a, start it again. As when the
     * writer reconnects first, the subscribers come back only after a's queue
     * is written (their connections are closed until then; the killer
     * connects within 10 ms of Redis listening, the nodes retry every second
     * by then), so every follower has to catch up from a history trimmed
     * meanwhile. Whether a subscriber still slipped in first is seen after.
     */
    const outage = async (): Promise<void> => {
      await until('a second of lines', () => sent.length >= 200, 10_000);
      // Redis is stopped with no write of a's in flight: a pipeline Redis ran
      // but could not answer before exiting is written again and its first
      // copy's positions are never known (a documented limit, docs/operations.md),
      // which is not what this test is about. Lines queue on a once it is down.
      paused = true;
      await until('no write in flight', () => a.server.cluster!.history.pendingLines === 0, 10_000);
      await redis.stop();
      paused = false;
      await until('a sees Redis down', () => !a.server.cluster!.history.up, 10_000);
      const downAt = sent.length;
      await until('lines queued while down', () => sent.length >= downAt + DURING_OUTAGE, 30_000);
      const killer = new Redis(redis.url, { retryStrategy: () => 10, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
      killer.on('error', () => {});
      let killing = true;
      const kills = (async () => {
        while (killing) await killer.call('CLIENT', 'KILL', 'TYPE', 'pubsub').catch(() => new Promise((r) => setTimeout(r, 2)));
      })();
      try {
        await redis.restart();
        await until('a wrote its queue', () => a.server.cluster!.history.up && a.server.cluster!.history.pendingLines === 0, 30_000);
      } finally {
        killing = false;
        await kills;
        killer.disconnect();
      }
      const written = await total();
      await until('followers caught up', () => [a, b].every((x) => follower(x)?.live && follower(x)!.last >= written), 30_000);
    };
    // the case under test: a's own lines trimmed before a's follower read them, b's lines too
    for (let attempt = 1; ; attempt++) {
      await outage();
      assert.deepEqual(logA.at('cluster.lines_lost'), [], 'a logs no lost lines');
      if (follower(a)!.ownTrimmed > 0 && logB.at('cluster.lines_lost').length > 0) break;
      assert.ok(attempt < 4, 'in 4 outages the subscribers never came back after the queue was written');
    }
    const upAt = sent.length;
    await until('a second of lines after', () => sent.length >= upAt + 200, 10_000);
    running = false;
    await loop;
    await feed.end();
    const n = sent.length;

    // quiet: a has ingested every line sent (the last ones can still be in its ingest worker when the
    // feed ends) and written them all, every follower of the app (a's and b's) has read to the end of the stream
    await until('a ingested every line', async () => (await metricMatch(a.url, /^logplane_ingest_lines_total\{transport="tcp"\} (\d+)$/m)) >= warm + n, 10_000);
    await until('a wrote everything', () => a.server.cluster!.history.pendingLines === 0, 10_000);
    const end = await total();
    await until('followers at the end', () => [a, b].every((x) => follower(x)?.live && follower(x)!.last === end), 30_000).catch(async (e: Error) => {
      const now = await total().catch(() => NaN);
      const state = [a, b].map((x, i) => `${'ab'[i]}: live ${follower(x)?.live} last ${follower(x)?.last}`).join(', ');
      throw new Error(`${e.message}: end ${end} (${now} now), ${state}`);
    });
    await until('a tails complete', () => steady(ws).length >= n && textTail(text.text).msgs.length >= n, 10_000);
    const gapsB = () => wsB.json().filter((m) => m.type === 'gap') as Array<{ dropped: number }>;
    const reportedB = () => gapsB().reduce((k, g) => k + g.dropped, 0);
    await until('b tail accounted', () => steady(wsB).length + reportedB() >= n, 10_000).catch((e: Error) => {
      throw new Error(`${e.message}: b got ${steady(wsB).length} of ${n}, reported ${reportedB()}`);
    });

    // a: both tails got every line exactly once, in order, and were told of no loss
    assert.ok(logA.at('redis.down').length > 0 && logA.at('redis.up').length > 0, 'a saw the outage');
    const t = textTail(text.text);
    assert.deepEqual(t.l11, [], 'no L11 line on the text tail');
    assert.deepEqual(t.msgs, sent, 'text tail: every line once, in order');
    assert.deepEqual(ws.json().filter((m) => m.type === 'gap'), [], 'no gap frame on the WebSocket tail');
    assert.deepEqual(steady(ws), sent, 'WebSocket tail: every line once, in order');
    assert.deepEqual(logA.at('cluster.lines_lost'), [], 'a logs no lost lines');
    assert.equal(await metricMatch(a.url, /^logplane_tail_dropped_total\{reason="late"\} (\d+)$/m), 0);

    // b: what it got is in order without repeats; what it did not get is reported, exactly
    const gotB = steady(wsB);
    const index = gotB.map((m) => Number(m.slice(2)));
    for (let i = 1; i < index.length; i++) assert.ok(index[i]! > index[i - 1]!, 'b: in order, once');
    assert.equal(gotB.length + reportedB(), n, `b: delivered ${gotB.length} + reported ${reportedB()} = sent ${n}`);
    const loggedB = logB.at('cluster.lines_lost').reduce((k, e) => k + (e['lines'] as number), 0);
    if (!dropping) assert.equal(loggedB, reportedB(), 'b logs the lines it reported');
    else assert.ok(loggedB > 300, `b logs the lines trimmed before it read them, the 300 a announced among them (${loggedB})`);
    if (dropping) assert.ok(logA.at('redis.lines_dropped').length > 0, 'a dropped lines from its queue');
    assert.equal(await metricMatch(b.url, /^logplane_tail_dropped_total\{reason="late"\} (\d+)$/m), reportedB());
  } finally {
    running = false;
    await loop;
    text.close();
    ws.ws.close();
    wsB.ws.close();
  }
}
