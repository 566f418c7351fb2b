// Several logplane nodes in one test process sharing one real redis-server
// (distributed mode), plus the client helpers the Redis tests share.
import { QUIET_AUDIT } from './quiet-audit.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { ClusterOptions } from '../../src/cluster/cluster.js';
import { loadConfig } from '../../src/config.js';
import { silentLog } from '../../src/obs/log.js';
import { Server, type ServerOptions } from '../../src/server.js';
import { api as sharedApi, type ApiResponse } from './api.js';
import { Redis } from 'ioredis';
import { TcpProxy } from './proxy.js';
import { startRedis, type TestRedis } from './redis.js';
import { until } from './wait.js';

export const API_KEY = 'test-cluster-api-key-0123456789';
export const AUTH = `Bearer ${API_KEY}`;

/** Short timings so takeovers and reconnects happen within a test's patience. */
export const fastCluster: Partial<ClusterOptions> = {
  heartbeatMs: 250,
  nodeTtlMs: 1500,
  leaseTtlMs: 1500,
  leaseRenewMs: 250,
  checkpointMs: 100,
  reorderMs: 50,
};

export interface Node {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Nodes not closed by their test (it failed before its close): closed when the file ends. */
const running = new Set<Node>();
/** Every node's data dir, removed when the file ends (a test may stop a node's server alone, as a crash). */
const dataDirs = new Set<string>();
after(async () => {
  await Promise.all([...running].map((n) => n.close().catch(() => {})));
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
});

/** more: other Server.start options (a log to read, syslog listeners on free ports). */
export async function startNode(redisUrl: string, opts: Partial<ClusterOptions> = fastCluster, env: Record<string, string> = {}, more: Omit<ServerOptions, 'cluster'> = {}): Promise<Node> {
  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-node-'));
  dataDirs.add(dataDir);
  const config = loadConfig([], { LOGPLANE_PORT: '0', LOGPLANE_DATA_DIR: dataDir, LOGPLANE_LOG_LEVEL: 'silent', REDIS_URL: redisUrl, LOGPLANE_API_KEY: API_KEY, LOGPLANE_SYSLOG_PORT: '0', ...QUIET_AUDIT, ...env });
  const server = await Server.start(config, { log: silentLog(), ...more, cluster: opts });
  const node: Node = {
    server,
    url: server.url,
    async close() {
      running.delete(node);
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  running.add(node);
  return node;
}

/**
 * Two nodes (with env) on a Redis of their own, started in a before hook and
 * stopped in an after hook of the suite or file this is called in; `nodes`
 * is set once the hook ran.
 */
export function nodePair(env: Record<string, string> = {}, opts: Partial<ClusterOptions> = fastCluster): { redis: TestRedis; nodes: [Node, Node] } {
  const held = {} as { redis: TestRedis; nodes: [Node, Node] };
  before(async () => {
    held.redis = await startRedis();
    held.nodes = [await startNode(held.redis.url, opts, env), await startNode(held.redis.url, opts, env)];
  });
  after(async () => {
    await Promise.all((held.nodes ?? []).map((n) => n.close()));
    await held.redis?.close();
  });
  return held;
}

export function startNodes(n: number, redisUrl: string, opts: Partial<ClusterOptions> = fastCluster): Promise<Node[]> {
  return Promise.all(Array.from({ length: n }, () => startNode(redisUrl, opts)));
}

/** The shared api() aimed at a node by URL, with the cluster's admin key. */
export function api(url: string, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  return sharedApi({ url, auth: AUTH }, method, path, body);
}

/** A syslog message as log shippers send it. */
export function syslog(msg: string, dyno = 'web.1'): string {
  return `<190>1 2026-05-01T12:00:00.000000+00:00 host app ${dyno} - ${msg}`;
}

/** POST /logs with these messages as octet-counted frames; returns the status. */
export async function postLogs(url: string, token: string, msgs: readonly string[]): Promise<number> {
  const body = Buffer.concat(msgs.map((m) => {
    const b = Buffer.from(m, 'utf8');
    return Buffer.concat([Buffer.from(`${b.length} `), b]);
  }));
  const res = await fetch(`${url}/logs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/logplex-1', Authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}` },
    body: new Uint8Array(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The first capture of `line` in a node's /metrics (NaN when absent). */
export async function metricMatch(url: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(line);
  return m ? Number(m[1]) : NaN;
}

/** POST the messages `${prefix}${from}` .. `${prefix}${to - 1}` to a node (asserting 204). */
export async function postRange(node: Node, token: string, prefix: string, from: number, to: number): Promise<void> {
  const msgs = Array.from({ length: to - from }, (_, i) => syslog(`${prefix}${from + i}`));
  const status = await postLogs(node.url, token, msgs);
  if (status !== 204) throw new Error(`POST /logs answered ${status}`);
}

/**
 * Node x takes `${prefix}${from}` .. `${prefix}${to - 1}` while Redis refuses
 * every write (over maxmemory): the lines never reach the shared history, and
 * x announces them with a loss notice in front of its next lines once Redis
 * takes writes again (it does when this returns). Resolves to the time span
 * in which x received them (the notice's since lies within).
 */
export async function refusedRange(redisUrl: string, x: Node, token: string, prefix: string, from: number, to: number): Promise<{ from: number; to: number }> {
  const refused = async (): Promise<number> => (await metricMatch(x.url, /^logplane_redis_lines_dropped_total\{reason="rejected"\} (\d+)$/m)) || 0;
  const admin = new Redis(redisUrl);
  try {
    const before = await refused();
    await admin.config('SET', 'maxmemory', '1');
    const t0 = Date.now();
    await postRange(x, token, prefix, from, to);
    await until('the append refused', async () => (await refused()) === before + to - from, 10_000);
    const t1 = Date.now();
    await admin.config('SET', 'maxmemory', '0');
    return { from: t0, to: t1 };
  } finally {
    admin.disconnect();
  }
}

/** An app's history as a node answers it (GET /v3/channels/:app/logs?num=), messages in order. */
export async function historyOn(node: Node, app: string, num: number): Promise<string[]> {
  const r = await api(node.url, 'GET', `/v3/channels/${app}/logs?num=${num}`);
  return r.text.split('\n').flatMap((l) => {
    const m = / - (\S+)$/.exec(l);
    return m ? [m[1]!] : [];
  });
}

/** A session of an app made on a node (POST /v3/sessions, asserting 201): its URL. */
export async function sessionOn(node: Node, app: string, body: Record<string, unknown>): Promise<string> {
  const r = await api(node.url, 'POST', '/v3/sessions', { channel_id: app, ...body });
  if (r.status !== 201) throw new Error(`POST /v3/sessions answered ${r.status}`);
  return r.json.url as string;
}

/** Messages of a Logplex frame body (`LEN <PRI>1 TS host SOURCE DYNO - MSG\n`...), in order. */
export function frameMessages(body: Buffer): string[] {
  const out: string[] = [];
  let p = 0;
  while (p < body.length) {
    const sp = body.indexOf(0x20, p);
    const len = Number(body.toString('latin1', p, sp));
    const frame = body.toString('utf8', sp + 1, sp + 1 + len - 1);
    p = sp + 1 + len;
    // <PRI>1 TS host SOURCE DYNO - MSG
    let k = 0;
    let i = 0;
    for (; i < frame.length && k < 6; i++) if (frame[i] === ' ') k++;
    out.push(frame.slice(i));
  }
  return out;
}

/** Two nodes on one Redis, node a reaching it through a proxy a test cuts (a network cut of a alone), and an app both know. */
export interface CutPair {
  redis: TestRedis;
  proxy: TcpProxy;
  a: Node;
  b: Node;
  /** The app's token. */
  token: string;
  close(): Promise<void>;
}

/** A CutPair whose app holds b0..b4 then a0..a4 in the shared history (each node has read the other's); aOpts: node a's cluster options; bEnv: node b's environment besides env. */
export async function cutPair(app: string, env: Record<string, string>, aOpts: Partial<ClusterOptions> = fastCluster, bEnv: Record<string, string> = {}): Promise<CutPair> {
  const redis = await startRedis();
  const proxy = await TcpProxy.start(redis.port);
  const [a, b] = await Promise.all([startNode(`redis://127.0.0.1:${proxy.port}`, aOpts, env), startNode(redis.url, fastCluster, { ...env, ...bEnv })]);
  const token = (await api(a.url, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).json.tokens.app as string;
  await until('the app on b', () => b.server.ctx.registry.get(app), 10_000);
  await postRange(b, token, 'b', 0, 5);
  await until('b0..b4 written', async () => (await historyOn(a, app, 1000)).length === 5, 10_000);
  await postRange(a, token, 'a', 0, 5);
  await until('a0..a4 written', async () => (await historyOn(b, app, 1000)).length === 10, 10_000);
  return {
    redis,
    proxy,
    a,
    b,
    token,
    async close() {
      await Promise.all([a.close(), b.close()]);
      await proxy.close();
      await redis.close();
    },
  };
}
