// Syslog over UDP (RFC 5426): one message per datagram.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
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
      const family = host.includes(':') ? 'udp6' : 'udp';
      const bound = sock.address().port;
      ctx.metrics.udpKernelDrops.collect = () => ctx.metrics.udpKernelDrops.set(udpKernelDrops(family, bound) ?? 0);
      resolve(sock);
    });
  });
}

/**
 * Datagrams the kernel dropped on the UDP socket(s) bound to this local port
 * (receive buffer full): the `drops` column of /proc/net/udp (or udp6),
 * counted since the socket was made. null where there is no such file.
 */
export function udpKernelDrops(family: 'udp' | 'udp6', port: number, text?: string): number | null {
  let t = text;
  if (t === undefined) {
    try {
      t = readFileSync(`/proc/net/${family}`, 'latin1');
    } catch {
      return null;
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let drops = 0;
  for (const line of t.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    const local = f[1];
    if (f.length < 13 || local === undefined || !local.endsWith(`:${hexPort}`)) continue;
    const n = Number(f[f.length - 1]);
    if (Number.isFinite(n)) drops += n;
  }
  return drops;
}
