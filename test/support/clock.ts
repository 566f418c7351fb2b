// A clock for drain tests: timers fire only when the test says so, and time
// moves with them (no sleeps).
import type { Clock } from '../../src/basics/clock.js';

export class ManualClock implements Clock {
  t = 1_700_000_000_000;
  readonly timers: Array<{ fn: () => void; ms: number }> = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const h = { fn, ms };
    this.timers.push(h);
    return h;
  }
  clearTimeout(h: unknown): void {
    const i = this.timers.indexOf(h as { fn: () => void; ms: number });
    if (i !== -1) this.timers.splice(i, 1);
  }
  /** Fire the next timer; returns its delay. */
  fire(): number {
    const h = this.timers.shift()!;
    this.t += h.ms;
    h.fn();
    return h.ms;
  }
}
