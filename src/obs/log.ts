// Our own logs: pino, one JSON object per event with a stable `at` key.
// Never the content of users' lines at info level, never tokens or keys.
import { pino, type Logger } from 'pino';

export type Log = Logger;

export function createLog(level: string, dest: NodeJS.WritableStream | number = 2): Log {
  const stream = typeof dest === 'number' ? pino.destination({ fd: dest, sync: false }) : dest;
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['token', 'apiKey', 'key', 'authorization', '*.token', '*.authorization'], censor: '[redacted]' },
    },
    stream,
  );
}

/** Logger that drops everything (tests). */
export function silentLog(): Log {
  return pino({ level: 'silent' });
}

/** Timers for RateLimitedLog; tests pass manual ones. */
export interface LogTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
const realTimers: LogTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Held {
  timer: unknown;
  /** Events not written since the last line. */
  suppressed: number;
  /** The last of them. */
  fields: Record<string, unknown>;
  msg: string;
}

/**
 * Warnings that bad input could repeat without end (one per garbage
 * connection...): at most one line per key per interval. The first event of
 * a quiet key is written at once with `suppressed: 0`; later ones within the
 * interval are only counted, and when it ends one line carries the last
 * one's fields with `suppressed: <how many were not written>` and opens the
 * next interval, so a steady flood writes one line per interval and a burst
 * two. Counting every event stays the metrics' job.
 */
export class RateLimitedLog {
  readonly #log: Log;
  readonly #intervalMs: number;
  readonly #timers: LogTimers;
  readonly #held = new Map<string, Held>();

  constructor(log: Log, opts: { intervalMs?: number; timers?: LogTimers } = {}) {
    this.#log = log;
    this.#intervalMs = opts.intervalMs ?? 10_000;
    this.#timers = opts.timers ?? realTimers;
  }

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const h = this.#held.get(key);
    if (h) {
      h.suppressed++;
      h.fields = fields;
      h.msg = msg;
      return;
    }
    this.#log.warn({ ...fields, suppressed: 0 }, msg);
    this.#hold(key);
  }

  /** Write what is held back and stop the timers. */
  close(): void {
    for (const [key, h] of this.#held) {
      this.#timers.clearTimeout(h.timer);
      this.#held.delete(key);
      this.#flush(h);
    }
  }

  #hold(key: string): void {
    const h: Held = { timer: null, suppressed: 0, fields: {}, msg: '' };
    h.timer = this.#timers.setTimeout(() => {
      this.#held.delete(key);
      if (h.suppressed > 0) {
        this.#flush(h);
        this.#hold(key);
      }
    }, this.#intervalMs);
    this.#held.set(key, h);
  }

  #flush(h: Held): void {
    if (h.suppressed > 0) this.#log.warn({ ...h.fields, suppressed: h.suppressed }, `${h.msg} (${h.suppressed} not logged since the last line)`);
  }
}
