// Private-address guard (SPEC 6.2): checked at connect time on the resolved
// address, for every drain type; a name that resolves to 127.0.0.1 is refused
// (including one that resolved to a public address when the drain was made);
// LOGPLANE_DRAIN_ALLOW_PRIVATE=1 allows it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Lookup } from '../../src/drains/guard.js';
import type { DrainKind } from '../../src/drains/url.js';
import { lineFrom } from '../../src/line.js';
import { route } from '../../src/router.js';
import { makeDrain, startDrainServer, startReceiver, testLine } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

test('a name resolving to 127.0.0.1 is refused at connect time, for every drain type; allowed with the switch', async () => {
  for (const kind of ['http', 'https', 'syslog', 'syslog+tls'] as DrainKind[]) {
    const r = await startReceiver(kind);
    const url = r.url().replace('127.0.0.1', 'localhost');
    try {
      const refused = makeDrain(url, { allowPrivate: false, retries: 100 });
      refused.offer(testLine(0));
      await until(`${kind}: refused`, () => refused.status().lastError !== null);
      const e = refused.status().lastError!;
      assert.equal(e.errno, 'EPRIVATE', `${kind}: ${e.text}`);
      assert.match(e.text, /^localhost resolves to (127\.0\.0\.1|::1), which is a private, loopback or link-local address/);
      assert.equal(r.attempts(), 0, kind);
      refused.destroy();

      // an IP literal skips DNS: refused too
      const literal = makeDrain(r.url(), { allowPrivate: false });
      literal.offer(testLine(0));
      await until(`${kind}: literal refused`, () => literal.status().lastError !== null);
      assert.equal(literal.status().lastError!.errno, 'EPRIVATE');
      assert.match(literal.status().lastError!.text, /^127\.0\.0\.1 is a private/);
      literal.destroy();
      assert.equal(r.attempts(), 0, kind);

      const allowed = makeDrain(url, { allowPrivate: true });
      allowed.offer(testLine(1));
      await until(`${kind}: allowed`, () => r.messages().length === 1);
      allowed.destroy();
    } finally {
      await r.close();
    }
  }
});

test('DNS rebinding: public when the drain is made, 127.0.0.1 when it connects: refused', async () => {
  const r = await startReceiver('http');
  let calls = 0;
  const lookup: Lookup = (host, opts, cb) => {
    if (host !== 'rebind.test') return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), '');
    const address = calls++ === 0 ? '93.184.216.34' : '127.0.0.1';
    return opts.all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4);
  };
  const t = await startDrainServer({ LOGPLANE_DRAIN_ALLOW_PRIVATE: '0' }, { drains: { lookup } });
  try {
    await t.server.ctx.registry.putApp('dns', ['app']);
    const res = await t.api('POST', '/v3/channels/dns/drains', { url: `http://rebind.test:${(r as unknown as { port: number }).port}/` });
    assert.equal(res.status, 201, res.text);
    const app = t.server.ctx.registry.require('dns');
    route(app, lineFrom({ pri: 190, ts: '2024-01-01T00:00:00Z', source: 'app', dyno: 'web.1', msg: 'secret' }));
    const list = async () => ((await t.api('GET', '/v3/channels/dns/drains')).json as Array<{ status: { last_error: { errno?: string; text: string } | null } }>)[0]!.status;
    const deadline = Date.now() + 5000;
    let s = await list();
    while (s.last_error === null && Date.now() < deadline) s = await list();
    assert.equal(s.last_error?.errno, 'EPRIVATE');
    assert.match(s.last_error!.text, /^rebind\.test resolves to 127\.0\.0\.1/);
    assert.equal(r.attempts(), 0);
  } finally {
    await t.close();
    await r.close();
  }
});

test('a drain URL naming localhost or a name under .localhost is refused when made (RFC 6761), whatever the resolver says', async () => {
  const lookup: Lookup = (host, opts, cb) => cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), '');
  const t = await startDrainServer({ LOGPLANE_DRAIN_ALLOW_PRIVATE: '0' }, { drains: { lookup } });
  try {
    await t.server.ctx.registry.putApp('lh', ['app']);
    for (const host of ['foo.localhost', 'A.B.LOCALHOST', 'localhost.']) {
      const res = await t.api('POST', '/v3/channels/lh/drains', { url: `https://${host}/logs` });
      assert.equal(res.status, 422, `${host}: ${res.text}`);
      assert.match(res.text, /is a loopback name \(RFC 6761\)/);
    }
    // a name that merely contains it is not refused for it (it does not resolve here: accepted, checked at connect)
    const other = await t.api('POST', '/v3/channels/lh/drains', { url: 'https://localhost.example.com/logs' });
    assert.equal(other.status, 201, other.text);
  } finally {
    await t.close();
  }
});
