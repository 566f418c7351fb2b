// The per-app rate limit over every transport, with and without ingest
// workers: a burst over the limit is cut at twice the rate, the drops are
// counted exactly and announced in the app's own stream. Accounting (SPEC
// 10): logplane_ingest_lines_total{transport} counts the lines routed, the
// rate-limited ones are logplane_ingest_dropped_total{transport,
// reason="rate_limited"} under their own transport: accepted + rate_limited =
// sent, per transport.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { api } from '../support/api.js';
import { postLogs, syslog } from '../support/cluster.js';
import { sample } from '../support/limits.js';
import { startServer, type TestServer } from '../support/server.js';
import { sendSyslog } from '../support/syslog.js';
import { until } from '../support/wait.js';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function messages(srv: TestServer, app: string): Promise<string[]> {
  const r = await fetch(`${srv.url}/v3/channels/${app}/logs?num=1500`, { headers: { authorization: srv.auth } });
  const text = Buffer.from(await r.arrayBuffer()).toString();
  return text.split('\n').filter((l) => l.length > 0);
}

for (const workers of ['0', '1']) {
  describe(`rate limit, ${workers === '0' ? 'parsed on the main thread' : 'parsed in an ingest worker'}`, () => {
    for (const transport of ['http', 'tcp', 'udp'] as const) {
      test(`${transport}: 100 lines at once over a limit of 10 lines/s keep 20 (the burst), drop and announce 80`, async () => {
        const srv = await startServer({ LOGPLANE_APP_RATE_LINES: '10', LOGPLANE_INGEST_WORKERS: workers });
        servers.push(srv);
        const app = `rl-${transport}`;
        const token = (await api(srv, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).json.tokens.app as string;
        const msgs = Array.from({ length: 100 }, (_, i) => `<190>1 2026-05-01T12:00:00Z host ${token} web.1 - line ${i}`);
        if (transport === 'http') assert.equal(await postLogs(srv.url, token, msgs.map((_, i) => syslog(`line ${i}`))), 204);
        else if (transport === 'tcp') await sendSyslog(srv.server.ports.syslog!, msgs);
        else {
          const sock = createSocket('udp4');
          try {
            for (const m of msgs) await new Promise<void>((resolve, reject) => sock.send(m, srv.server.ports.udp!, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
          } finally {
            sock.close();
          }
        }
        const lines = await until('the drop announced', async () => {
          const l = await messages(srv, app);
          return l.some((x) => x.includes('Rate limit exceeded')) ? l : null;
        }, 10_000);
        const kept = lines.filter((l) => / line \d+$/.test(l));
        const notice = lines.filter((l) => l.includes('Rate limit exceeded'));
        assert.equal(kept.length, 20);
        assert.equal(notice.length, 1);
        assert.match(notice[0]!, / heroku logplane - Rate limit exceeded: 80 messages dropped since \S+\.$/);
        const m = (await api(srv, 'GET', '/metrics')).text;
        const accepted = sample(m, 'logplane_ingest_lines_total', { transport });
        const limited = sample(m, 'logplane_ingest_dropped_total', { transport, reason: 'rate_limited' });
        assert.equal(accepted, 20, 'accepted = routed');
        assert.equal(limited, 80);
        assert.equal(accepted + limited, 100, 'accepted + rate_limited = sent');
        assert.equal(sample(m, 'logplane_ingest_dropped_total', { transport: 'any', reason: 'rate_limited' }), 0, 'no transport-less count');
        // counted per app (SPEC 17): the app's own figure in the channel list and its stats
        const entry = (await api(srv, 'GET', '/v3/channels')).json.channels.find((c: { channel: string }) => c.channel === app);
        assert.equal(entry.stats.rate_limited, 80);
        assert.equal(entry.stats.lines_in, 21, 'the 20 kept and the announcement');
        assert.equal((await api(srv, 'GET', `/v3/channels/${app}/stats`)).json.rate_limited, 80);
      });
    }
  });
}

describe('rate limit, in-process publish', () => {
  test('lp.publish: 100 lines at once over a limit of 10 lines/s keep 20, drop and announce 80', async () => {
    const { createLogplane } = await import('../../src/logplane.js');
    const { tempDir } = await import('../support/server.js');
    const { rmSync } = await import('node:fs');
    const dataDir = tempDir('logplane-publish-rate-');
    const lp = await createLogplane({ dataDir, http: false, syslog: false, settings: { LOGPLANE_APP_RATE_LINES: 10 } });
    try {
      await lp.apps.create('pub', { tokens: ['app'] });
      for (let i = 0; i < 100; i++) lp.publish('pub', { source: 'app', dyno: 'web.1', msg: `line ${i}` });
      const lines = await until('the drop announced', async () => {
        const h = await lp.history('pub', { num: 1500 });
        return h.some((l) => String(l.msg).includes('Rate limit exceeded')) ? h : null;
      }, 10_000);
      assert.equal(lines.filter((l) => /^line \d+$/.test(String(l.msg))).length, 20);
      assert.match(String(lines.find((l) => String(l.msg).includes('Rate limit'))!.msg), /^Rate limit exceeded: 80 messages dropped since \S+\.$/);
      const m = await (lp as unknown as { server: { ctx: { metrics: { registry: { render(): Promise<string> } } } } }).server.ctx.metrics.registry.render();
      assert.equal(sample(m, 'logplane_ingest_lines_total', { transport: 'publish' }), 20, 'accepted = routed');
      assert.equal(sample(m, 'logplane_ingest_dropped_total', { transport: 'publish', reason: 'rate_limited' }), 80);
    } finally {
      await lp.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
