// A pipeline of commands on keys of several slots. On one endpoint it is an
// ordinary ioredis pipeline. On a Redis Cluster, where a pipeline may only
// hold keys of one master, the commands are recorded, split by the master
// serving each command's first key, sent as one pipeline per master (in
// parallel), and the replies put back in the order the commands were given.
// Each command must name its key first (every command and script here does).
import type { ChainableCommander, Redis } from 'ioredis';
import { isCluster, ownerOf } from './connection.js';

type Replies = Array<[Error | null, unknown]>;

/** pipeline() that works across slots on a Redis Cluster (one pipeline per master). */
export function pipelineByOwner(r: Redis): ChainableCommander {
  if (!isCluster(r)) return r.pipeline();
  const calls: Array<{ name: string; args: unknown[] }> = [];
  const exec = async (): Promise<Replies> => {
    const groups = new Map<string, number[]>();
    calls.forEach((c, i) => {
      const owner = ownerOf(r, String(c.args[0]));
      const g = groups.get(owner);
      if (g) g.push(i);
      else groups.set(owner, [i]);
    });
    const out: Replies = new Array<[Error | null, unknown]>(calls.length);
    await Promise.all(
      [...groups.values()].map(async (idx) => {
        const p = r.pipeline() as unknown as Record<string, (...a: unknown[]) => unknown> & { exec(): Promise<Replies | null> };
        for (const i of idx) p[calls[i]!.name]!(...calls[i]!.args);
        try {
          const res = (await p.exec()) ?? [];
          idx.forEach((i, k) => (out[i] = res[k] ?? [new Error('no reply'), null]));
        } catch (err) {
          for (const i of idx) out[i] = [err as Error, null];
        }
      }),
    );
    return out;
  };
  const proxy: ChainableCommander = new Proxy({} as ChainableCommander, {
    get(_t, name: string) {
      if (name === 'exec') return exec;
      if (name === 'then') return undefined;
      return (...args: unknown[]) => {
        calls.push({ name, args });
        return proxy;
      };
    },
  });
  return proxy;
}
