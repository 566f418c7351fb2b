// Completion detection by polling: read a value every intervalMs until a
// condition holds or a deadline passes (the figures are then lower bounds).
import { performance } from 'node:perf_hooks';

export interface PollOptions {
  intervalMs: number;
  /** Give up this long after t0. */
  deadlineMs: number;
  /** performance.now() at the start of the timed part (default: now). */
  t0?: number;
}

export interface Polled<T> {
  /** The last value read. */
  value: T;
  /** performance.now() right after the read that saw the condition (or the last read). */
  at: number;
  complete: boolean;
}

export async function pollUntil<T>(read: () => Promise<T> | T, done: (v: T) => boolean, opts: PollOptions): Promise<Polled<T>> {
  const deadline = (opts.t0 ?? performance.now()) + opts.deadlineMs;
  let value = await read();
  let at = performance.now();
  while (!done(value)) {
    if (at >= deadline) return { value, at, complete: false };
    await new Promise((r) => setTimeout(r, opts.intervalMs));
    value = await read();
    at = performance.now();
  }
  return { value, at, complete: true };
}

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
