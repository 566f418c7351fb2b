// Start a real logplane on free loopback ports with a fresh data dir.
import { QUIET_AUDIT } from './quiet-audit.js';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { loadConfig, type Config } from '../../src/config.js';
import { silentLog, type Log } from '../../src/obs/log.js';
import { Server } from '../../src/server.js';
import { FileStore } from '../../src/store/file.js';
import type { ConfigStore, StoreSnapshot } from '../../src/store/store.js';

export interface TestServer {
  server: Server;
  /** http://127.0.0.1:<port> */
  url: string;
  apiKey: string;
  dataDir: string;
  config: Config;
  /** Authorization header value for the admin API. */
  auth: string;
  /** Graceful close; removes the data dir unless keepData. */
  close(opts?: { keepData?: boolean }): Promise<void>;
}

/** Servers not closed by their test (it failed before its close): closed when the file ends. */
const running = new Set<TestServer>();
after(async () => {
  await Promise.all([...running].map((t) => t.close().catch(() => {})));
});

export function tempDir(prefix = 'logplane-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Temp dirs made as a test file needs them (make) and removed together at its end (removeAll). */
export function tempDirs(prefix: string): { make(): string; removeAll(): void } {
  const made: string[] = [];
  return {
    make: () => {
      const d = tempDir(prefix);
      made.push(d);
      return d;
    },
    removeAll: () => {
      for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** What an embedded server's data dir holds (snapshot and journal), read from a copy: the server's files are left alone. */
export async function storedConfig(dataDir: string): Promise<StoreSnapshot> {
  const copy = tempDir('logplane-stored-');
  try {
    for (const f of ['config.json', 'config.journal']) if (existsSync(join(dataDir, f))) copyFileSync(join(dataDir, f), join(copy, f));
    return await new FileStore(copy).load();
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/** opts.log: the server's own log (default: silent); opts.store: a config store instead of the file store; opts.adminAudit: the default audit of admin-key changes (quiet-audit.ts). */
export async function startServer(env: Record<string, string> = {}, opts: { dataDir?: string; store?: ConfigStore; log?: Log; adminAudit?: boolean } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const config = loadConfig([], { LOGPLANE_PORT: '0', LOGPLANE_DATA_DIR: dataDir, LOGPLANE_LOG_LEVEL: 'silent', ...(opts.adminAudit === true ? {} : QUIET_AUDIT), ...env });
  const server = await Server.start(config, { log: opts.log ?? silentLog(), anyFreeSyslogPorts: true, ...(opts.store ? { store: opts.store } : {}) });
  const ts: TestServer = {
    server,
    url: server.url,
    apiKey: server.apiKey,
    dataDir,
    config,
    auth: `Bearer ${server.apiKey}`,
    async close(o = {}) {
      running.delete(ts);
      await server.close();
      if (!o.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  running.add(ts);
  return ts;
}
