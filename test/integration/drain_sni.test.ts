// TLS drains send the host as the SNI server name, without the trailing dot
// of a fully qualified name (RFC 6066 section 3), and verify the certificate
// against that name.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Lookup } from '../../src/drains/guard.js';
import { HttpReceiver, SyslogReceiver, drainScope, testLine } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

const scope = drainScope();
after(() => scope.close());

/** Every name is 127.0.0.1 (the test certificate is for localhost). */
const loopback: Lookup = (_host, opts, cb) => (opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));

for (const [kind, start] of [['https', () => HttpReceiver.start('ca')], ['syslog+tls', () => SyslogReceiver.start('ca')]] as const) {
  test(`${kind}: a trailing-dot host (localhost.) sends SNI "localhost" and its certificate verifies`, async () => {
    const r = await start();
    scope.cleanup(() => r.close());
    const path = kind === 'https' ? '/drain' : '';
    for (const host of ['localhost.', 'localhost']) {
      const before = r.messages().length;
      const d = scope.drain(`${kind}://${host}:${r.port}${path}`, { lookup: loopback });
      d.offer(testLine(1));
      await until(`${kind} ${host}: delivered`, () => r.messages().length === before + 1 || d.status().lastError !== null);
      assert.equal(d.status().lastError, null, `${kind} ${host}`);
      d.destroy();
    }
    assert.deepEqual(r.servernames, ['localhost', 'localhost']);
  });
}

test('an IP literal sends no SNI', async () => {
  const r = await SyslogReceiver.start('ca');
  scope.cleanup(() => r.close());
  const d = scope.drain(r.url());
  d.offer(testLine(1));
  await until('delivered', () => r.messages().length === 1);
  assert.deepEqual(r.servernames, [false]);
});
