// The one clock: the time (ms since the epoch) and timers. Every part whose
// behaviour depends on time takes one, so tests pass a fake and need no sleeps.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The part of a Clock a reader of the time needs (a test may pass just `{ now }`). */
export type TimeSource = Pick<Clock, 'now'>;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
