// A loopback-only network namespace (unshare -rn, then `ip link set lo up`)
// for tests that need the fixed default ports (8601, 6001) free, or that must
// be sure nothing leaves the machine. Needs user namespaces (root, or a
// kernel that allows them), as the heroku CLI test does. The command is also
// pid 1 of its own pid namespace: when it ends, or unshare is killed
// (--kill-child), every process it started ends with it.
import { spawn } from 'node:child_process';
import type { CliResult } from './spawn.js';

/**
 * Run `command args...` in a fresh namespace with only a loopback interface;
 * killed after timeoutMs.
 */
export function runInNetns(command: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn('unshare', ['-rn', '--pid', '--fork', '--kill-child', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', command, ...args], { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  return new Promise((res) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      res({ code: 127, stdout, stderr: `${stderr}${err.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

/** Run a bash script (`bash -e -o pipefail`) in such a namespace. */
export function runShellInNetns(script: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return runInNetns('bash', ['-e', '-o', 'pipefail', '-c', script], opts);
}
