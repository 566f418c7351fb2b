// The failed-authentication count of distributed mode (SPEC 12: throttled
// per client address, however many nodes it tries): one hash per address in
// Redis, asked and counted by one script per request (AUTH_FAILURES_LUA, the
// window of access/throttle.ts), on its own hash slot of a Redis Cluster
// (the address is the key's hash tag). When Redis does not answer, the
// answer is null and the node decides by its own count.
import type { Redis } from 'ioredis';
import { authFailures } from '../redis/keys.js';
import type { Scripts } from '../redis/scripts.js';

/** What access/throttle.ts asks (its FailureWindow). */
interface Window {
  now: number;
  limit: number;
  slotMs: number;
  slots: number;
}

export class RedisAuthFailures {
  readonly #redis: Redis;

  /** `redis`: a command client with the scripts defined (defineScripts). */
  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async hit(address: string, fail: boolean, w: Window): Promise<number | null> {
    // not connected: commands would fail at once anyway (no offline queue)
    if (this.#redis.status !== 'ready') return null;
    try {
      const ms = await (this.#redis as unknown as Scripts).lpAuthFailures(authFailures(address), w.now, w.slotMs, w.slots, w.limit, fail ? '1' : '0');
      return Math.max(0, Number(ms));
    } catch {
      return null;
    }
  }
}
