// Redis connections of distributed mode. Commands fail
// fast while Redis is unreachable (no ioredis offline queue; in-flight
// commands are rejected when the connection drops): every caller has its own
// policy (the line batch keeps a bounded queue, the API answers 503), and
// ioredis reconnects by itself.
import { Redis, type RedisOptions } from 'ioredis';

/** Reconnect delay: 50 ms doubling to 1 s. */
export function retryDelay(attempt: number): number {
  return Math.min(1000, 50 * 2 ** Math.min(attempt, 5));
}

/** A command connection: fails fast while down, reconnects forever. */
export function commandClient(url: string, name: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
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

/** A subscriber connection: resubscribes by itself after a reconnect. */
export function subscriberClient(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: name,
    autoResubscribe: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    retryStrategy: retryDelay,
    connectTimeout: 3000,
    lazyConnect: true,
  });
}

/**
 * Call fn once a subscriber connection that came back has its subscriptions
 * again. ioredis emits 'ready' before it resubscribes, so wait a tick (its
 * SUBSCRIBE commands are written) and for a PING sent after them (replies
 * come in order): lines published from then on reach us, and anything read
 * from Redis after fn starts is at least as new.
 */
export function afterResubscribe(sub: Redis, fn: () => void): () => void {
  const onReady = (): void => {
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
