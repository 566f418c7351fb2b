// A real Redis Cluster from Debian's redis-server for one test file: N
// masters (and R replicas each) on free loopback ports, created with
// `redis-cli --cluster create ... --cluster-yes`, each node in a temp dir;
// close() stops every node and removes the dirs. "Cluster" here is Redis's;
// test/support/cluster.ts starts logplane nodes.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { stablePort } from './net.js';
import { until } from './wait.js';

const run = promisify(execFile);

export interface RedisClusterNode {
  port: number;
  /** Stop it (SIGKILL when hard), as a crash would. */
  kill(hard?: boolean): Promise<void>;
  /** Make it hang (SIGSTOP), as a stalled host: its connections stay open and it answers nothing (its master and replicas included) until resume(). */
  pause(): void;
  /** Let it run again after pause() (SIGCONT). */
  resume(): void;
  readonly running: boolean;
}

export interface TestRedisCluster {
  /** redis-cluster://127.0.0.1:p1,127.0.0.1:p2,... (every node a seed). */
  url: string;
  nodes: RedisClusterNode[];
  /** A direct connection to one node (closed by close()). */
  client(port: number): Redis;
  /** Ports of the masters serving slots now. */
  masters(): Promise<number[]>;
  /** The master port serving a slot now. */
  ownerOf(slot: number): Promise<number>;
  /** Move one slot (and its keys) from its master to another one, as `redis-cli --cluster reshard` does. */
  moveSlot(slot: number, toPort: number): Promise<void>;
  close(): Promise<void>;
}

type SlotRange = [start: number, end: number];

/** Every master serving slots now, by port, with its slot ranges. */
async function slotRanges(c: Redis): Promise<Map<number, SlotRange[]>> {
  const rows = (await c.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
  const byPort = new Map<number, SlotRange[]>();
  for (const [start, end, [, port]] of rows) byPort.set(port, [...(byPort.get(port) ?? []), [start, end]]);
  return byPort;
}

/**
 * Waits until every replica of the master on `c` has acknowledged a write (WAIT): `link up, sync done`
 * in INFO is not enough, as Redis 7's diskless sync can leave a replica with no keys (and unable to
 * take over) for a while after. The probe key, in one of the master's slots (the first hash tag
 * CLUSTER KEYSLOT puts there), is deleted before the WAIT that covers both writes, so tests never see it.
 */
async function replicated(c: Redis, ranges: SlotRange[], replicas: number): Promise<void> {
  const owns = (slot: number): boolean => ranges.some(([a, b]) => slot >= a && slot <= b);
  let tag = 0;
  while (!owns((await c.cluster('KEYSLOT', `{${tag}}`)) as number)) tag++;
  const key = `logplane-test-harness:probe:{${tag}}`;
  await until(`${replicas} replica(s) of the master on ${c.options.port} acknowledging a write`, async () => {
    await c.set(key, '1');
    await c.del(key);
    return (await c.wait(replicas, 5000)) >= replicas;
  }, 30_000, 0);
}

/** A port p with p and its cluster bus port p + 10000 free (below the ephemeral range: a killed node may come back on it). */
function clusterPort(taken: Set<number>): Promise<number> {
  return stablePort([0, 10000], taken);
}

export async function startRedisCluster(opts: { masters?: number; replicas?: number; nodeTimeoutMs?: number } = {}): Promise<TestRedisCluster> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const n = masters * (1 + replicas);
  const taken = new Set<number>();
  const dirs: string[] = [];
  const clients: Redis[] = [];
  const nodes: Array<RedisClusterNode & { child: ChildProcess | null }> = [];
  const close = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await Promise.all(nodes.map((x) => x.kill(true)));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < n; i++) {
      const port = await clusterPort(taken);
      const dir = mkdtempSync(join(tmpdir(), 'logplane-rcluster-'));
      dirs.push(dir);
      const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 2000), '--repl-diskless-sync-delay', '0', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
      child.once('error', () => {});
      const node: RedisClusterNode & { child: ChildProcess | null } = {
        port,
        child,
        get running() {
          return node.child !== null && node.child.exitCode === null;
        },
        pause() {
          node.child?.kill('SIGSTOP');
        },
        resume() {
          node.child?.kill('SIGCONT');
        },
        async kill(hard = false) {
          const c = node.child;
          node.child = null;
          if (!c || c.exitCode !== null) return;
          const exited = new Promise<void>((r) => c.once('exit', () => r()));
          c.kill(hard ? 'SIGKILL' : 'SIGTERM');
          c.kill('SIGCONT'); // a paused node handles its SIGTERM
          const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        },
      };
      nodes.push(node);
    }
    const byPort = new Map<number, Redis>();
    const client = (port: number): Redis => {
      const had = byPort.get(port);
      if (had) return had;
      const c = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      clients.push(c);
      byPort.set(port, c);
      return c;
    };
    for (const x of nodes) await until(`redis-server on ${x.port}`, async () => (await run('redis-cli', ['-p', String(x.port), 'ping']).catch(() => ({ stdout: '' }))).stdout.includes('PONG'), 10_000, 50);
    if (n === 1) {
      // redis-cli --cluster create wants 3 masters at least: one node takes every slot itself
      await run('redis-cli', ['-p', String(nodes[0]!.port), 'cluster', 'addslotsrange', '0', '16383']);
    } else {
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((x) => `127.0.0.1:${x.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    }
    for (const x of nodes) {
      await until(`cluster_state:ok on ${x.port}`, async () => (await run('redis-cli', ['-p', String(x.port), 'cluster', 'info'])).stdout.includes('cluster_state:ok'), 30_000, 100);
    }
    // A replica still in its first sync holds none of its master's data and acknowledges no write (WAIT):
    // a test that kills a master wants its replica to have everything. Every replica is in sync before a test
    // starts (and the first sync starts at once, not after the default 5 s wait for more replicas).
    for (const x of nodes) {
      await until(`replica on ${x.port} in sync`, async () => {
        const info = (await run('redis-cli', ['-p', String(x.port), 'info', 'replication'])).stdout;
        return info.includes('role:master') || (info.includes('master_link_status:up') && info.includes('master_sync_in_progress:0'));
      }, 30_000, 100);
    }
    // `redis-cli --cluster create` gave each master `replicas` replicas (WAIT counts those connected to it, not gossip)
    if (replicas > 0) for (const [port, ranges] of await slotRanges(client(nodes[0]!.port))) await replicated(client(port), ranges, replicas);
    const admin = client(nodes[0]!.port);
    const slotsOf = async (): Promise<Array<[number, number, [string, number]]>> => {
      for (const x of nodes) {
        if (!x.running) continue;
        try {
          return (await client(x.port).cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
        } catch {
          /* try the next node */
        }
      }
      return (await admin.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
    };
    const ownerOf = async (slot: number): Promise<number> => {
      const s = await slotsOf();
      const r = s.find(([a, b]) => slot >= a && slot <= b);
      if (!r) throw new Error(`slot ${slot} has no owner`);
      return r[2][1];
    };
    return {
      url: `redis-cluster://${nodes.map((x) => `127.0.0.1:${x.port}`).join(',')}`,
      nodes,
      client,
      async masters() {
        return [...new Set((await slotsOf()).map((r) => r[2][1]))].sort((a, b) => a - b);
      },
      ownerOf,
      async moveSlot(slot, toPort) {
        const fromPort = await ownerOf(slot);
        if (fromPort === toPort) return;
        const from = client(fromPort);
        const to = client(toPort);
        const fromId = (await from.cluster('MYID')) as string;
        const toId = (await to.cluster('MYID')) as string;
        await to.cluster('SETSLOT', slot, 'IMPORTING', fromId);
        await from.cluster('SETSLOT', slot, 'MIGRATING', toId);
        for (;;) {
          const keys = (await from.cluster('GETKEYSINSLOT', slot, 100)) as string[];
          if (keys.length === 0) break;
          await from.migrate('127.0.0.1', toPort, '', 0, 5000, 'KEYS', ...keys);
        }
        await to.cluster('SETSLOT', slot, 'NODE', toId);
        await from.cluster('SETSLOT', slot, 'NODE', toId);
        for (const x of nodes) if (x.running && x.port !== fromPort && x.port !== toPort) await client(x.port).cluster('SETSLOT', slot, 'NODE', toId).catch(() => {});
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
