// POST /logs bodies share an ingest worker with syslog input (ingest/handoff.ts,
// ingest/pool.ts). With one worker: a syslog chunk that had to wait while
// bodies were parsed is handed over when they are answered, not when more
// syslog input happens to arrive.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { App, LineSink } from '../../src/apps.js';
import { msgOf } from '../../src/line.js';
import { logplexBody, postLogplex } from '../support/http.js';
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
});
