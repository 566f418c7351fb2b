// The Redis deployments the distributed-mode suites run on: one redis-server,
// and a Redis Cluster of 3 masters (same tests, same assertions).
import { Redis } from 'ioredis';
import { startRedis } from './redis.js';
import { startRedisCluster } from './redis-cluster.js';

export interface RedisBackend {
  /** Suffix for suite names ('' for one Redis, so those keep their names). */
  suffix: string;
  start(): Promise<{ url: string; close(): Promise<void> }>;
}

export const redisBackends: readonly RedisBackend[] = [
  { suffix: '', start: () => startRedis() },
  { suffix: ' on a Redis Cluster of 3 masters', start: () => startRedisCluster({ masters: 3 }) },
];

/**
 * Direct connections to every server behind a test's Redis URL (one for
 * redis://, one per node for redis-cluster://), for commands that act on a
 * server rather than a key (CLIENT PAUSE, CONFIG SET). The caller disconnects them.
 */
export function serverClients(url: string): Redis[] {
  if (!url.startsWith('redis-cluster://')) return [new Redis(url)];
  return url
    .slice('redis-cluster://'.length)
    .split(',')
    .map((hp) => {
      const i = hp.lastIndexOf(':');
      return new Redis({ host: hp.slice(0, i), port: Number(hp.slice(i + 1)) });
    });
}
