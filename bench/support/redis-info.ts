// Readings of a Redis server from INFO.
import type { Redis } from 'ioredis';

/** CPU seconds the server has used, user + system (INFO cpu). */
export async function redisCpu(r: Redis): Promise<number> {
  const text = await r.info('cpu');
  const n = (k: string): number => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return n('used_cpu_sys') + n('used_cpu_user');
}
