// Redis connections of distributed mode. Commands fail
// fast while Redis is unreachable (no ioredis offline queue; in-flight
// commands are rejected when the connection drops): every caller has its own
// policy (the line batch keeps a bounded queue, the API answers 503), and
// ioredis reconnects by itself.
//
// On a Redis Cluster (a redis-cluster:// URL or LOGPLANE_REDIS_CLUSTER) the
// clients are ioredis' Cluster client, typed as Redis: it has the same
// command surface (commands, scripts, pipelines routed by key slot), and the
// callers that must know (pipelines split per master, sharded pub/sub) ask
// isCluster().
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { slotOf } from './slots.js';

/** Where Redis is: one endpoint (url), or a cluster's seed nodes. */
export interface RedisTarget {
  url: string;
  cluster: boolean;
  seeds: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
}

/** REDIS_URL (+ LOGPLANE_REDIS_CLUSTER) as a target: `redis-cluster://[user:pass@]h1:p1,h2:p2` or `redis[s]://...` naming one node. */
export function redisTarget(url: string, cluster = false): RedisTarget {
  if (url.startsWith('redis-cluster://')) {
    let rest = url.slice('redis-cluster://'.length).replace(/\/.*$/, '');
    let username: string | undefined;
    let password: string | undefined;
    const at = rest.lastIndexOf('@');
    if (at !== -1) {
      const auth = rest.slice(0, at);
      rest = rest.slice(at + 1);
      const colon = auth.indexOf(':');
      username = colon === -1 ? undefined : decodeURIComponent(auth.slice(0, colon)) || undefined;
      password = decodeURIComponent(colon === -1 ? auth : auth.slice(colon + 1));
    }
    const seeds = rest.split(',').map((h) => {
      const i = h.lastIndexOf(':');
      return { host: h.slice(0, i), port: Number(h.slice(i + 1)) };
    });
    return { url, cluster: true, seeds, ...(username ? { username } : {}), ...(password ? { password } : {}) };
  }
  if (!cluster) return { url, cluster: false, seeds: [] };
  const u = new URL(url);
  return {
    url,
    cluster: true,
    seeds: [{ host: u.hostname, port: Number(u.port || 6379) }],
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

function asTarget(t: RedisTarget | string): RedisTarget {
  return typeof t === 'string' ? redisTarget(t) : t;
}

function clusterClient(t: RedisTarget, opts: ClusterOptions, redisOptions: RedisOptions): Redis {
  const auth = { ...(t.username ? { username: t.username } : {}), ...(t.password ? { password: t.password } : {}) };
  const c = new Cluster(t.seeds, {
    clusterRetryStrategy: retryDelay,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    retryDelayOnMoved: 50,
    slotsRefreshInterval: 1000,
    lazyConnect: true,
    ...opts,
    redisOptions: { ...redisOptions, ...auth },
  });
  return c as unknown as Redis;
}

/** True when this client is ioredis' Cluster client. */
export function isCluster(r: Redis): boolean {
  return (r as unknown as { isCluster?: boolean }).isCluster === true;
}

/**
 * Which master serves this key (its "host:port"), as the client knows the
 * slot map now; '' on one endpoint. Commands grouped by it go out as one
 * pipeline per master.
 */
export function ownerOf(r: Redis, key: string): string {
  if (!isCluster(r)) return '';
  const slots = (r as unknown as Cluster).slots;
  return slots[slotOf(key)]?.[0] ?? '?';
}

/**
 * The cluster client's own connection to a master (an ownerOf() answer), to
 * send it commands the caller routed itself; undefined when the client has
 * none (a master it does not know yet, or one it dropped). The client
 * redirects nothing sent on it: a MOVED or ASK reply comes back as an error.
 */
export function masterConnection(r: Redis, owner: string): Redis | undefined {
  if (!isCluster(r)) return r;
  const pool = (r as unknown as { connectionPool?: { getInstanceByKey(key: string): Redis | undefined } }).connectionPool;
  return pool?.getInstanceByKey(owner);
}

/** The parts of a connection a caller that watches ioredis' subscriber connections uses. */
export interface SubscriberConnection {
  readonly status: string;
  ping(): Promise<unknown>;
  ssubscribe(...channels: string[]): Promise<unknown>;
}

/**
 * Redis Cluster: the connection ioredis' sharded subscriber uses now for a
 * channel (the one of the master its slot maps to), null when it has none
 * (no subscriber for that master yet). ioredis replaces it, inside the
 * Cluster client and without a 'ready' there, when that master fails, is
 * replaced by its replica or gives the slot away: another object here means
 * messages may have been missed. undefined on one Redis.
 */
export function shardedSubscriberOf(r: Redis, channel: string): SubscriberConnection | null | undefined {
  if (!isCluster(r)) return undefined;
  const c = r as unknown as { slots: string[][]; shardedSubscribers?: { shardedSubscribers?: Map<string, { getInstance(): SubscriberConnection | null }> } };
  const node = c.slots[slotOf(channel)]?.[0];
  if (node === undefined) return null;
  return c.shardedSubscribers?.shardedSubscribers?.get(node)?.getInstance() ?? null;
}

/** Ask the cluster client to reload the slot map (after a redirection). */
export function refreshSlots(r: Redis): void {
  if (isCluster(r)) (r as unknown as Cluster).refreshSlotsCache();
}

/** A reply saying the command ran nowhere and belongs elsewhere or later (resharding, failover). */
export function isRedirect(err: Error): boolean {
  const m = err.message;
  return m.startsWith('MOVED') || m.startsWith('ASK') || m.startsWith('TRYAGAIN') || m.startsWith('CLUSTERDOWN') || m.startsWith('READONLY') || m.includes('slots allocation group');
}

/** A reply saying the script called by EVALSHA is not loaded (it did not run). */
export function isNoScript(err: Error): boolean {
  return err.message.startsWith('NOSCRIPT');
}

/** Reconnect delay: 50 ms doubling to 1 s. */
export function retryDelay(attempt: number): number {
  return Math.min(1000, 50 * 2 ** Math.min(attempt, 5));
}

/** A command connection: fails fast while down, reconnects forever. */
export function commandClient(target: RedisTarget | string, name: string, extra: RedisOptions = {}): Redis {
  const t = asTarget(target);
  if (t.cluster) {
    return clusterClient(t, { enableOfflineQueue: false, maxRedirections: 16 }, { connectionName: name, maxRetriesPerRequest: 0, connectTimeout: 3000, commandTimeout: 5000, ...extra });
  }
  return new Redis(t.url, {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: retryDelay,
    connectTimeout: 3000,
    commandTimeout: 5000,
    lazyConnect: true,
    ...extra,
  });
}

/**
 * A subscriber connection: reconnects forever; its users subscribe again
 * after a reconnect (afterResubscribe). ioredis' own resubscription
 * (autoResubscribe) is off: it sends SUBSCRIBE with no error handler, and a
 * connection closed before the reply (a node stopped right as Redis came
 * back) rejects it where nobody handles it, which ends a Node process
 * embedding the library. (On a Redis Cluster the option does not apply:
 * ioredis replaces a subscriber connection that dropped, never reconnects
 * it, and subscribes the new one itself, handling its errors.)
 */
export function subscriberClient(target: RedisTarget | string, name: string): Redis {
  const t = asTarget(target);
  if (t.cluster) {
    return clusterClient(t, { enableOfflineQueue: true, shardedSubscribers: true }, { connectionName: name, autoResubscribe: false, maxRetriesPerRequest: null, connectTimeout: 3000 });
  }
  return new Redis(t.url, {
    connectionName: name,
    autoResubscribe: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    retryStrategy: retryDelay,
    connectTimeout: 3000,
    lazyConnect: true,
  });
}

/**
 * Subscribe a subscriber connection that came back to channels() again,
 * then call fn once it has them: a PING sent after the SUBSCRIBE answered
 * (replies come in order), so lines published from then on reach us, and
 * anything read from Redis after fn starts is at least as new. A SUBSCRIBE
 * or PING that fails (the connection dropped again, or was closed) is left
 * to the next 'ready'. On a Redis Cluster ioredis subscribes its new
 * connections itself (see subscriberClient), after its 'ready': the PING
 * waits a turn, for those SUBSCRIBEs to be written.
 */
export function afterResubscribe(sub: Redis, channels: () => Iterable<string>, fn: () => void): () => void {
  const onReady = (): void => {
    if (!isCluster(sub)) {
      const list = [...channels()];
      if (list.length > 0) {
        sub.subscribe(...list).catch(() => {
          /* dropped again, or closed: the next 'ready' subscribes again */
        });
      }
    }
    setImmediate(() => {
      sub.ping().then(fn, () => {
        /* dropped again: the next 'ready' retries */
      });
    });
  };
  sub.on('ready', onReady);
  return () => {
    sub.off('ready', onReady);
  };
}

/** QUIT when connected (pending replies arrive first), then drop the connection; never waits on a Redis that is away. */
export async function closeClient(r: Redis): Promise<void> {
  if (r.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([r.quit().catch(() => {}), new Promise((res) => (timer = setTimeout(res, 1000)))]);
    clearTimeout(timer);
  }
  dropClient(r);
}

/**
 * Drop the connection now. A Cluster client whose slot refresh is under way
 * when it is disconnected starts its refresh timer again once that refresh
 * ends (ioredis), and the timer then re-arms itself every second forever,
 * keeping the process alive after a stop: its refreshes are ended first.
 */
export function dropClient(r: Redis): void {
  if (isCluster(r)) (r as unknown as { refreshSlotsCache: () => void }).refreshSlotsCache = () => {};
  r.disconnect();
}

/** Connect within timeoutMs or throw (start-up). */
export async function connectOrThrow(r: Redis, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      r.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Errors that mean "not executed, try again" rather than "Redis refused it". */
export function isConnectionError(err: Error): boolean {
  const m = err.message;
  return !('command' in err) || m.includes('Connection is closed') || m.includes('enableOfflineQueue') || m.includes('MaxRetriesPerRequest') || m.includes('timed out') || m.includes('ECONN') || m.includes('EPIPE') || m.includes('LOADING');
}
