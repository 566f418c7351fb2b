// A flooding connection cannot make another connection's lines wait behind
// its backlog. With one ingest worker, while one connection sends as fast as
// TCP takes it, 18 of 20 lines on a second connection (p90) must be routed
// after at most ~1.5 MiB of the flood's input (the 1 MiB a worker is given at
// a time plus a few 64 KiB chunks in turn, ingest/handoff.ts), counted in
// flood lines routed between the quiet line's send and its routing: a count,
// not a time, so a loaded machine does not change it. With one worker-wide
// pause mark (2 MiB, resumed under 1 MiB) the quiet connection was paused
// with the flood and its lines waited behind up to 2 MiB of it (p90 13,953
// flood lines in two runs, for a bound of ~10,100).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { App, LineSink } from '../../src/apps.js';
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

  it('a quiet connection line is routed after at most ~1.5 MiB of a flooding connection input (p90), not behind its backlog', async (t) => {
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
      const bound = Math.ceil((1536 * 1024) / floodFrameBytes(floodToken));
      t.diagnostic(`flood lines routed ahead of a quiet line: median ${ahead[10]}, p90 ${ahead[17]}, max ${ahead[19]} (bound ${bound})`);
      assert.ok(ahead[17]! <= bound, `p90 ${ahead[17]} flood lines routed ahead of a quiet line > ${bound} (~1.5 MiB of flood input); all: ${ahead.join(' ')}`);
    } finally {
      await quiet.end();
    }
  });
});
