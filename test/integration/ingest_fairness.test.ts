// A flooding connection cannot make another connection's lines wait behind
// its backlog. With one ingest worker, while one connection sends as fast as
// TCP takes it, none of 20 lines on a second connection may be routed after
// more than three and a half of the worker's turns of the flood's input
// (WORKER_QUEUE, 1 MiB each, ingest/handoff.ts): the turn being routed when
// the quiet line is sent, the turn in the worker, and one more turn handed
// out while the quiet line still waited in the kernel for a busy main thread
// to read it (under load the main thread takes the worker's "handled"
// message, and hands the flood its next turn, before it reads the quiet
// socket), with half a turn for frames that straddle hand-offs. Counted in
// flood lines routed between the quiet line's send and its routing: a count,
// not a time. The counts come in steps of one turn (about 7,188 lines here):
// the per-connection design gave max 13,953-17,759 at load 4-5, and 20,718
// (three turns) once in a ten-run at load 5.2; the worker-wide pause mark it
// replaced gave max 14,376-27,906 (up to its whole backlog). A tighter p90
// bound could not separate the two under load. The user-visible side, a
// quiet app's line latency under a flood, is test/e2e/rate_limit.test.ts
// (median within 50 ms).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { App, LineSink } from '../../src/apps.js';
import { WORKER_QUEUE } from '../../src/ingest/handoff.js';
import { startServer, type TestServer } from '../support/server.js';
import { flood, SyslogStream } from '../support/syslog.js';
import { until } from '../support/wait.js';

/** The flood's frame as flood() writes it: '<190>1 2026-05-01T12:00:00Z host TOKEN web.1 - flood line ' + 60 x 'f', octet-counted. */
function floodFrameBytes(token: string): number {
  const m = Buffer.byteLength(`<190>1 2026-05-01T12:00:00Z host ${token} web.1 - flood line ${'f'.repeat(60)}`);
  return `${m} `.length + m;
}

/** Records, for each quiet line routed, how many flood lines had been routed by then. */
class FloodSeqAtRoute implements LineSink {
  readonly at: number[] = [];
  constructor(readonly floodApp: App) {}
  offer(): void {
    this.at.push(this.floodApp.seq);
  }
}

describe('ingest fairness between connections', () => {
  let srv: TestServer | undefined;
  after(async () => {
    await srv?.close();
  });

  it('no quiet connection line is routed after more than three and a half worker turns (1 MiB each) of a flooding connection input, not behind its backlog', async (t) => {
    srv = await startServer({ LOGPLANE_INGEST_WORKERS: '1', LOGPLANE_HISTORY_LINES: '1000' });
    const reg = srv.server.ctx.registry;
    const floodApp = (await reg.putApp('flooding', ['app'])).app;
    const quietApp = (await reg.putApp('quiet', ['app'])).app;
    const floodToken = floodApp.record.tokens[0]!.token;
    const quietToken = quietApp.record.tokens[0]!.token;
    const sink = new FloodSeqAtRoute(floodApp);
    quietApp.addSink(sink);
    const port = srv.server.ports.syslog!;

    const flooding = flood(port, floodToken, 4000);
    const quiet = new SyslogStream(port);
    await quiet.ready;
    try {
      // the flood has filled every queue when a few hundred thousand of its lines are in
      await until('the flood under way', () => floodApp.seq > 200_000, 20_000, 20);
      const ahead: number[] = [];
      for (let i = 0; i < 20; i++) {
        const before = floodApp.seq;
        quiet.write([`<190>1 2026-05-01T12:00:00Z host ${quietToken} web.1 - quiet ${i}`]);
        await until(`quiet line ${i} routed`, () => sink.at.length === i + 1, 20_000, 1);
        ahead.push(sink.at[i]! - before);
      }
      await flooding;
      ahead.sort((a, b) => a - b);
      const bound = Math.ceil((3.5 * WORKER_QUEUE) / floodFrameBytes(floodToken));
      t.diagnostic(`flood lines routed ahead of a quiet line: median ${ahead[10]}, p90 ${ahead[17]}, max ${ahead[19]} (bound ${bound})`);
      assert.ok(ahead[19]! <= bound, `max ${ahead[19]} flood lines routed ahead of a quiet line > ${bound} (3.5 worker turns of flood input); all: ${ahead.join(' ')}`);
    } finally {
      await quiet.end();
    }
  });
});
