// Syslog over TLS (RFC 5425): the same framing as TCP inside a TLS session.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:tls';
import type { Context } from '../context.js';
import { ConfigError } from '../errors.js';
import { closeWhenIdle, type ListenerLimits } from './limits.js';
import type { IngestPool } from './pool.js';
import { IngestCounters, serveSyslogStream, type GarbageLog } from './syslog-conn.js';
import { listen } from './tcp.js';

export function startSyslogTls(ctx: Context, port: number, host: string, certPath: string, keyPath: string, pool: IngestPool | null, garbage: GarbageLog, limits: ListenerLimits | null = null): Promise<Server> {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certPath);
    key = readFileSync(keyPath);
  } catch (err) {
    throw new ConfigError([`cannot read TLS certificate or key: ${(err as Error).message}`]);
  }
  const counters = new IngestCounters(ctx, 'tls');
  let server: Server;
  try {
    server = createServer({ cert, key, minVersion: 'TLSv1.2', handshakeTimeout: ctx.config.tlsHandshakeMs }, (sock) => {
      closeWhenIdle(ctx, sock, 'tls');
      if (pool) pool.attachStream(sock, 'tls');
      else serveSyslogStream(ctx, sock, 'tls', counters, garbage);
    });
  } catch (err) {
    // OpenSSL's own words ("PEM routines::no start line") name neither the setting nor the file
    throw new ConfigError([`cannot use the TLS certificate ${certPath} with the key ${keyPath} (PEM files, the key matching the certificate): ${(err as Error).message}`]);
  }
  // the raw socket, before the handshake: a refused client costs no TLS work
  if (limits !== null) server.on('connection', (raw: import('node:net').Socket) => void limits.admit(raw));
  // a handshake that failed or did not finish within config.tlsHandshakeMs (10 s; Node's default is 120 s) (silent, or a ClientHello
  // cut short): Node only reports it, the socket stays open and holds its slot, so it is closed here
  server.on('tlsClientError', (_err: Error, sock: import('node:tls').TLSSocket) => {
    ctx.metrics.connectionsClosed.labels('tls', 'handshake').value++;
    sock.destroy();
  });
  return listen(server as unknown as import('node:net').Server, port, host) as unknown as Promise<Server>;
}
