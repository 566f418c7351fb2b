// The failed-auth throttle under attack, for the unit test (one node, its own
// count) and the Redis test (several nodes, one shared count): schedules of
// wrong keys, and the most let through in any window.
import type { AuthThrottle } from '../../src/access/throttle.js';

/**
 * Wrong keys from one address at these times (ms), sent to the throttles in
 * turn (one per node): the times admitted (answered 401, not 429), and the
 * most admitted in any windowMs. `set` moves the throttles' clock.
 */
export async function mostInAWindow(nodes: readonly AuthThrottle[], at: readonly number[], set: (ms: number) => void, windowMs: number): Promise<{ admitted: number[]; most: number }> {
  const admitted: number[] = [];
  for (const [i, ms] of at.entries()) {
    set(ms);
    if ((await nodes[i % nodes.length]!.admit('10.1.2.3', false)) === 0) admitted.push(ms);
  }
  let most = 0;
  for (let i = 0, j = 0; i < admitted.length; i++) {
    while (admitted[i]! - admitted[j]! >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return { admitted, most };
}

/** Attack schedules: one failure, then a burst just before the first leaves a fixed window and one just after; failures every 10 ms for 3 minutes; random ones. */
export function attackSchedules(): number[][] {
  const edge = [5_000, ...Array.from({ length: 19 }, (_, i) => 64_000 + i), ...Array.from({ length: 200 }, (_, i) => 65_000 + i * 7)];
  const steady = Array.from({ length: 18_000 }, (_, i) => 1_000 + i * 10);
  let seed = 7;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const scattered: number[] = [];
  for (let ms = 0; ms < 300_000; ms += Math.floor(random() * 4000)) scattered.push(ms);
  return [edge, steady, scattered];
}

