// A flood of garbage syslog connections: each is closed and counted, and our
// own log stays bounded (a rate-limited warning, not one line per connection).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { captureLog, WARN } from '../support/log.js';
import { startServer } from '../support/server.js';

const FLOOD = 500;
/** The warning's rate limit: one line per reason per this interval. */
const INTERVAL_MS = 10_000;

/** One connection that sends what cannot be framed; resolves when the server has closed it. */
function garbage(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    sock.on('error', () => {});
    sock.on('close', () => resolve());
    sock.setTimeout(10_000, () => {
      sock.destroy();
      reject(new Error('the server kept a garbage connection open'));
    });
  });
}

for (const workers of ['1', '0']) {
  test(`${FLOOD} garbage syslog connections write a bounded number of warn lines and are all counted (LOGPLANE_INGEST_WORKERS=${workers})`, async () => {
    const captured = captureLog();
    const ts = await startServer({ LOGPLANE_INGEST_WORKERS: workers }, { log: captured.log });
    try {
      const m = ts.server.ctx.metrics;
      const port = ts.server.ports.syslog!;
      const start = Date.now();
      for (let i = 0; i < FLOOD; i += 50) await Promise.all(Array.from({ length: 50 }, () => garbage(port)));
      const elapsed = Date.now() - start;
      // every connection counted, as closed and as dropped input
      assert.equal(m.connectionsClosed.get('tcp', 'unframeable'), FLOOD);
      assert.equal(m.ingestDropped.get('tcp', 'unframeable'), FLOOD);
      // the log: the first at once, then at most one more line per interval
      const warns = captured.lines.filter((l) => l.level === WARN);
      assert.ok(warns.length >= 1, 'the first garbage connection is logged');
      assert.ok(warns.length <= 1 + Math.floor(elapsed / INTERVAL_MS), `${warns.length} warn lines for ${FLOOD} connections in ${elapsed} ms`);
      assert.deepEqual(
        { at: warns[0]!.at, transport: warns[0]!.transport, closed: warns[0]!.closed, suppressed: warns[0]!.suppressed },
        { at: 'ingest.garbage', transport: 'tcp', closed: 1, suppressed: 0 },
      );
      assert.equal(typeof warns[0]!.reason, 'string');
    } finally {
      await ts.close();
    }
  });
}
