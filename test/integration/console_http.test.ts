// The console's HTTP side: GET / and its assets (no key, caching, CSP) and
// the stats route the pages draw from (auth, bad input, counts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CONSOLE_DIR } from '../../src/api/console.js';
import { existsSync } from 'node:fs';
import { api } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { lineFrom } from '../../src/line.js';
import { route } from '../../src/router.js';

let ts: TestServer;
before(async () => {
  ts = await startServer();
  await ts.server.ctx.registry.putApp('demo', ['app', 'heroku']);
});
after(() => ts.close());

test('the console is built by npm run build', () => {
  assert.ok(existsSync(`${CONSOLE_DIR}/index.html`), `${CONSOLE_DIR}index.html`);
});

test('GET / serves the console without a key, revalidated (no-cache, ETag), under a strict CSP', async () => {
  const r = await api({ url: ts.url }, 'GET', '/');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const csp = r.headers.get('content-security-policy') ?? '';
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(d), `CSP has ${d}: ${csp}`);
  assert.ok(!/unsafe-inline|unsafe-eval/.test(csp));
  assert.ok(!/<script>|<style>|style=/.test(r.text), 'no inline script or style');
  const etag = r.headers.get('etag')!;
  const again = await api({ url: ts.url }, 'GET', '/', undefined, { 'if-none-match': etag });
  assert.equal(again.status, 304);

  const assets = [...r.text.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), assets.join());
  for (const a of assets) {
    const res = await api({ url: ts.url }, 'GET', a);
    assert.equal(res.status, 200, a);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', a);
    assert.ok(res.headers.get('content-security-policy'));
  }
  assert.equal((await api({ url: ts.url }, 'GET', '/console/assets/nope-1234.js')).status, 404);
  assert.equal((await api({ url: ts.url }, 'GET', '/console/assets/..%2Fpackage.json')).status, 404);
});

test('GET /v3/channels/:app/stats needs the key, answers 404 for an unknown app, and counts lines by source over 5 minutes', async () => {
  assert.equal((await api({ url: ts.url }, 'GET', '/v3/channels/demo/stats')).status, 401);
  const missing = await api(ts, 'GET', '/v3/channels/nope/stats');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.id, 'not_found');

  const app = ts.server.ctx.registry.get('demo')!;
  const now = Date.now();
  for (let i = 0; i < 4; i++) route(app, lineFrom({ pri: 190, ts: 'x', source: 'app', dyno: 'web.1', msg: 'm', receivedMs: now - 2000 }));
  route(app, lineFrom({ pri: 190, ts: 'x', source: 'heroku', dyno: 'router', msg: 'm', receivedMs: now - 2000 }));
  route(app, lineFrom({ pri: 190, ts: 'x', source: 'deploy', dyno: 'api', msg: 'm', receivedMs: now - 2000 }));
  const r = await api(ts, 'GET', '/v3/channels/demo/stats');
  assert.equal(r.status, 200);
  const s = r.json;
  assert.deepEqual(s.series.sources, ['app', 'heroku', 'other']);
  const sum = (k: string) => (s.series.counts[k] as number[]).reduce((a, b) => a + b, 0);
  assert.deepEqual([sum('app'), sum('heroku'), sum('other')], [4, 1, 1]);
  assert.equal(s.series.counts.app.length, 300);
  assert.ok(s.lines_per_sec > 0);
  assert.deepEqual(s.drains, { count: 0, worst_state: null, dropped: 0, delivered: 0 });
});
