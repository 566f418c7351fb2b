// Loopback ports for tests.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A loopback port that was free a moment ago (for listeners that treat 0 as "off"). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The first port of the kernel's ephemeral range (32768 on Linux unless changed). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 1024 ? low : 32768;
  } catch {
    return 32768;
  }
}

const STABLE_FROM = 10_000;

/**
 * A loopback port free now, below the kernel's ephemeral range, for a server
 * that is stopped and started again on the same port (Redis, rsyslogd, a
 * restarted logplane, a killed cluster node). freePort()'s ports come from
 * that range: while such a server is down, any listen(0) or client connect()
 * on the machine may be given its port, and a client retrying that very port
 * can even connect to itself (TCP simultaneous open), so the restart fails
 * with EADDRINUSE. The kernel hands out no port below the range by itself.
 * With offsets, p + each offset is below the range and free too (a Redis
 * Cluster node's bus port is p + 10000); `taken` holds ports already chosen
 * and gets the new ones.
 */
export async function stablePort(offsets: readonly number[] = [0], taken: Set<number> = new Set()): Promise<number> {
  const top = ephemeralLow() - Math.max(...offsets);
  if (top <= STABLE_FROM) throw new Error(`no room below the ephemeral port range (${ephemeralLow()}) for offsets ${offsets.join(', ')}`);
  for (let i = 0; i < 200; i++) {
    const p = STABLE_FROM + Math.floor(Math.random() * (top - STABLE_FROM));
    const ports = offsets.map((o) => p + o);
    if (ports.some((q) => taken.has(q))) continue;
    let free = true;
    for (const q of ports) if (!(await portFree(q))) free = false;
    if (!free) continue;
    for (const q of ports) taken.add(q);
    return p;
  }
  throw new Error('no free port below the ephemeral range');
}
