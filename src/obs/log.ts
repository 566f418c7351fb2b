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
