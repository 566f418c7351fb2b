// Debian's rsyslogd as a syslog drain endpoint: imtcp (octet-counted) on a
// loopback port, writing each message as received (%rawmsg%) to a file, one
// per line. `top` is put first in rsyslog.conf (e.g. a global(...) line).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';


export const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p)) ?? null;

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

export interface Rsyslog {
  port: number;
  /** Messages written so far. */
  lines(): string[];
  stderr(): string;
  close(): Promise<void>;
}

export async function startRsyslog(top = ''): Promise<Rsyslog> {
  if (!RSYSLOGD) throw new Error('rsyslogd is not installed (apt-get install rsyslog)');
  const dir = mkdtempSync(join(tmpdir(), 'logplane-rsyslog-'));
  const out = join(dir, 'out.log');
  const port = await freePort();
  writeFileSync(join(dir, 'rsyslog.conf'), `${top}
global(workDirectory="${dir}")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="drain") {
  action(type="omfile" file="${out}" template="raw" flushOnTXEnd="on" asyncWriting="off")
}
input(type="imtcp" port="${port}" address="127.0.0.1" ruleset="drain")
`);
  const p: ChildProcess = spawn(RSYSLOGD, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const close = async () => {
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (p.exitCode !== null || Date.now() > deadline) {
      await close();
      throw new Error(`rsyslogd did not listen: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    lines: () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').slice(0, -1) : []),
    stderr: () => err,
    close,
  };
}
