// POST /logs bodies share an ingest worker with syslog input and with each
// other (ingest/handoff.ts, ingest/pool.ts). With one worker:
// - a syslog chunk that had to wait while bodies were parsed is handed over
//   when they are answered, not when more syslog input happens to arrive;
// - UDP datagrams are not dropped as overload because a large body is being
//   parsed (the mark counts stream and UDP input only);
// - a quiet app's request waits behind at most the documented amount of a
//   flooding app's concurrent large bodies (docs/reliability.md), counted in
//   flood lines routed between its send and its line's routing: a count,
//   not a time;
// - a large body is routed in turns of LINES_PER_TURN lines, as stream
//   batches are, so drains and tails get the event loop between them.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { App, LineSink } from '../../src/apps.js';
import { WORKER_QUEUE } from '../../src/ingest/handoff.js';
import { LINES_PER_TURN } from '../../src/ingest/pool.js';
import { msgOf } from '../../src/line.js';
import { floodBody, logplexBody, postFlood, postLogplex } from '../support/http.js';
import { startServer, type TestServer } from '../support/server.js';
import { SyslogStream } from '../support/syslog.js';
import { until } from '../support/wait.js';

function tokenOf(app: App): string {
  return app.record.tokens[0]!.token;
}

/** Keeps the message of every line routed to its app. */
class Messages implements LineSink {
  readonly got: string[] = [];
  offer(rec: Buffer): void {
    this.got.push(msgOf(rec).toString('utf8'));
  }
}

/** The most lines routed to its app between two check phases of the event loop (one routing turn). */
class LinesPerTurn implements LineSink {
  max = 0;
  #n = 0;
  offer(): void {
    if (this.#n++ === 0) {
      setImmediate(() => {
        this.max = Math.max(this.max, this.#n);
        this.#n = 0;
      });
    }
  }
}

function bulk(lines: number, tag: string): Buffer {
  return logplexBody(Array.from({ length: lines }, (_, i) => `<190>1 2026-05-01T12:00:00Z host app web.1 - ${tag} ${i} ${'b'.repeat(100)}`));
}

describe('POST /logs in the ingest worker beside syslog input and other apps', () => {
  let srv: TestServer | undefined;
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
  });
  after(async () => {
    await srv?.close();
  });

  it('a syslog line that waited while POST /logs bodies were parsed is routed once they are answered, not held until more syslog input arrives', async () => {
    srv = await startServer({ LOGPLANE_INGEST_WORKERS: '1', LOGPLANE_HISTORY_LINES: '1000' });
    const reg = srv.server.ctx.registry;
    const bulkApp = (await reg.putApp('bulk', ['app'])).app;
    const tcpApp = (await reg.putApp('tcpapp', ['app'])).app;
    const sink = new Messages();
    tcpApp.addSink(sink);
    const stream = new SyslogStream(srv.server.ports.syslog!);
    await stream.ready;
    // 8 bodies of about 1 MiB each: while any is in the worker, a syslog chunk waits its turn
    const body = bulk(7000, 'bulk');
    try {
      for (let round = 0; round < 5; round++) {
        const posts = Array.from({ length: 8 }, () => postLogplex(srv!.url, tokenOf(bulkApp), body));
        // the first answer: the others are still being parsed
        await Promise.race(posts);
        stream.write([`<190>1 2026-05-01T12:00:00Z host ${tokenOf(tcpApp)} web.1 - round ${round}`]);
        for (const p of posts) assert.equal((await p).status, 204);
        // no more syslog input until it is routed
        await until(`the syslog line of round ${round} routed`, () => sink.got.includes(`round ${round}`), 5000, 5);
      }
    } finally {
      await stream.end();
    }
  });

  it('UDP datagrams of another app are not dropped as overload while a large POST /logs body is parsed', async () => {
    srv = await startServer({ LOGPLANE_INGEST_WORKERS: '1', LOGPLANE_HISTORY_LINES: '1000' });
    const reg = srv.server.ctx.registry;
    const bulkApp = (await reg.putApp('bulk', ['app'])).app;
    const udpApp = (await reg.putApp('udpapp', ['app'])).app;
    const overload = srv.server.ctx.metrics.ingestDropped.labels('udp', 'overload');
    const udp = createSocket('udp4');
    // about 7 MiB: over the 2 MiB the worker may hold before datagrams are dropped
    const body = bulk(50_000, 'bulk');
    let sent = 0;
    const timer = setInterval(() => {
      udp.send(`<190>1 2026-05-01T12:00:00Z host ${tokenOf(udpApp)} web.1 - udp ${sent++}`, srv!.server.ports.udp!, '127.0.0.1');
    }, 2);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await postLogplex(srv.url, tokenOf(bulkApp), body)).status, 204);
    } finally {
      clearInterval(timer);
    }
    // every datagram routed, however long a loaded machine pauses the routing (a quiet spell proves nothing);
    // one dropped never comes, and the assertion below says how many
    await until(`the ${sent} datagrams routed`, () => udpApp.seq >= sent || overload.value > 0, 30_000).catch(() => {});
    const stored = udpApp.seq;
    udp.close();
    assert.equal(overload.value, 0, `${overload.value} datagrams dropped as overload`);
    assert.equal(stored, sent, `${sent} datagrams sent, ${stored} stored`);
  });

  // What may be routed ahead of the quiet line: the rest of the body being routed when it is sent, the
  // body in the worker (the hand-off then gives the quiet body the next turn), and whatever the flood got
  // answered while the quiet request waited for a busy main thread to read it. So about two bodies,
  // asserted with room for a loaded machine: median at most 3, max at most 6. The old hand-off put the
  // quiet body behind every body in flight: 16 (224,000 lines) at the median and at the least.
  it("a quiet app's POST /logs waits behind a few of a flooding app's 16 concurrent 2 MiB bodies, not behind all of them", async (t) => {
    srv = await startServer({ LOGPLANE_INGEST_WORKERS: '1', LOGPLANE_HISTORY_LINES: '1000' });
    const reg = srv.server.ctx.registry;
    const floodApp = (await reg.putApp('flooding', ['app'])).app;
    const quietApp = (await reg.putApp('quiet', ['app'])).app;
    const lines = 14_000;
    const bodyBytes = floodBody(lines, 100).length;
    assert.ok(bodyBytes > 2 * WORKER_QUEUE && bodyBytes < 2.5 * WORKER_QUEUE, `flood body ${bodyBytes} bytes`);
    // 16 requests in flight at all times: 32 MiB of bodies the old FIFO hand-off put ahead of a quiet one
    const flooding = postFlood(srv.url, tokenOf(floodApp), { lines, pad: 100, concurrency: 16, ms: 8000 });
    try {
      await until('the flood under way', () => floodApp.seq > 20 * lines, 30_000, 20);
      const ahead: number[] = [];
      const ms: number[] = [];
      // the flood's seq when each quiet line is routed
      const at: number[] = [];
      quietApp.addSink({ offer: () => void at.push(floodApp.seq) });
      for (let i = 0; i < 20; i++) {
        const before = floodApp.seq;
        const t0 = performance.now();
        const r = await postLogplex(srv.url, tokenOf(quietApp), logplexBody([`<190>1 2026-05-01T12:00:00Z host app web.1 - quiet ${i}`]));
        ms.push(Math.round(performance.now() - t0));
        assert.equal(r.status, 204);
        ahead.push(at[i]! - before);
        await new Promise((r) => setTimeout(r, 20));
      }
      const served = await flooding;
      ahead.sort((a, b) => a - b);
      ms.sort((a, b) => a - b);
      t.diagnostic(`flood bodies answered ${served}; flood lines routed between a quiet POST's send and its line's routing: median ${ahead[10]}, max ${ahead[19]} (a body is ${lines} lines, ${bodyBytes} bytes); quiet POST ms: median ${ms[10]}, max ${ms[19]}`);
      assert.ok(ahead[10]! <= 3 * lines, `median ${ahead[10]} flood lines routed ahead of a quiet line > 3 bodies; all: ${ahead.join(' ')}`);
      assert.ok(ahead[19]! <= 6 * lines, `max ${ahead[19]} flood lines routed ahead of a quiet line > 6 bodies; all: ${ahead.join(' ')}`);
    } finally {
      await flooding.catch(() => 0);
    }
  });

  it('a POST /logs body of 100,000 lines is routed at most LINES_PER_TURN lines an event-loop turn, as stream batches are', async () => {
    srv = await startServer({ LOGPLANE_INGEST_WORKERS: '1', LOGPLANE_HISTORY_LINES: '1000' });
    const app = (await srv.server.ctx.registry.putApp('big', ['app'])).app;
    const turns = new LinesPerTurn();
    app.addSink(turns);
    const r = await postLogplex(srv.url, tokenOf(app), logplexBody(Array.from({ length: 100_000 }, (_, i) => `<190>1 2026-05-01T12:00:00Z host app web.1 - l ${i}`)));
    assert.equal(r.status, 204);
    // answered once every line is routed
    assert.equal(app.seq, 100_000);
    await new Promise((r) => setImmediate(r));
    assert.ok(turns.max <= LINES_PER_TURN, `${turns.max} lines routed in one turn > ${LINES_PER_TURN}`);
  });
});
