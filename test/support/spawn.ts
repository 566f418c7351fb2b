// The BUILT program as child processes: `logplane serve` and CLI commands.
// Every child is tracked and killed by killAll() (call it in teardown);
// every wait is bounded.
import { QUIET_AUDIT } from './quiet-audit.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from './wait.js';

/** dist/src/cli/logplane.js, next to this compiled file's dist/test/support. */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/logplane.js');

const children = new Set<ChildProcess>();
/** Children that lead their own process group (runShell): killed with the group. */
const groups = new WeakSet<ChildProcess>();

/** process.env without LOGPLANE_* / REDIS_URL, so the host's settings never leak in. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LOGPLANE_') && k !== 'REDIS_URL') env[k] = v;
  return { ...env, NO_COLOR: '1', ...extra };
}



export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  dataDir: string;
  syslogPort: number | null;
  apiKey: string;
  auth: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Send a signal and wait (bounded) for the exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnServerOptions {
  /** Absolute data dir; passed as LOGPLANE_DATA_DIR unless cwd is given (then it must be <cwd>/.logplane). */
  dataDir: string;
  /** Run in this directory with no LOGPLANE_DATA_DIR (the default ./.logplane). */
  cwd?: string;
  syslogPort?: number;
  /** HTTP port; 0 (any free port) unless given. */
  port?: number;
  env?: Record<string, string>;
  /** A command the server runs under, e.g. ['prlimit', '--nofile=1024:1024', '--']. */
  prefix?: string[];
}

/** Start `logplane serve --port 0` and wait until its server.json names its pid. */
export async function spawnServer(opts: SpawnServerOptions): Promise<ServerProcess> {
  const env = cleanEnv({ LOGPLANE_LOG_LEVEL: 'warn', LOGPLANE_SYSLOG_PORT: String(opts.syslogPort ?? 0), ...QUIET_AUDIT, ...opts.env });
  if (!opts.cwd) env['LOGPLANE_DATA_DIR'] = opts.dataDir;
  const argv = [process.execPath, CLI, 'serve', '--port', String(opts.port ?? 0)];
  const [cmd, ...args] = [...(opts.prefix ?? []), ...argv];
  const child = spawn(cmd!, args, { env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      res({ code, signal });
    });
  });
  let gone = false;
  void exited.then(() => (gone = true));
  const runFile = join(opts.dataDir, 'server.json');
  const run = await until(`server.json of pid ${child.pid}`, () => {
    if (gone) throw new Error(`logplane serve exited early: ${err || out}`);
    if (!existsSync(runFile)) return null;
    try {
      const r = JSON.parse(readFileSync(runFile, 'utf8')) as { localUrl: string; pid: number; ports: { syslog: number | null }; apiKey?: string };
      return r.pid === child.pid ? r : null;
    } catch {
      return null;
    }
  });
  // distributed mode keeps a generated key in Redis and in server.json
  const apiKey = opts.env?.['LOGPLANE_API_KEY'] ?? run.apiKey ?? (JSON.parse(readFileSync(join(opts.dataDir, 'config.json'), 'utf8')) as { apiKey: string }).apiKey;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000) => {
    if (!gone) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    child,
    pid: child.pid!,
    url: run.localUrl,
    dataDir: opts.dataDir,
    syslogPort: run.ports.syslog,
    apiKey,
    auth: `Bearer ${apiKey}`,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop,
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the built CLI with this env and stdin; killed after timeoutMs. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { env: opts.env ?? cleanEnv(), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin!.on('error', () => {});
  child.stdin!.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
  return new Promise((res) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      res({ code, stdout, stderr });
    });
  });
}

/** Start the built CLI and hand back the child (to signal it) and its end; killed after timeoutMs. */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): { child: ChildProcess; done: Promise<CliResult & { signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((res) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      res({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

/** The clone this build belongs to (dist/src/cli/logplane.js is three levels below). */
export const REPO = resolve(dirname(CLI), '../../..');

/**
 * Run a bash script as a user's shell would (`bash -e -o pipefail`), with
 * this env and cwd; killed after timeoutMs. The script runs in its own
 * process group (detached), so a caller may signal the whole group.
 */
export function runShell(script: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number; onStdout?: (text: string, child: ChildProcess) => void } = {}): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { env: opts.env ?? cleanEnv(), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  children.add(child);
  groups.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
    opts.onStdout?.(stdout, child);
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin!.on('error', () => {});
  child.stdin!.end(opts.input ?? '');
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(kill, opts.timeoutMs ?? 30_000);
  return new Promise((res) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      res({ code, signal, stdout, stderr });
    });
  });
}

/** Kill every child still running (teardown). */
export async function killAll(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      waits.push(new Promise((r) => c.once('exit', r)));
      if (groups.has(c)) {
        try {
          process.kill(-c.pid!, 'SIGKILL');
        } catch {
          c.kill('SIGKILL');
        }
      } else c.kill('SIGKILL');
    }
  }
  children.clear();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(waits), new Promise((r) => (timer = setTimeout(r, 5000)))]);
  clearTimeout(timer);
}
