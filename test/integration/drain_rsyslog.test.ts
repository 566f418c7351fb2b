// A syslog drain against a real syslog daemon from Debian: rsyslogd with imtcp
// (octet-counted framing) on a loopback port, writing each raw message to a
// file. Lines enter through logplane's own syslog TCP ingest; every line must
// arrive once and intact, including after the daemon restarts.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { needs } from '../support/deps.js';
import { startDrainServer } from '../support/drain-receivers.js';
import { Rsyslog } from '../support/rsyslog.js';
import { until } from '../support/wait.js';
import { stablePort } from '../support/net.js';

const TS = '2024-05-06T07:08:09.123456+00:00';

/** One message per line number: short, UTF-8, and a few long ones (9,000 bytes). */
function message(i: number): string {
  if (i % 500 === 3) return `line ${i} ${'L'.repeat(9000)}`;
  if (i % 7 === 0) return `line ${i} héllo wörld → ✓ "quoted" [brackets] {json: 1}`;
  return `line ${i} GET /path?q=${i} status=200 bytes=${i * 13}`;
}

test('syslog drain into a real rsyslogd (imtcp, octet-counted): every line once, intact, across a daemon restart', { skip: needs('rsyslogd', 'rsyslog') }, async () => {
  // 9,000-byte lines: above rsyslog's default message size
  const rs = new Rsyslog(await stablePort(), 'global(maxMessageSize="64k")');
  await rs.start();
  let ingest: ReturnType<typeof connect> | null = null;
  const t = await startDrainServer({ LOGPLANE_DRAIN_QUEUE_BYTES: String(32 << 20), LOGPLANE_DRAIN_RETRIES: '50' });
  try {
    const { app } = await t.server.ctx.registry.putApp('rs', ['app']);
    const token = app.record.tokens[0]!.token;
    const res = await t.api('POST', '/v3/channels/rs/drains', { url: `syslog://127.0.0.1:${rs.port}` });
    assert.equal(res.status, 201, res.text);
    const drainToken = (res.json as { token: string }).token;
    const drainId = (res.json as { id: string }).id;

    // ingest through logplane's syslog TCP listener
    const sock = connect({ host: '127.0.0.1', port: t.server.ports.syslog! });
    ingest = sock;
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const sendLines = async (from: number, to: number) => {
      for (let i = from; i < to; i += 200) {
        const parts: Buffer[] = [];
        for (let j = i; j < Math.min(to, i + 200); j++) {
          const m = Buffer.from(`<190>1 ${TS} host ${token} web.1 - - ${message(j)}`, 'utf8');
          parts.push(Buffer.from(`${m.length} `), m);
        }
        if (!sock.write(Buffer.concat(parts))) await new Promise((r) => sock.once('drain', r));
      }
    };
    const expected = (i: number) => `<190>1 ${TS} ${drainToken} app web.1 - - ${message(i)}`;

    await sendLines(0, 5000);
    await until('5000 lines in rsyslog', () => rs.lines().length >= 5000, 20_000);

    // the daemon goes away; the drain notices, holds the lines, reconnects when it is back
    await rs.stop();
    const drain = t.server.drains.drain('rs', drainId) as unknown as { connected: boolean };
    await until('drain sees the daemon gone', () => !drain.connected);
    await sendLines(5000, 6000);
    await until('refused while down', async () => (await t.server.drains.list('rs'))[0]!.status.lastError?.errno === 'ECONNREFUSED');
    await rs.start();
    await until('6000 lines in rsyslog', () => rs.lines().length >= 6000, 20_000);
    sock.destroy();

    const got = rs.lines();
    assert.equal(got.length, 6000);
    for (let i = 0; i < 6000; i++) {
      const e = expected(i);
      const g = got[i]!;
      if (g !== e) {
        // the whole line is compared; the message shows where it differs (lines are up to 9,000 bytes)
        let k = 0;
        while (k < e.length && g[k] === e[k]) k++;
        assert.fail(`line ${i} (${e.length} chars) differs at char ${k}: got ${JSON.stringify(g.slice(k, k + 60))} (length ${g.length}), expected ${JSON.stringify(e.slice(k, k + 60))}`);
      }
    }
    const s = (await t.server.drains.list('rs'))[0]!.status;
    assert.equal(s.delivered, 6000);
    assert.equal(s.dropped, 0);
    assert.equal(s.state, 'idle');
  } finally {
    ingest?.destroy();
    await t.close();
    if (rs.stderr().trim() !== '') process.stderr.write(`rsyslogd: ${rs.stderr()}\n`);
    await rs.close();
  }
});
