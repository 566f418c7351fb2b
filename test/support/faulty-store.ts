// A FileStore whose writes fail on demand as a full, read-only or forbidden
// disk makes them fail (after part of the journal record or temp file is written), and a pino
// log that keeps its records for assertions.
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { createLog, type Log } from '../../src/obs/log.js';
import { FileStore } from '../../src/store/file.js';

const MESSAGES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
};

export class FaultyFileStore extends FileStore {
  /** The errno the next writes fail with; null: writes work. */
  failWith: string | null = null;
  /** Which writes fail once failWith is set (given what the write holds); null: every one. */
  failOnly: ((written: string) => boolean) | null = null;

  /** Whether this write fails. */
  #fails(written: Buffer | string): boolean {
    return this.failWith !== null && (this.failOnly === null || this.failOnly(written.toString()));
  }

  protected override async appendJournal(fh: FileHandle, data: Buffer, position: number): Promise<void> {
    if (!this.#fails(data)) return super.appendJournal(fh, data, position);
    // half the record lands, then the write fails
    await super.appendJournal(fh, data.subarray(0, Math.floor(data.length / 2)), position);
    throw this.#error();
  }

  protected override async writeTemp(path: string, text: string): Promise<void> {
    if (!this.#fails(text)) return super.writeTemp(path, text);
    // what a full disk does: part of the file is written, then the write fails
    await super.writeTemp(path, text.slice(0, Math.floor(text.length / 2)));
    throw this.#error();
  }

  #error(): Error {
    const code = this.failWith!;
    return Object.assign(new Error(`${code}: ${MESSAGES[code] ?? 'failed'}, write`), { code, syscall: 'write' });
  }
}

export interface LogRecord {
  level: number;
  at?: string;
  [k: string]: unknown;
}

/** A real pino log (same redaction as production) whose records land in `records`. */
export function recordingLog(level = 'info'): { log: Log; records: LogRecord[]; text(): string } {
  const records: LogRecord[] = [];
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line) as LogRecord);
      cb();
    },
  });
  return { log: createLog(level, stream), records, text: () => text };
}
