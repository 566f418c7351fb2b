// Runs the README's shell examples the way a user would, and prints a JSON
// report (one object per block) as its last stdout line. Meant to run inside
// a loopback-only network namespace (test/support/netns.ts), where the
// defaults the README uses (HTTP 127.0.0.1:8601, syslog 6001) are free and
// nothing can leave the machine (the README's drain points at a third-party
// host). The server runs from the clone like `npm start`, with its data dir
// given as LOGPLANE_DATA_DIR in the users' environment.
//
// Usage: node dist/test/support/readme-netns.js WORKDIR
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseHistory } from '../../src/cli/logs.js';
import { readReadme } from './readme.js';
import { REPO, cleanEnv, killAll, runShell, spawnServer, type ServerProcess } from './spawn.js';
import { until } from './wait.js';

export interface BlockReport {
  line: number;
  script: string;
  skip: string | null;
  code: number | null;
  signal: string | null;
  /** The block runs until Ctrl-C and got it. */
  interrupted: boolean;
  stdout: string;
  stderr: string;
  /** `arrives` messages not found in the history. */
  missing: string[];
}

async function history(srv: ServerProcess, app: string): Promise<string[]> {
  const res = await fetch(`${srv.url}/v3/channels/${encodeURIComponent(app)}/logs?num=100000`, { headers: { authorization: srv.auth }, signal: AbortSignal.timeout(5000) });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return [];
  return parseHistory(body).map((l) => l.msg.toString('utf8'));
}

async function main(work: string): Promise<void> {
  const dataDir = join(work, 'data');
  const home = join(work, 'home');
  mkdirSync(home, { recursive: true });
  const blocks = readReadme(REPO);
  const srv = await spawnServer({ dataDir, cwd: REPO, port: 8601, syslogPort: 6001, env: { LOGPLANE_DATA_DIR: dataDir } });
  const env = cleanEnv({ LOGPLANE_DATA_DIR: dataDir, HOME: home });
  const reports: BlockReport[] = [];
  try {
    for (const b of blocks) {
      const r: BlockReport = { line: b.line, script: b.script, skip: b.skip, code: null, signal: null, interrupted: false, stdout: '', stderr: '', missing: [] };
      reports.push(r);
      if (b.skip !== null) continue;
      let interrupted = false;
      const res = await runShell(b.script, {
        cwd: REPO,
        env,
        timeoutMs: 60_000,
        onStdout: b.interrupt
          ? (text, child) => {
              // a person presses Ctrl-C once the tail shows something
              if (!interrupted && text.includes('\n')) {
                interrupted = true;
                process.kill(-child.pid!, 'SIGINT');
              }
            }
          : undefined,
      });
      Object.assign(r, { code: res.code, signal: res.signal, interrupted, stdout: res.stdout, stderr: res.stderr });
      for (const a of b.arrives) {
        const found = await until(`"${a.message}" in ${a.app}`, async () => (await history(srv, a.app)).some((m) => m.includes(a.message)), 10_000).catch(() => false);
        if (!found) r.missing.push(`${a.app}: ${a.message}`);
      }
    }
  } finally {
    await srv.stop('SIGTERM');
    await killAll();
  }
  process.stdout.write(`${JSON.stringify(reports)}\n`);
}

main(process.argv[2]!).catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
