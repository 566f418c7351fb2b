// Distributed mode: POST /logs into nodes whose history is in Redis
// (`node dist/bench/redis_ingest.js [--lines N] [--connections N] [--rounds N]
// [--no-cluster] [--only TEXT] [--cpu-prof DIR]`, about a minute; --connections
// sets the shippers per node (default 4), --rounds repeats the one-endpoint
// configurations N times in alternation and reports the Redis-mode node's
// lines/s over the embedded node's per round (median and range: runs on this
// shared 2-core machine vary by +-10%), and the same comparison by the CPU
// per line of everything on the machine (node and senders, plus Redis in
// Redis mode: what the lines/s ratio is when both modes keep the same cores
// busy, as they do here), --only runs the configurations whose
// label contains TEXT (or any of several, comma-separated), --cpu-prof writes each node's CPU profile into DIR).
//
// One redis-server (started here, no persistence), 100 apps provisioned in
// Redis, then 1 node and 2 nodes (the BUILT server as child processes, each
// fed by its own HTTP sender worker with pre-built 500-line bodies over 4
// kept-alive connections by default); the embedded mode (no Redis) on the same load as
// the baseline; then one node on a Redis Cluster of 1 master and of 3
// masters (test/support/redis-cluster.ts), where the Redis figures are
// summed over the masters and the busiest master's CPU is shown apart. A run ends when every line is in the Redis history
// (logplane_redis_lines_written_total), not when the last response came.
//
// Reported per configuration: lines/s per node and in all, Redis commands
// per line (INFO commandstats deltas: what the nodes sent, and everything
// Redis executed including the commands inside the append script), Redis CPU
// seconds per million lines, node CPU, and Redis memory per history line;
// also the senders' CPU per line (this process: the HTTP sender workers) and
// how many of the machine's cores were busy (/proc/stat, everything but idle,
// iowait and steal) and how much the hypervisor stole (steal: time the
// machine had work and someone else ran; on the shared VMs measured here
// 0.4-0.5 of 2 cores at times, the main source of the rounds' spread), so a
// run shows where the machine's CPU went: nodes, senders and Redis share the
// same cores here.
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Redis } from 'ioredis';
import type { HttpSenderData, HttpSenderMessage } from './support/http_sender.js';
import { cpuSeconds, machineTicks, threadCpuSeconds } from './support/proc.js';
import { scrape, spawnServer, sumOf, type SpawnedServer } from './support/server.js';
import { appRecords, benchApps, logplexBody } from './support/syslog.js';
import { redisCpu } from './support/redis-info.js';
import { renderTable } from './support/table.js';
import type { Column, Value } from './case.js';
import { startRedis } from '../test/support/redis.js';
import { startRedisCluster } from '../test/support/redis-cluster.js';
import { RedisStore } from '../src/store/redis.js';

const APPS = 100;
const LINES_PER_BODY = 500;
const DEFAULT_CONNECTIONS = 4;
const DEFAULT_LINES_PER_NODE = 200_000;
const HISTORY_LINES = 1500;
const API_KEY = 'bench-redis-api-key-0123456789';
const WRITTEN = 'logplane_redis_lines_written_total';
const INGESTED = 'logplane_ingest_lines_total{transport="http"}';

/** Commands the nodes send themselves (the rest run inside the append script). */
const CLIENT_COMMANDS = new Set(['multi', 'exec', 'evalsha', 'eval', 'hset', 'hget', 'get', 'set', 'zadd', 'zrangebyscore', 'zremrangebyscore', 'exists', 'pexpire', 'smembers', 'subscribe', 'unsubscribe', 'info', 'client', 'ping', 'select', 'publish', 'lrange', 'sadd', 'del', 'pttl', 'hmget', 'srem']);

async function commandStats(r: Redis): Promise<Map<string, number>> {
  const text = await r.info('commandstats');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}


async function usedMemory(r: Redis): Promise<number> {
  const text = await r.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(text)?.[1] ?? 0);
}

function sender(port: number, auths: string[], requests: number): { ready: Promise<void>; go(): Promise<void>; worker: Worker } {
  const bodies = Array.from({ length: 8 }, (_, v) => logplexBody(LINES_PER_BODY, v));
  const w = new Worker(new URL('./support/http_sender.js', import.meta.url), {
    workerData: { port, bodies, linesPerBody: LINES_PER_BODY, auths, requests, connections } satisfies HttpSenderData,
  });
  let onDone!: () => void;
  let onFail!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    onDone = res;
    onFail = rej;
  });
  const ready = new Promise<void>((res, rej) => {
    w.on('message', (m: HttpSenderMessage) => {
      if (m.type === 'ready') res();
      else if (m.type === 'done') {
        const bad = Object.keys(m.statuses).filter((s) => s !== '204');
        if (bad.length) onFail(new Error(`non-204 answers: ${JSON.stringify(m.statuses)}`));
        else onDone();
      } else if (m.type === 'error') {
        rej(new Error(m.message));
        onFail(new Error(m.message));
      }
    });
    w.once('error', rej);
  });
  return {
    ready,
    worker: w,
    go() {
      w.postMessage('go');
      return done;
    },
  };
}

interface RunResult {
  row: Record<string, Value>;
  notes: string[];
}

/** Where the nodes keep their history: a URL, and a direct connection to each master (for INFO). */
interface Backend {
  url: string;
  masters: Redis[];
}

async function sumOver(masters: Redis[], f: (r: Redis) => Promise<number>): Promise<number[]> {
  return Promise.all(masters.map(f));
}

async function run(label: string, nodesN: number, linesPerNode: number, redis: Backend | null): Promise<RunResult> {
  const apps = benchApps(APPS);
  const records = appRecords(apps);
  const notes: string[] = [];
  const masters = redis?.masters ?? [];
  const env: Record<string, string> = { LOGPLANE_API_KEY: API_KEY, LOGPLANE_HISTORY_LINES: String(HISTORY_LINES) };
  if (redis) {
    for (const m of masters) await m.flushall();
    const store = await RedisStore.connect(redis.url);
    for (const rec of records) await store.putApp(rec);
    await store.close();
    env['REDIS_URL'] = redis.url;
  }
  const servers: SpawnedServer[] = [];
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < nodesN; i++) servers.push(await spawnServer({ apps: records, env, ...(profileDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', profileDir] } : {}) }));
    const auths = apps.map((a) => `Basic ${Buffer.from(`token:${a.token}`).toString('base64')}`);
    const requests = Math.ceil(linesPerNode / LINES_PER_BODY);
    const senders = servers.map((s) => sender(Number(new URL(s.url).port), auths, requests));
    for (const s of senders) workers.push(s.worker);
    await Promise.all(senders.map((s) => s.ready));
    await new Promise((r) => setTimeout(r, 300)); // warm-up lines written
    const base = await Promise.all(servers.map((s) => scrape(s.url)));
    const stats0 = redis ? await Promise.all(masters.map(commandStats)) : null;
    const rcpu0 = await sumOver(masters, redisCpu);
    const cpu0 = servers.map((s) => cpuSeconds(s.pid));
    const main0 = servers.map((s) => threadCpuSeconds(s.pid, s.pid));
    const bench0 = cpuSeconds(process.pid);
    const machine0 = machineTicks();
    const t0 = performance.now();
    await Promise.all(senders.map((s) => s.go()));
    const tAnswered = performance.now();
    // done when every node's lines are in Redis (embedded: when answered)
    const expected = requests * LINES_PER_BODY;
    let tDone = tAnswered;
    if (redis) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const now = await Promise.all(servers.map((s) => scrape(s.url)));
        const ok = now.every((m, i) => (m.get(WRITTEN) ?? 0) - (base[i]!.get(WRITTEN) ?? 0) >= expected);
        tDone = performance.now();
        if (ok) break;
        if (Date.now() > deadline) {
          notes.push(`${label}: not every line was written to Redis within 60 s`);
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const secs = (tDone - t0) / 1000;
    const benchCpu = cpuSeconds(process.pid) - bench0;
    const machine1 = machineTicks();
    const after = await Promise.all(servers.map((s) => scrape(s.url)));
    const lines = after.reduce((n, m, i) => n + (m.get(INGESTED) ?? 0) - (base[i]!.get(INGESTED) ?? 0), 0);
    const nodeCpu = servers.reduce((n, s, i) => n + cpuSeconds(s.pid) - cpu0[i]!, 0);
    const mainCpu = servers.reduce((n, s, i) => n + threadCpuSeconds(s.pid, s.pid) - main0[i]!, 0);
    const row: Record<string, Value> = {
      config: label,
      nodes: nodesN,
      lines,
      perNode: lines / nodesN / secs,
      total: lines / secs,
      nodeCpuUs: (nodeCpu / lines) * 1e6,
      mainBusy: mainCpu / nodesN / secs,
      senderCpuUs: (benchCpu / lines) * 1e6,
      machineBusy: ((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * cpus().length,
      machineSteal: ((machine1.steal - machine0.steal) / (machine1.total - machine0.total)) * cpus().length,
      sent: null,
      executed: null,
      redisCpu: null,
      masterCpu: null,
      bytesPerLine: null,
    };
    if (redis && stats0) {
      const stats1 = await Promise.all(masters.map(commandStats));
      let sent = 0;
      let executed = 0;
      stats1.forEach((st, m) => {
        for (const [k, v] of st) {
          const d = v - (stats0[m]!.get(k) ?? 0);
          if (d <= 0 || k === 'info' || k === 'cluster') continue;
          executed += d;
          if (CLIENT_COMMANDS.has(k) && k !== 'publish' && k !== 'hset') sent += d;
          // each append transaction also sends its chunk's RPUSH, a name the scripts use too (and its (S)PUBLISH while the app has listeners, not counted: none here)
          if (k === 'multi') sent += d;
        }
      });
      // publish and hset run inside the append scripts too; count the nodes' own (checkpoints) as executed only
      row['sent'] = sent / lines;
      row['executed'] = executed / lines;
      const rcpu1 = await sumOver(masters, redisCpu);
      const perMaster = rcpu1.map((c, m) => (c - rcpu0[m]!) / (lines / 1e6));
      row['redisCpu'] = perMaster.reduce((a, b) => a + b, 0);
      row['masterCpu'] = Math.max(...perMaster);
      const listBytes = (await sumOver(masters, usedMemory)).reduce((a, b) => a + b, 0) / (APPS * HISTORY_LINES);
      row['bytesPerLine'] = listBytes;
      const dropped = after.reduce((n, m) => n + sumOf(m, 'logplane_redis_lines_dropped_total'), 0);
      if (dropped > 0) notes.push(`${label}: ${dropped} lines dropped from the write queue`);
      const delta = (name: string): number => after.reduce((n, m, i) => n + sumOf(m, name) - sumOf(base[i]!, name), 0);
      const chunks = delta('logplane_redis_chunks_total');
      const pipelines = delta('logplane_redis_pipelines_total');
      if (chunks > 0 && pipelines > 0) notes.push(`${label}: ${Math.round(lines / chunks)} lines per append (chunk), ${(chunks / pipelines).toFixed(1)} appends per round, ${Math.round(pipelines / secs)} rounds/s`);
    }
    notes.push(`${label}: answered in ${((tAnswered - t0) / 1000).toFixed(2)} s, all in Redis after ${secs.toFixed(2)} s`);
    return { row, notes };
  } finally {
    for (const w of workers) await w.terminate();
    for (const s of servers) await (profileDir ? s.stop(30_000) : s.kill());
  }
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}
const only = option('--only');
const connections = option('--connections') === undefined ? DEFAULT_CONNECTIONS : Number(option('--connections'));
if (!Number.isInteger(connections) || connections < 1 || connections > 256) throw new Error('--connections needs a whole number from 1 to 256');
const profileDir = option('--cpu-prof');
const rounds = option('--rounds') === undefined ? 1 : Number(option('--rounds'));
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error('--rounds needs a whole number from 1 to 50');
const wanted = (label: string): boolean => only === undefined || only.split(',').some((o) => label.includes(o));

async function main(): Promise<void> {
  const i = process.argv.indexOf('--lines');
  const linesPerNode = i !== -1 ? Number(process.argv[i + 1]) : DEFAULT_LINES_PER_NODE;
  if (!Number.isInteger(linesPerNode) || linesPerNode < LINES_PER_BODY) throw new Error(`--lines needs a whole number >= ${LINES_PER_BODY}`);
  const rows: Record<string, Value>[] = [];
  const notes: string[] = [];
  const redis = await startRedis();
  const single: Backend = { url: redis.url, masters: [new Redis({ port: redis.port, host: '127.0.0.1' })] };
  try {
    // rounds alternate the configurations, so each round's ratio compares runs made side by side
    const ratios: number[] = [];
    // the same comparison by CPU: everything on the machine per line (node, senders, and Redis in Redis mode)
    const cpuRatios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const byBase = new Map<string, Record<string, Value>>();
      for (const [base, n, r] of [['embedded (no Redis)', 1, null], ['redis, 1 node', 1, single], ['redis, 2 nodes', 2, single]] as const) {
        if (!wanted(base)) continue;
        const label = rounds > 1 ? `${base} #${round}` : base;
        const res = await run(label, n, linesPerNode, r);
        rows.push(res.row);
        notes.push(...res.notes);
        byBase.set(base, res.row);
      }
      const e = byBase.get('embedded (no Redis)');
      const one = byBase.get('redis, 1 node');
      if (e !== undefined && one !== undefined) {
        ratios.push(Number(one['perNode']) / Number(e['perNode']));
        const all = (row: Record<string, Value>): number => Number(row['nodeCpuUs']) + Number(row['senderCpuUs']) + Number(row['redisCpu'] ?? 0);
        cpuRatios.push(all(e) / all(one));
      }
    }
    const summary = (xs: number[]): string => {
      const sorted = [...xs].sort((a, b) => a - b);
      const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
      return `${xs.map((x) => x.toFixed(2)).join(', ')} (${xs.length === 1 ? 'one round' : `median of ${xs.length} alternated rounds ${median.toFixed(2)}, range ${sorted[0]!.toFixed(2)}-${sorted[sorted.length - 1]!.toFixed(2)}`})`;
    };
    if (ratios.length > 0) {
      notes.push(`Redis-mode node / embedded node, lines/s: ${summary(ratios)}`);
      // steal and other tenants move lines/s more than CPU per line: this is what the lines/s ratio is at equal busy cores
      notes.push(`the same by the machine's CPU per line (embedded: node + senders; Redis mode: node + senders + Redis): ${summary(cpuRatios)}`);
    }
  } finally {
    for (const m of single.masters) m.disconnect();
    await redis.close();
  }
  if (!process.argv.includes('--no-cluster')) {
    for (const masters of [1, 3]) {
      if (!wanted(`cluster, ${masters} master${masters > 1 ? 's' : ''}, 1 node`)) continue;
      const rc = await startRedisCluster({ masters });
      try {
        const ports = await rc.masters();
        const backend: Backend = { url: rc.url, masters: ports.map((p) => new Redis({ port: p, host: '127.0.0.1' })) };
        try {
          const res = await run(`cluster, ${masters} master${masters > 1 ? 's' : ''}, 1 node`, 1, linesPerNode, backend);
          rows.push(res.row);
          notes.push(...res.notes);
        } finally {
          for (const m of backend.masters) m.disconnect();
        }
      } finally {
        await rc.close();
      }
    }
  }
  const columns: Column[] = [
    { key: 'config', label: 'configuration' },
    { key: 'lines', label: 'lines' },
    { key: 'perNode', label: 'per node', unit: 'lines/s' },
    { key: 'total', label: 'all nodes', unit: 'lines/s' },
    { key: 'nodeCpuUs', label: 'node CPU', unit: 'µs/line', digits: 2 },
    { key: 'mainBusy', label: 'main thread', unit: 'busy', digits: 2 },
    { key: 'senderCpuUs', label: 'senders CPU', unit: 'µs/line', digits: 2 },
    { key: 'machineBusy', label: 'machine', unit: `busy of ${cpus().length}`, digits: 2 },
    { key: 'machineSteal', label: 'stolen', unit: `of ${cpus().length}`, digits: 2 },
    { key: 'sent', label: 'cmds sent', unit: '/line', digits: 4 },
    { key: 'executed', label: 'cmds executed', unit: '/line', digits: 3 },
    { key: 'redisCpu', label: 'Redis CPU', unit: 's/M lines', digits: 2 },
    { key: 'masterCpu', label: 'busiest master', unit: 's/M lines', digits: 2 },
    { key: 'bytesPerLine', label: 'Redis memory', unit: 'B/history line', digits: 0 },
  ];
  process.stdout.write(`redis_ingest: POST /logs, ${APPS} apps, ${LINES_PER_BODY}-line bodies, ${connections} connections per node, ${linesPerNode.toLocaleString('en-US')} lines per node, history ${HISTORY_LINES} lines per app\n\n`);
  process.stdout.write(`${renderTable(columns, rows)}\n\n${notes.map((n) => `  ${n}`).join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`redis_ingest: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
