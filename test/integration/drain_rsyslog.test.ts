// A syslog drain against a real syslog daemon from Debian: rsyslogd with imtcp
// (octet-counted framing) on a loopback port, writing each raw message to a
// file. Lines enter through logplane's own syslog TCP ingest; every line must
// arrive once and intact, including after the daemon restarts.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDrainServer } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';
import { freePort } from '../support/net.js';

const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p));


function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

class Rsyslog {
  readonly dir: string;
  readonly port: number;
  readonly out: string;
  #proc: ChildProcess | null = null;
  stderr = '';

  constructor(port: number) {
    this.port = port;
    this.dir = mkdtempSync(join(tmpdir(), 'logplane-rsyslog-'));
    this.out = join(this.dir, 'out.log');
    // %rawmsg% is the message as received (rsyslog drops the trailing LF on reception)
    writeFileSync(join(this.dir, 'rsyslog.conf'), `
global(workDirectory="${this.dir}" maxMessageSize="64k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="drain") {
  action(type="omfile" file="${this.out}" template="raw" flushOnTXEnd="on" asyncWriting="off")
}
input(type="imtcp" port="${port}" address="127.0.0.1" ruleset="drain")
`);
  }

  async start(): Promise<void> {
    const p = spawn(RSYSLOGD!, ['-n', '-f', join(this.dir, 'rsyslog.conf'), '-i', join(this.dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.#proc = p;
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.port))) {
      if (p.exitCode !== null) throw new Error(`rsyslogd exited: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`rsyslogd did not listen: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const p = this.#proc;
    this.#proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  lines(): string[] {
    if (!existsSync(this.out)) return [];
    const text = readFileSync(this.out, 'utf8');
    return text === '' ? [] : text.slice(0, -1).split('\n');
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const TS = '2024-05-06T07:08:09.123456+00:00';

/** One message per line number: short, UTF-8, and a few long ones (9,000 bytes). */
function message(i: number): string {
  if (i % 500 === 3) return `line ${i} ${'L'.repeat(9000)}`;
  if (i % 7 === 0) return `line ${i} héllo wörld → ✓ "quoted" [brackets] {json: 1}`;
  return `line ${i} GET /path?q=${i} status=200 bytes=${i * 13}`;
}

test('syslog drain into a real rsyslogd (imtcp, octet-counted): every line once, intact, across a daemon restart', { skip: RSYSLOGD ? false : 'rsyslogd not installed (apt-get install rsyslog)' }, async () => {
  const rs = new Rsyslog(await freePort());
  await rs.start();
  const t = await startDrainServer({ LOGPLANE_DRAIN_QUEUE_BYTES: String(32 << 20), LOGPLANE_DRAIN_RETRIES: '50' });
  try {
    const { app } = await t.server.ctx.registry.putApp('rs', ['app']);
    const token = app.record.tokens[0]!.token;
    const res = await t.api('POST', '/v3/channels/rs/drains', { url: `syslog://127.0.0.1:${rs.port}` });
    assert.equal(res.status, 201, res.text);
    const drainToken = (res.json as { token: string }).token;
    const drainId = (res.json as { id: string }).id;

    // ingest through logplane's syslog TCP listener
    const ingest = connect({ host: '127.0.0.1', port: t.server.ports.syslog! });
    await new Promise<void>((r) => ingest.once('connect', () => r()));
    const sendLines = async (from: number, to: number) => {
      for (let i = from; i < to; i += 200) {
        const parts: Buffer[] = [];
        for (let j = i; j < Math.min(to, i + 200); j++) {
          const m = Buffer.from(`<190>1 ${TS} host ${token} web.1 - - ${message(j)}`, 'utf8');
          parts.push(Buffer.from(`${m.length} `), m);
        }
        if (!ingest.write(Buffer.concat(parts))) await new Promise((r) => ingest.once('drain', r));
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
    await until('refused while down', () => t.server.drains.list('rs')[0]!.status.lastError?.errno === 'ECONNREFUSED');
    await rs.start();
    await until('6000 lines in rsyslog', () => rs.lines().length >= 6000, 20_000);
    ingest.destroy();

    const got = rs.lines();
    assert.equal(got.length, 6000);
    for (let i = 0; i < 6000; i++) {
      if (got[i] !== expected(i)) assert.equal(got[i]!.slice(0, 200), expected(i).slice(0, 200), `line ${i}`);
    }
    const s = t.server.drains.list('rs')[0]!.status;
    assert.equal(s.delivered, 6000);
    assert.equal(s.dropped, 0);
    assert.equal(s.state, 'idle');
  } finally {
    await t.close();
    await rs.stop();
    if (rs.stderr.trim() !== '') process.stderr.write(`rsyslogd: ${rs.stderr}\n`);
    rs.cleanup();
  }
});
