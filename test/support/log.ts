// A real pino log whose lines a test can read back as objects: what an
// operator would see in the log.
import { Writable } from 'node:stream';
import { createLog, type Log } from '../../src/obs/log.js';

type Entry = Record<string, unknown> & { level: number; msg: string };

export interface CapturedLog {
  log: Log;
  /** Every line written so far, parsed (grows as the log is written). */
  lines: Entry[];
  /** The same lines (a copy). */
  entries(): Entry[];
  /** Lines with this `at` key. */
  at(key: string): Entry[];
}

/** pino levels: 40 is warn. */
export const WARN = 40;

export function captureLog(level = 'info'): CapturedLog {
  const lines: Entry[] = [];
  let rest = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop()!;
      for (const p of parts) if (p) lines.push(JSON.parse(p) as Entry);
      cb();
    },
  });
  return { log: createLog(level, sink), lines, entries: () => [...lines], at: (key) => lines.filter((e) => e['at'] === key) };
}
