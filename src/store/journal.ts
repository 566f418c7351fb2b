// The embedded store's change journal: `<data dir>/config.journal`, beside
// the snapshot `config.json`. One record per committed write (the changes
// of one create/update/delete, or of several written together when requests
// overlap), appended and fsynced before the write is answered; replayed over
// the snapshot at start. A record is one line:
//
//   <16 hex: SHA-256 of the JSON, first 8 bytes> <JSON>\n
//
// with the JSON `{"apps":[records set],"deleted":[app ids],"keys":[records
// set],"deletedKeys":[key ids]}`. Records set whole values, so replaying a
// journal over a snapshot that already holds it changes nothing (a crash
// between a compaction's snapshot and the journal's truncation is harmless).
//
// A last record that is incomplete or fails its checksum was cut by a crash
// mid-write (it was never answered): it is dropped and the file truncated.
// A damaged record with good ones after it is not a crash: the start stops.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { StoreError } from '../errors.js';
import type { AppRecord, KeyRecord } from './store.js';

export interface JournalRecord {
  apps: AppRecord[];
  deleted: string[];
  keys: KeyRecord[];
  deletedKeys: string[];
}

export interface JournalRead {
  records: JournalRecord[];
  /** Bytes of the good records (the file's length once a torn tail is cut). */
  goodBytes: number;
  /** Bytes after the good records (a record cut by a crash); 0 when none. */
  tornBytes: number;
}

const HASH_HEX = 16;

function digest(json: string): string {
  return createHash('sha256').update(json).digest('hex').slice(0, HASH_HEX);
}

/** One record as the line appended to the journal. */
export function encodeRecord(rec: JournalRecord): string {
  const json = JSON.stringify(rec);
  return `${digest(json)} ${json}\n`;
}

/** Why a line is not a record, or null when it is one (then `out` holds it). */
function decodeLine(line: string, out: { rec: unknown }): string | null {
  if (line.length < HASH_HEX + 2 || line[HASH_HEX] !== ' ') return 'no checksum';
  const json = line.slice(HASH_HEX + 1);
  if (digest(json) !== line.slice(0, HASH_HEX)) return 'checksum mismatch';
  try {
    out.rec = JSON.parse(json);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  return null;
}

/**
 * Read and check the journal at `path` (missing: empty). `check` validates a
 * parsed record's shape (throws a StoreError naming the field). Throws a
 * StoreError naming the record when a damaged record is followed by others.
 */
export async function readJournal(path: string, check: (rec: unknown, at: string) => JournalRecord): Promise<JournalRead> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], goodBytes: 0, tornBytes: 0 };
    throw new StoreError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const records: JournalRecord[] = [];
  let at = 0;
  let n = 0;
  while (at < buf.length) {
    const nl = buf.indexOf(0x0a, at);
    // no newline: the last write never finished
    if (nl === -1) break;
    n++;
    const parsed = { rec: null as unknown };
    const why = decodeLine(buf.toString('utf8', at, nl), parsed);
    if (why !== null) {
      // the last line: cut by a crash (the length grew before the data landed)
      if (nl + 1 === buf.length) break;
      throw new StoreError(`${path}: record ${n} (at byte ${at}) is damaged (${why}) and records follow it, so this is not a write cut short by a crash; logplane will not start on it. Move the file away to start from config.json alone (the changes recorded in it are then lost)`);
    }
    records.push(check(parsed.rec, `${path}: record ${n}`));
    at = nl + 1;
  }
  return { records, goodBytes: at, tornBytes: buf.length - at };
}

/** Appends records durably; keeps the file's good length so that a failed append leaves no partial record behind. */
export class JournalWriter {
  readonly path: string;
  /** Bytes of good records in the file. */
  size: number;
  /** A failed append may have left bytes past `size` that could not be cut yet. */
  #dirty = false;
  readonly #append: (fh: FileHandle, data: Buffer, position: number) => Promise<void>;

  constructor(path: string, size: number, append: (fh: FileHandle, data: Buffer, position: number) => Promise<void>) {
    this.path = path;
    this.size = size;
    this.#append = append;
  }

  /** Append `text` at the good end and fsync; on failure the file is cut back to its good length (or will be before the next append). */
  async append(text: string): Promise<{ created: boolean }> {
    const data = Buffer.from(text, 'utf8');
    const created = this.size === 0;
    const fh = await open(this.path, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      if (this.#dirty) {
        await fh.truncate(this.size);
        this.#dirty = false;
      }
      try {
        await this.#append(fh, data, this.size);
        await fh.datasync();
      } catch (err) {
        await fh.truncate(this.size).catch(() => {
          this.#dirty = true;
        });
        throw err;
      }
      this.size += data.length;
    } finally {
      await fh.close();
    }
    return { created };
  }

  /** Cut the file to `size` bytes (a torn tail at start, or emptied once its records are in a snapshot). */
  async cut(size: number): Promise<void> {
    const fh = await open(this.path, 'r+').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' && size === 0 ? null : Promise.reject(err)));
    if (fh === null) {
      this.size = 0;
      return;
    }
    try {
      await fh.truncate(size);
      await fh.datasync();
      this.size = size;
      this.#dirty = false;
    } finally {
      await fh.close();
    }
  }
}

/** Write all of `data` at `position` (the default append of JournalWriter). */
export async function writeAt(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let off = 0; off < data.length; ) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
    off += bytesWritten;
  }
}
