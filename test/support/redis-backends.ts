// The Redis deployments the distributed-mode suites run on: one redis-server,
// and a Redis Cluster of 3 masters (same tests, same assertions).
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
