// A logger whose entries a test can read: what an operator would see in the log.
import { Writable } from 'node:stream';
import { createLog, type Log } from '../../src/obs/log.js';

export interface CapturedLog {
  log: Log;
  entries(): Array<Record<string, unknown>>;
  /** Entries with this `at` key. */
  at(key: string): Array<Record<string, unknown>>;
}

export function captureLog(level = 'info'): CapturedLog {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const entries = (): Array<Record<string, unknown>> => lines.join('').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log: createLog(level, sink), entries, at: (key) => entries().filter((e) => e['at'] === key) };
}

