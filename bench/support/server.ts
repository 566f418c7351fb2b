// The BUILT server (`node dist/src/cli/logplane.js serve`) as a child process,
// provisioned before it starts by writing <dataDir>/config.json in the
// FileStore format, on free loopback ports, with a known admin key.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppRecord } from '../../src/store/store.js';

/** dist/src/cli/logplane.js, from dist/bench/support/server.js. */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'logplane.js');

/** A loopback port free for TCP (and for UDP too when both is set: the syslog port serves both). */
export async function freePort(both = false): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (!both) return port;
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port found');
}

/** Servers still running, killed if the runner exits or is interrupted mid-case. */
const live = new Set<() => void>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const k of live) k();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`bench: ${sig}, stopping\n`);
      process.exit(130);
    });
  }
}

/** Registers a child's cleanup, run if the runner exits mid-case; returns the function that unregisters it. */
export function trackChild(kill: () => void): () => void {
  hookExit();
  live.add(kill);
  return () => {
    live.delete(kill);
  };
}

export interface SpawnedServer {
  proc: ChildProcess;
  pid: number;
  url: string;
  syslogPort: number;
  apiKey: string;
  dataDir: string;
  /** SIGKILL (a bench does not need the graceful save of rings) and remove the data dir. */
  kill(): Promise<void>;
  /**
   * SIGTERM and wait for the graceful exit (what `--cpu-prof` needs to write
   * its profile), SIGKILL after timeoutMs; then remove the data dir. Resolves
   * to the exit code (null when it had to be killed).
   */
  stop(timeoutMs?: number): Promise<number | null>;
}

export interface SpawnOptions {
  apps: AppRecord[];
  /** Extra environment for the server (defaults: the runner's environment). */
  env?: Record<string, string>;
  /** Node flags before the script, e.g. ['--cpu-prof', '--cpu-prof-dir', dir]. */
  nodeArgs?: string[];
  startTimeoutMs?: number;
}

export async function spawnServer(opts: SpawnOptions): Promise<SpawnedServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-bench-'));
  const apiKey = randomBytes(24).toString('base64url');
  writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ version: 1, apiKey, apps: opts.apps }), { mode: 0o600 });
  const port = await freePort();
  const syslogPort = await freePort(true);
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), CLI, 'serve'], {
    env: {
      ...process.env,
      LOGPLANE_DATA_DIR: dataDir,
      LOGPLANE_HOST: '127.0.0.1',
      LOGPLANE_PORT: String(port),
      LOGPLANE_SYSLOG_PORT: String(syslogPort),
      LOGPLANE_LOG_LEVEL: 'warn',
      LOGPLANE_API_KEY: apiKey,
      // the benches set up drains with the admin key and compare the lines drains get with the lines sent
      LOGPLANE_AUDIT_ADMIN_KEY: '0',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
  });
  let exited = false;
  let exitCode: number | null = null;
  const exit = new Promise<void>((resolve) => proc.once('exit', (code) => {
    exited = true;
    exitCode = code;
    resolve();
  }));
  const killNow = (): void => {
    if (!exited) proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  hookExit();
  live.add(killNow);
  const kill = async (): Promise<void> => {
    live.delete(killNow);
    if (!exited) {
      proc.kill('SIGKILL');
      await exit;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const stop = async (timeoutMs = 30_000): Promise<number | null> => {
    live.delete(killNow);
    if (!exited) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
    return exitCode;
  };
  try {
    // `logplane serve` prints its banner once every listener is bound.
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`server did not start within ${opts.startTimeoutMs ?? 20_000} ms`)), opts.startTimeoutMs ?? 20_000);
      proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        if (out.includes('logplane is serving')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server exited during start (code ${code}, signal ${signal}): ${stderr.trim().slice(-2000)}`));
      });
    });
    proc.stdout!.resume();
  } catch (err) {
    await kill();
    throw err;
  }
  return { proc, pid: proc.pid!, url: `http://127.0.0.1:${port}`, syslogPort, apiKey, dataDir, kill, stop };
}

/** GET /metrics as a map `name{labels}` -> value. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** Sum of every sample of one metric name (all label sets). */
export function sumOf(samples: Map<string, number>, name: string): number {
  let n = 0;
  for (const [k, v] of samples) if (k === name || k.startsWith(`${name}{`)) n += v;
  return n;
}
