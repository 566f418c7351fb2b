// A real redis-server from Debian, started on a free loopback port with a temp
// dir, for one test file. Stopped (and its dir removed) by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stablePort } from './net.js';

export interface TestRedis {
  url: string;
  port: number;
  /** Stop the server (SIGKILL when `hard`), keeping the port for restart(). */
  stop(opts?: { hard?: boolean }): Promise<void>;
  /** Start it again on the same port (after stop()). */
  restart(): Promise<void>;
  /** Stop for good and remove the data dir. */
  close(): Promise<void>;
}


function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    let buf = '';
    c.setTimeout(500, () => {
      c.destroy();
      resolve(false);
    });
    c.on('connect', () => c.write('PING\r\n'));
    c.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        c.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
    c.on('error', () => resolve(false));
  });
}

export interface StartRedisOptions {
  /** Keep the data across stop()/restart() (append-only file, fsync every second), as production should. */
  persist?: boolean;
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'logplane-redis-'));
  const port = await stablePort();
  let child: ChildProcess | null = null;
  const persistence = opts.persist ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no'];

  const launch = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...persistence, '--protected-mode', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
    child.once('error', () => {});
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not start on port ${port} (is the redis-server package installed?)`);
  };
  const halt = async (hard = false): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: (opts) => halt(opts?.hard),
    restart: launch,
    async close() {
      await halt(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
