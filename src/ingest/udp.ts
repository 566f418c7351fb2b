// Syslog over UDP (RFC 5426): one message per datagram.
import { createSocket, type Socket } from 'node:dgram';
import type { Context } from '../context.js';
import { routeMessage } from './route-writer.js';
import { SyslogMessageHandler } from './message.js';
import type { IngestPool } from './pool.js';
import { IngestCounters } from './syslog-conn.js';

export function startSyslogUdp(ctx: Context, port: number, host: string, pool: IngestPool | null = null): Promise<Socket> {
  const counters = new IngestCounters(ctx, 'udp');
  const handler = new SyslogMessageHandler(ctx.registry.tokens, counters, routeMessage);
  const sock = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  if (pool) sock.on('message', (msg: Buffer) => pool.datagram(msg));
  else sock.on('message', (msg: Buffer) => handler.handle(msg, 0, msg.length, Date.now()));
  sock.on('error', (err) => ctx.log.error({ at: 'ingest.udp_error', err: err.message }, 'udp socket error'));
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.off('error', reject);
      resolve(sock);
    });
  });
}
