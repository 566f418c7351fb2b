// A real pino log whose lines the test can read back as objects.
import { Writable } from 'node:stream';
import { createLog, type Log } from '../../src/obs/log.js';

export interface CapturedLog {
  log: Log;
  /** Every line written so far, parsed. */
  lines: Array<Record<string, unknown> & { level: number; msg: string }>;
}

/** pino levels: 40 is warn. */
export const WARN = 40;

export function captureLog(level = 'info'): CapturedLog {
  const lines: CapturedLog['lines'] = [];
  let rest = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop()!;
      for (const p of parts) if (p) lines.push(JSON.parse(p));
      cb();
    },
  });
  return { log: createLog(level, sink), lines };
}
