// /metrics names every ingest drop by the transport the line came in by
// (docs/operations.md: http, tcp, tls, udp, publish); lines whose app was
// deleted while a worker cooked them are counted under their own transport.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer } from '../support/server.js';

const TRANSPORTS = ['http', 'tcp', 'tls', 'udp', 'publish'];

test('logplane_ingest_dropped_total: every transport label is a documented transport; app_deleted is per transport', async () => {
  const ts = await startServer({ LOGPLANE_INGEST_WORKERS: '1' });
  try {
    const text = await (await fetch(`${ts.url}/metrics`)).text();
    const samples = [...text.matchAll(/^logplane_ingest_dropped_total\{([^}]*)\} /gm)].map((m) => Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!])));
    assert.ok(samples.length > 0, text);
    for (const s of samples) assert.ok(TRANSPORTS.includes(s['transport']!), `transport="${s['transport']}" is not one of ${TRANSPORTS.join(', ')}`);
    const appDeleted = samples.filter((s) => s['reason'] === 'app_deleted').map((s) => s['transport']).sort();
    assert.deepEqual(appDeleted, ['http', 'tcp', 'tls', 'udp']);
  } finally {
    await ts.close();
  }
});
