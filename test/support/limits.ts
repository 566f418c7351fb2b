// Helpers for the limits tests: many idle client connections from several
// loopback addresses, labelled metric samples, a process's resident memory.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

/** A set of open client sockets; closeAll() releases them (call it in finally). */
export class IdleConnections {
  readonly socks: Socket[] = [];
  /** Sockets the server closed (or refused) so far. */
  closedByPeer = 0;

  /** Open n connections to 127.0.0.1:port, `perAddress` from each of 127.0.0.2, .3, ... */
  static async open(port: number, n: number, perAddress: number, opts: { firstAddress?: number; onConnect?: (s: Socket) => void } = {}): Promise<IdleConnections> {
    const c = new IdleConnections();
    const batch = 250;
    for (let i = 0; i < n; i += batch) {
      const waits: Promise<void>[] = [];
      for (let j = i; j < Math.min(n, i + batch); j++) {
        const localAddress = `127.0.0.${(opts.firstAddress ?? 2) + Math.floor(j / perAddress)}`;
        waits.push(
          new Promise((resolve) => {
            const s = connect({ port, host: '127.0.0.1', localAddress });
            c.socks.push(s);
            s.on('error', () => {});
            s.once('close', () => c.closedByPeer++);
            s.once('connect', () => {
              opts.onConnect?.(s);
              resolve();
            });
            s.once('close', () => resolve());
          }),
        );
      }
      await Promise.all(waits);
    }
    return c;
  }

  /** Sockets still open. */
  get open(): number {
    return this.socks.filter((s) => !s.destroyed && s.readyState === 'open').length;
  }

  closeAll(): void {
    for (const s of this.socks) s.destroy();
  }
}

/** The value of one sample `name{labels}` of a Prometheus text page (labels in the page's order), or 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (want.every(([k, v]) => rest.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

/** Resident set size of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}
