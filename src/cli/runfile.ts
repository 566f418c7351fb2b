// <dataDir>/server.json: how a local CLI finds a running `logplane serve`.
// Written atomically (mode 0600) once the listeners are bound, removed on a
// graceful stop. After a crash it stays behind; readers check its pid. In
// distributed mode it also holds the admin key (SPEC 12: readable by the
// local CLI in the data dir), which lives in Redis.
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface RunFile {
  version: 1;
  /** The public base URL (LOGPLANE_PUBLIC_URL or http://<host>:<port>). */
  url: string;
  /** A URL that reaches this process from the same machine (what the CLI uses). */
  localUrl: string;
  pid: number;
  startedAt: string;
  ports: { http: number; syslog: number | null; udp: number | null; tls: number | null };
  /** Distributed mode: the admin key (kept in Redis; here for the local CLI, as config.json holds it in embedded mode). */
  apiKey?: string;
}

export function runFilePath(dataDir: string): string {
  return join(dataDir, 'server.json');
}

export async function writeRunFile(dataDir: string, info: Omit<RunFile, 'version'>): Promise<void> {
  // distributed mode keeps nothing else in the data dir, so it may not exist yet
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = runFilePath(dataDir);
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify({ version: 1, ...info }, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** The run file, or null when absent or unreadable. */
export async function readRunFile(dataDir: string): Promise<RunFile | null> {
  try {
    const data = JSON.parse(await readFile(runFilePath(dataDir), 'utf8')) as Partial<RunFile>;
    if (typeof data.url !== 'string' || typeof data.pid !== 'number') return null;
    return {
      version: 1,
      url: data.url,
      localUrl: typeof data.localUrl === 'string' ? data.localUrl : data.url,
      pid: data.pid,
      startedAt: data.startedAt ?? '',
      ports: data.ports ?? { http: 0, syslog: null, udp: null, tls: null },
      ...(typeof data.apiKey === 'string' && data.apiKey !== '' ? { apiKey: data.apiKey } : {}),
    };
  } catch {
    return null;
  }
}

/** Remove the run file if it is still ours (another server may have replaced it). */
export async function removeRunFile(dataDir: string, pid = process.pid): Promise<void> {
  const cur = await readRunFile(dataDir);
  if (cur && cur.pid !== pid) return;
  await unlink(runFilePath(dataDir)).catch(() => {});
}
