// Syslog over TLS (RFC 5425): the same framing as TCP inside a TLS session.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:tls';
import type { Context } from '../context.js';
import { ConfigError } from '../errors.js';
import type { IngestPool } from './pool.js';
import { IngestCounters, serveSyslogStream, type GarbageLog } from './syslog-conn.js';
import { listen } from './tcp.js';

export function startSyslogTls(ctx: Context, port: number, host: string, certPath: string, keyPath: string, pool: IngestPool | null, garbage: GarbageLog): Promise<Server> {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certPath);
    key = readFileSync(keyPath);
  } catch (err) {
    throw new ConfigError([`cannot read TLS certificate or key: ${(err as Error).message}`]);
  }
  const counters = new IngestCounters(ctx, 'tls');
  const server = createServer({ cert, key, minVersion: 'TLSv1.2' }, (sock) => (pool ? pool.attachStream(sock, 'tls') : serveSyslogStream(ctx, sock, 'tls', counters, garbage)));
  server.on('tlsClientError', () => {
    ctx.metrics.connectionsClosed.labels('tls', 'handshake').value++;
  });
  return listen(server as unknown as import('node:net').Server, port, host) as unknown as Promise<Server>;
}
