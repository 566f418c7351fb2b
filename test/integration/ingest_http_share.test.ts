// POST /logs bodies share an ingest worker with syslog input (ingest/handoff.ts,
// ingest/pool.ts). With one worker: a syslog chunk that had to wait while
// bodies were parsed is handed over when they are answered, not when more
// syslog input happens to arrive; UDP datagrams are not dropped as overload
// because a large body is being parsed (the mark counts stream and UDP input
// only).
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { App, LineSink } from '../../src/apps.js';
import { msgOf } from '../../src/line.js';
import { logplexBody, postLogplex } from '../support/http.js';
import { startServer, type TestServer } from '../support/server.js';
import { SyslogStream } from '../support/syslog.js';
import { settled, until } from '../support/wait.js';

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
    const stored = await settled('UDP lines routed', () => udpApp.seq, 300, 10_000);
    udp.close();
    assert.equal(overload.value, 0, `${overload.value} datagrams dropped as overload`);
    assert.equal(stored, sent, `${sent} datagrams sent, ${stored} stored`);
  });
});
