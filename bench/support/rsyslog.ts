// Debian's rsyslogd as the reference syslog server: a child process in the
// foreground (`-n`) with its own config, work dir and pid file in a temp dir.
// One imptcp input on a free loopback port with octet-counted framing, bound
// to its own ruleset whose only action is omfile writing every message's raw
// text plus LF to <dir>/out.log; rsyslogd's own messages go to the default
// ruleset, which has no action, so the file holds exactly the lines received.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, trackChild } from './server.js';

/** The rsyslogd binary (`RSYSLOGD` overrides; scripts/deps.sh installs Debian's). */
export const RSYSLOGD = process.env.RSYSLOGD ?? '/usr/sbin/rsyslogd';

export interface SpawnedRsyslog {
  proc: ChildProcess;
  pid: number;
  port: number;
  /** The omfile output: one `<raw message>\n` per line received. */
  outFile: string;
  /** Bytes written to outFile so far (0 before the first write). */
  outBytes(): number;
  /** Number of LF bytes in outFile (reads the whole file: for the final check, not for polling). */
  countLines(): number;
  /** SIGTERM, SIGKILL after a bound, remove the temp dir. */
  stop(): Promise<void>;
}

export function rsyslogAvailable(): boolean {
  return existsSync(RSYSLOGD);
}

/** `rsyslogd  8.2302.0 (aka 2023.02)` → `8.2302.0`, or null. */
export function rsyslogVersion(): string | null {
  try {
    const out = execFileSync(RSYSLOGD, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /rsyslogd\s+(\S+)/.exec(out)?.[1] ?? null;
  } catch {
    return null;
  }
}

export function rsyslogConfig(dir: string, port: number, outFile: string): string {
  return [
    `global(workDirectory="${dir}")`,
    'module(load="imptcp")',
    'template(name="bench_raw" type="string" string="%rawmsg%\\n")',
    'ruleset(name="bench") {',
    `  action(type="omfile" file="${outFile}" template="bench_raw")`,
    '}',
    `input(type="imptcp" port="${port}" address="127.0.0.1" supportOctetCountedFraming="on" ruleset="bench")`,
    '',
  ].join('\n');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function spawnRsyslog(startTimeoutMs = 10_000): Promise<SpawnedRsyslog> {
  if (!rsyslogAvailable()) throw new Error(`${RSYSLOGD} not found (scripts/deps.sh installs rsyslog)`);
  const dir = mkdtempSync(join(tmpdir(), 'logplane-bench-rsyslog-'));
  const port = await freePort();
  const outFile = join(dir, 'out.log');
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(conf, rsyslogConfig(dir, port, outFile));
  const proc = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (s: string): void => {
    output += s;
    if (output.length > 16 * 1024) output = output.slice(-8 * 1024);
  };
  proc.stdout!.setEncoding('utf8').on('data', keep);
  proc.stderr!.setEncoding('utf8').on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => proc.once('exit', () => {
    exited = true;
    resolve();
  }));
  const untrack = trackChild(() => {
    if (!exited) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const stop = async (): Promise<void> => {
    untrack();
    if (!exited) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready once the input accepts connections.
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`rsyslogd exited during start: ${output.trim().slice(-2000)}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`rsyslogd did not listen on ${port} within ${startTimeoutMs} ms: ${output.trim().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const outBytes = (): number => {
    try {
      return statSync(outFile).size;
    } catch {
      return 0;
    }
  };
  const countLines = (): number => {
    if (!existsSync(outFile)) return 0;
    const fd = openSync(outFile, 'r');
    const chunk = Buffer.allocUnsafe(1 << 20);
    let n = 0;
    try {
      for (;;) {
        const got = readSync(fd, chunk, 0, chunk.length, null);
        if (got === 0) break;
        let i = chunk.indexOf(0x0a);
        while (i !== -1 && i < got) {
          n++;
          i = chunk.indexOf(0x0a, i + 1);
        }
      }
    } finally {
      closeSync(fd);
    }
    return n;
  };
  return { proc, pid: proc.pid!, port, outFile, outBytes, countLines, stop };
}
