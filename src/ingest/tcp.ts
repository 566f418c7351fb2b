// Syslog over TCP (RFC 6587): octet-counted frames, or LF-terminated when a
// frame starts with `<`. No connection-level auth: the token is the credential.
import { createServer, type Server, type Socket } from 'node:net';
import type { Context } from '../context.js';
import { closeWhenIdle, type ListenerLimits } from './limits.js';
import type { IngestPool } from './pool.js';
import { IngestCounters, serveSyslogStream, type GarbageLog } from './syslog-conn.js';

/** Listen for syslog over TCP; streams are parsed by the ingest workers when there is a pool. */
export function startSyslogTcp(ctx: Context, port: number, host: string, pool: IngestPool | null, garbage: GarbageLog, limits: ListenerLimits | null = null): Promise<Server> {
  const counters = new IngestCounters(ctx, 'tcp');
  const server = createServer({ noDelay: true }, (sock) => {
    if (limits !== null && !limits.admit(sock)) return;
    closeWhenIdle(ctx, sock, 'tcp');
    if (pool) pool.attachStream(sock, 'tcp');
    else serveSyslogStream(ctx, sock, 'tcp', counters, garbage);
  });
  return listen(server, port, host);
}

/** Stop accepting and end every open connection. */
export function closeStreamServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const s of open.get(server) ?? []) s.destroy();
  });
}

const open = new WeakMap<Server, Set<Socket>>();

export function listen(server: Server, port: number, host: string): Promise<Server> {
  const socks = new Set<Socket>();
  open.set(server, socks);
  // 'connection' also for TLS: the raw socket, so that a client still in (or
  // stalled before) its handshake is ended by close() too.
  server.on('connection', (s: Socket) => {
    socks.add(s);
    s.once('close', () => socks.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
