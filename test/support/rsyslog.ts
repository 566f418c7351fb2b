// Debian's rsyslogd as a syslog drain endpoint: imtcp (octet-counted) on a
// loopback port, writing each message as received (%rawmsg%) to a file, one
// per line. `top` is put first in rsyslog.conf (e.g. a global(...) line). It
// can be stopped and started again on the same port (a daemon restart).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool } from './deps.js';
import { stablePort } from './net.js';
import { until } from './wait.js';

export const RSYSLOGD = findTool('rsyslogd');

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

export class Rsyslog {
  readonly dir: string;
  readonly port: number;
  readonly out: string;
  #proc: ChildProcess | null = null;
  #stderr = '';

  constructor(port: number, top = '') {
    if (!RSYSLOGD) throw new Error('rsyslogd is not installed (apt-get install rsyslog)');
    this.port = port;
    this.dir = mkdtempSync(join(tmpdir(), 'logplane-rsyslog-'));
    this.out = join(this.dir, 'out.log');
    // %rawmsg% is the message as received (rsyslog drops the trailing LF on reception)
    writeFileSync(join(this.dir, 'rsyslog.conf'), `${top}
global(workDirectory="${this.dir}")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="drain") {
  action(type="omfile" file="${this.out}" template="raw" flushOnTXEnd="on" asyncWriting="off")
}
input(type="imtcp" port="${port}" address="127.0.0.1" ruleset="drain")
`);
  }

  /** Start the daemon and wait (bounded) until it listens. */
  async start(): Promise<void> {
    const p = spawn(RSYSLOGD!, ['-n', '-f', join(this.dir, 'rsyslog.conf'), '-i', join(this.dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.#proc = p;
    await until('rsyslogd listening', async () => {
      if (p.exitCode !== null) throw new Error(`rsyslogd exited: ${this.#stderr}`);
      return canConnect(this.port);
    }, 30_000, 50);
  }

  /** Stop the daemon (the port and the file stay for start()). */
  async stop(): Promise<void> {
    const p = this.#proc;
    this.#proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  /** Messages written so far. */
  lines(): string[] {
    if (!existsSync(this.out)) return [];
    const text = readFileSync(this.out, 'utf8');
    return text === '' ? [] : text.slice(0, -1).split('\n');
  }

  stderr(): string {
    return this.#stderr;
  }

  /** Stop for good and remove the files. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A started rsyslogd on a free port. */
export async function startRsyslog(top = ''): Promise<Rsyslog> {
  const rs = new Rsyslog(await stablePort(), top);
  try {
    await rs.start();
  } catch (err) {
    await rs.close();
    throw err;
  }
  return rs;
}
