// Process entry for `logplane serve`: load config, start, stop on SIGTERM.
import { defaults, hostPort, loadConfig, publicBaseUrl, sessionUrlsLocalOnly, settings, type Config } from '../config.js';
import { join, resolve } from 'node:path';
import { cliCommand, shellQuote } from './invocation.js';
import { removeRunFile, runFilePath, writeRunFile } from './runfile.js';
import { ConfigError } from '../errors.js';
import { createLogplane, serverOf } from '../logplane.js';
import { createLog } from '../obs/log.js';
import { stopBoundMs, type Server } from '../server.js';
import { redactUrl } from '../cluster/cluster.js';
import { adminKeyPath } from '../cluster/admin-key.js';
import { startHeapTuner } from '../basics/heap-tuner.js';

/** The config as createLogplane's settings: every value that is not the default, by its environment name. */
function settingsOf(config: Config): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const s of settings) {
    const v = config[s.key];
    if (v !== null && v !== defaults[s.key]) out[s.env] = v;
  }
  return out;
}

/** ioredis' messages for a command that a dropped or closed connection never answered. */
const REDIS_DROPPED = /^(Connection is closed\.|Stream isn't writeable)/;

export async function serve(argv: readonly string[]): Promise<void> {
  let config;
  try {
    config = loadConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`logplane: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // the process is ours: V8's heap is tuned for a small heap under a steady request stream (basics/heap-tuner.ts)
  const heap = startHeapTuner(config.heapHeadroomMb);
  let server: Server;
  try {
    // the same service a platform embeds: `serve` is a user of the library entry
    server = serverOf(await createLogplane({ settings: settingsOf(config), logger: createLog(config.logLevel) }));
  } catch (err) {
    process.stderr.write(`logplane: cannot start: ${(err as Error).message}\n`);
    // a setting checked only when used (the TLS files) is a bad setting too: 2, as loadConfig's
    process.exit(err instanceof ConfigError ? 2 : 1);
  }
  const p = server.ports;
  server.ctx.log.info({ at: 'heap.tuned', headroomMb: config.heapHeadroomMb, growingPercent: heap.percent }, 'V8 heap growing factor set (LOGPLANE_HEAP_HEADROOM_MB; 0 = V8 default)');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.ctx.log.info({ at: 'server.stopping', signal }, 'stopping');
    const timer = setTimeout(() => {
      server.ctx.log.error({ at: 'server.stop_timeout' }, 'graceful stop took too long; exiting');
      process.exit(1);
    }, stopBoundMs(config));
    timer.unref();
    heap.stop();
    server.close().then(
      () => 0,
      (err: Error) => {
        server.ctx.log.error({ at: 'server.stop_failed', err: err.message }, 'stop failed');
        return 1;
      },
    ).then(async (code) => {
      await removeRunFile(config.dataDir);
      process.exit(code || (process.exitCode ?? 0));
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A last resort: the library handles the error of every command on its Redis connections, those
  // ioredis sends on its own included (redis/connection.ts), and does not rely on this. Should one
  // still go unhandled (a defect, say in a new ioredis), a command a dropped Redis connection never
  // answered is an outage this node rides out: logged, and the node serves on. Any other unhandled
  // rejection is a defect too: logged, then a graceful stop.
  process.on('unhandledRejection', (reason) => {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    if (REDIS_DROPPED.test(err.message)) {
      server.ctx.log.warn({ at: 'redis.dropped_command', err: err.message }, 'a Redis connection dropped under a command nobody waited for');
      return;
    }
    server.ctx.log.error({ at: 'server.unhandled_rejection', err: err.message }, 'unhandled rejection; stopping');
    process.exitCode = 1;
    stop('unhandledRejection');
  });
  // server.json lets a local `logplane` CLI find this process without flags.
  try {
    await writeRunFile(config.dataDir, {
      url: server.url,
      localUrl: publicBaseUrl({ ...config, publicUrl: null }, p.http),
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ports: { ...p },
      ...(server.cluster && server.apiKey !== '' ? { apiKey: server.apiKey } : {}),
    });
  } catch (err) {
    server.ctx.log.warn({ at: 'server.runfile_failed', path: runFilePath(config.dataDir), err: (err as Error).message }, 'could not write server.json; the CLI will need LOGPLANE_URL');
  }
  const dataDir = resolve(config.dataDir);
  const mode = server.cluster ? `distributed mode, node ${server.cluster.nodeId}, Redis ${redactUrl(config.redisUrl ?? '')}` : `embedded mode, data in ${dataDir}`;
  const lines = [
    `logplane is serving (${mode})`,
    `  API, ingest, sessions:  ${server.url}`,
    `  web console:            ${server.url}/`,
    `  health / metrics:       ${server.url}/healthz  ${server.url}/metrics`,
  ];
  if (p.syslog !== null) lines.push(`  syslog TCP + UDP:       ${hostPort(config.host, p.syslog)}`);
  if (p.tls !== null) lines.push(`  syslog TLS:             ${hostPort(config.host, p.tls)}`);
  if (sessionUrlsLocalOnly(config)) {
    lines.push(`  note: listening on all interfaces, but session URLs (heroku logs, logs -t) point at ${server.url}, which only this machine reaches; set LOGPLANE_PUBLIC_URL (--public-url) to the URL other hosts use`);
  }
  // Where the admin key is kept, on every start; the key itself only when it was just made.
  const cli = cliCommand();
  // distributed mode: Redis keeps only the key's SHA-256 (SPEC 12); this node's copy is in server.json while it runs
  const runFile = runFilePath(dataDir);
  const keyHome = !server.cluster
    ? join(dataDir, 'config.json')
    : server.generatedKey
      ? `${adminKeyPath(dataDir)} and, while this node runs, ${runFile} (Redis keeps only its SHA-256)`
      : `${runFile} while this node runs (Redis keeps only its SHA-256)`;
  const ownDir = dataDir === resolve('.logplane');
  const again = `print it with: ${cli} config:key${ownDir ? '' : ` --data-dir ${shellQuote(dataDir)}`}`;
  if (server.generatedKey) lines.push(`  admin API key:          ${server.apiKey}  (shown this once; kept in ${keyHome}; ${again})`);
  else if (server.apiKey === '') lines.push('  admin API key:          not known on this node (Redis keeps only its SHA-256); set LOGPLANE_API_KEY to it for the local CLI');
  else lines.push(`  admin API key:          kept in ${keyHome}; ${again}`);
  // Commands that run as printed in the server's directory (docs/api.md, "The start message").
  lines.push(`  try it from another terminal, in ${process.cwd()}:`);
  if (!ownDir) lines.push(`    export LOGPLANE_DATA_DIR=${shellQuote(dataDir)}`);
  lines.push(`    ${cli} apps:create myapp`, `    echo hello | ${cli} send -a myapp`, `    ${cli} logs -a myapp`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
