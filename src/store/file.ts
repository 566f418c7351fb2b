// Embedded config store: a snapshot `config.json` under the data dir, and a
// journal `config.journal` of the changes since (journal.ts). A change is
// one record appended to the journal and fsynced before it is committed to
// memory and answered (see memory.ts); when the journal outgrows the
// snapshot (and MIN_COMPACT_BYTES), the whole state is written as a new
// snapshot (temp file, fsync, rename, fsync dir) and the journal emptied, so
// the bytes written stay proportional to the changes made (not to changes x
// apps, as rewriting the snapshot on each change would). The admin key is
// always written with a snapshot, so `config.json` holds the current key for
// the CLI to find. A write that fails changes nothing (a partial record is
// cut off) and the caller gets a StoreError saying why the data dir cannot
// be written. A data dir of an earlier version (config.json, no journal)
// starts as it is: its config.json is the snapshot.
import { mkdir, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeSynced } from '../basics/files.js';
import { StoreError } from '../errors.js';
import type { Log } from '../obs/log.js';
import { encodeRecord, JournalWriter, readJournal, writeAt, type JournalRecord } from './journal.js';
import { MemoryStore, type StagedChanges } from './memory.js';
import type { AppRecord, KeyRecord, StoreSnapshot } from './store.js';

/** The journal is compacted into a snapshot once it is larger than the snapshot and than this. */
export const MIN_COMPACT_BYTES = 1 << 20;

/** Apps serialized between two yields to the event loop while a snapshot is built. */
const SNAPSHOT_SLICE = 1000;

interface FileShape {
  version: 1;
  apiKey: string | null;
  apps: AppRecord[];
  /** API keys, as hashes (SPEC 12); absent in files written before keys existed. */
  keys?: KeyRecord[];
}

export interface FileStoreOptions {
  /** Where a data dir that cannot be written is reported (once per outage). */
  log?: Log;
  /** The journal is never compacted below this size (default MIN_COMPACT_BYTES; tests set it low). */
  minCompactBytes?: number;
}

/** Temp files of a write: `config.json.<pid>.tmp`. */
const TEMP = /^config\.json\.\d+\.tmp$/;

/** Why a write failed, in words a client can act on (no path). */
const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  ENOENT: 'the data dir is missing',
};

const NO_CHANGES: StagedChanges = { apps: new Map(), apiKey: undefined, keys: new Map() };

export class FileStore extends MemoryStore {
  readonly path: string;
  /** `config.journal`: the changes since the snapshot. */
  readonly journalPath: string;
  readonly #dir: string;
  readonly #log: Log | null;
  readonly #journal: JournalWriter;
  /** Bytes of the snapshot on disk (the journal is compacted once it is larger). */
  #snapshotBytes = 0;
  readonly #minCompact: number;
  /** Journal size at which the next compaction is tried (later after a failed one). */
  #compactAt: number;
  /** Failed writes since the last one that worked (0: writes work). */
  #failures = 0;

  constructor(dataDir: string, opts: FileStoreOptions = {}) {
    super();
    this.#dir = dataDir;
    this.path = join(dataDir, 'config.json');
    this.journalPath = join(dataDir, 'config.journal');
    this.#log = opts.log ?? null;
    this.#minCompact = opts.minCompactBytes ?? MIN_COMPACT_BYTES;
    this.#compactAt = this.#minCompact;
    this.#journal = new JournalWriter(this.journalPath, 0, (fh, data, position) => this.appendJournal(fh, data, position));
  }

  override async load(): Promise<StoreSnapshot> {
    let text: string | null = null;
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await this.#removeStaleTemps();
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError(`cannot read ${this.path}: ${(err as Error).message}`);
    }
    if (text !== null) {
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (err) {
        throw new StoreError(`${this.path} is not valid JSON: ${(err as Error).message}`);
      }
      const shape = checkShape(data, this.path);
      this.apiKey = shape.apiKey;
      this.apps = new Map(shape.apps.map((a) => [a.id, a]));
      this.keys = new Map((shape.keys ?? []).map((k) => [k.id, k]));
      this.#snapshotBytes = Buffer.byteLength(text);
    }
    const journal = await readJournal(this.journalPath, checkRecord);
    for (const r of journal.records) this.#replay(r);
    this.#journal.size = journal.goodBytes;
    if (journal.tornBytes > 0) {
      await this.#journal.cut(journal.goodBytes).catch((err: Error) => {
        throw new StoreError(`cannot cut the torn last record of ${this.journalPath}: ${err.message}`);
      });
      this.#log?.warn({ at: 'store.journal_torn', path: this.journalPath, bytes: journal.tornBytes, records: journal.records.length }, 'dropped a journal record cut short by a crash (it was never acknowledged)');
    }
    this.#compactAt = Math.max(this.#minCompact, this.#snapshotBytes);
    return super.load();
  }

  #replay(r: JournalRecord): void {
    for (const a of r.apps) this.apps.set(a.id, a);
    for (const id of r.deleted) this.apps.delete(id);
    for (const k of r.keys) this.keys.set(k.id, k);
    for (const id of r.deletedKeys) this.keys.delete(id);
  }

  /** Temp files left by a crash or a failed write hold every secret: remove them. */
  async #removeStaleTemps(): Promise<void> {
    for (const name of await readdir(this.#dir)) {
      if (!TEMP.test(name)) continue;
      const path = join(this.#dir, name);
      await unlink(path).then(
        () => this.#log?.info({ at: 'store.stale_temp_removed', path }, 'removed a temp file left by an earlier write'),
        (err: Error) => this.#log?.warn({ at: 'store.stale_temp_kept', path, err: err.message }, 'could not remove a temp file left by an earlier write'),
      );
    }
  }

  protected override async persist(changes: StagedChanges): Promise<void> {
    try {
      if (changes.apiKey !== undefined) {
        // the admin key lives in the snapshot, where the CLI reads it
        await this.#snapshot(this.#serialize(changes));
      } else {
        const { created } = await this.#journal.append(encodeRecord(journalRecord(changes)));
        if (created) await syncDir(this.#dir);
      }
    } catch (err) {
      throw this.#failed(err);
    }
    if (this.#failures > 0) {
      this.#log?.info({ at: 'store.write_recovered', path: this.path, failedWrites: this.#failures }, 'the data dir can be written again');
      this.#failures = 0;
    }
  }

  /** After a commit: fold the journal into a new snapshot once it outgrows the old one. */
  protected override async afterCommit(): Promise<void> {
    if (this.#journal.size >= this.#compactAt) await this.#compact();
  }

  /**
   * Write the committed state as the snapshot and empty the journal. The
   * changes are already durable in the journal, so a failure here fails no
   * request: it is logged and tried again once the journal has grown more.
   */
  async #compact(): Promise<void> {
    try {
      await this.#snapshot(await this.#serializeSliced());
    } catch (err) {
      this.#compactAt = this.#journal.size + this.#minCompact;
      this.#log?.warn({ at: 'store.compact_failed', path: this.path, code: (err as NodeJS.ErrnoException).code, err: (err as Error).message }, 'could not compact the config journal into a snapshot; changes are still journaled');
    }
  }

  /** Resolves once every queued change is written; then a journal is folded into the snapshot (a clean stop leaves config.json whole). */
  override async close(): Promise<void> {
    await super.close();
    await this.exclusive(async () => {
      if (this.#journal.size > 0) await this.#compact();
    });
  }

  /** Replace the snapshot with `text` (the whole state) and empty the journal. */
  async #snapshot(text: string): Promise<void> {
    await this.#write(text);
    this.#snapshotBytes = Buffer.byteLength(text);
    this.#compactAt = Math.max(this.#minCompact, this.#snapshotBytes);
    // a crash before this replays the journal over a snapshot that holds it: no change
    await this.#journal.cut(0).catch((err: Error) => {
      this.#log?.warn({ at: 'store.journal_cut_failed', path: this.journalPath, err: err.message }, 'could not empty the config journal after a snapshot; it is replayed harmlessly at start');
    });
  }

  /** The committed state with `changes` applied, as the file's text. */
  #serialize(changes: StagedChanges): string {
    const apps: AppRecord[] = [];
    for (const [id, rec] of this.apps) {
      const next = changes.apps.has(id) ? changes.apps.get(id)! : rec;
      if (next) apps.push(next);
    }
    for (const [id, rec] of changes.apps) if (rec && !this.apps.has(id)) apps.push(rec);
    const keys: KeyRecord[] = [];
    for (const [id, rec] of this.keys) {
      const next = changes.keys.has(id) ? changes.keys.get(id)! : rec;
      if (next) keys.push(next);
    }
    for (const [id, rec] of changes.keys) if (rec && !this.keys.has(id)) keys.push(rec);
    const data: FileShape = { version: 1, apiKey: changes.apiKey !== undefined ? changes.apiKey : this.apiKey, apps, keys };
    return JSON.stringify(data);
  }

  /** The committed state as the file's text, built a slice of apps at a time so that a large store does not stall the event loop. */
  async #serializeSliced(): Promise<string> {
    const apps = [...this.apps.values()];
    const parts: string[] = [];
    for (let i = 0; i < apps.length; i += SNAPSHOT_SLICE) {
      parts.push(apps.slice(i, i + SNAPSHOT_SLICE).map((a) => JSON.stringify(a)).join(','));
      await new Promise<void>((r) => setImmediate(r));
    }
    const head = JSON.stringify({ version: 1, apiKey: this.apiKey }).slice(0, -1);
    return `${head},"apps":[${parts.join(',')}],"keys":${JSON.stringify([...this.keys.values()])}}`;
  }

  async #write(text: string, restoring = false): Promise<void> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    let renamed = false;
    try {
      await this.writeTemp(tmp, text);
      await rename(tmp, this.path);
      renamed = true;
      await syncDir(this.#dir);
    } catch (err) {
      if (!renamed) await unlink(tmp).catch(() => {});
      // the new file is in place but may not survive a crash: put the committed state back
      else if (!restoring) await this.#write(this.#serialize(NO_CHANGES), true).catch(() => {});
      throw err;
    }
  }

  /** Write and fsync the temp file (mode 0600). A hook for tests that inject write failures. */
  protected async writeTemp(path: string, text: string): Promise<void> {
    await writeSynced(path, text);
  }

  /** Write one journal record at `position` (fsynced by the caller). A hook for tests that inject write failures. */
  protected async appendJournal(fh: FileHandle, data: Buffer, position: number): Promise<void> {
    await writeAt(fh, data, position);
  }

  /** A failed write: logged once per outage (with the path), answered 503 (without it). */
  #failed(err: unknown): StoreError {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    const reason = REASONS[code] ?? `error ${code}`;
    if (this.#failures++ === 0) {
      this.#log?.error({ at: 'store.write_failed', path: this.path, code, err: (err as Error).message }, 'the data dir cannot be written; config changes are refused until it can');
    }
    return new StoreError(`the data dir cannot be written (${reason}); nothing was changed`, 'data_dir_unwritable');
  }
}

/** The journal record of one write. */
function journalRecord(changes: StagedChanges): JournalRecord {
  const rec: JournalRecord = { apps: [], deleted: [], keys: [], deletedKeys: [] };
  for (const [id, a] of changes.apps) {
    if (a) rec.apps.push(a);
    else rec.deleted.push(id);
  }
  for (const [id, k] of changes.keys) {
    if (k) rec.keys.push(k);
    else rec.deletedKeys.push(id);
  }
  return rec;
}

/** A parsed journal record, checked as the snapshot is (`at` names the record). */
function checkRecord(data: unknown, at: string): JournalRecord {
  const shape = checkShape(data, at);
  const ids = (field: 'deleted' | 'deletedKeys'): string[] => {
    const v = (data as Record<string, unknown>)[field] ?? [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new StoreError(`${at}: ${field} must be an array of ids`);
    return v as string[];
  };
  return { apps: shape.apps, deleted: ids('deleted'), keys: shape.keys ?? [], deletedKeys: ids('deletedKeys') };
}

/** The parsed file, checked field by field: a wrong shape names the file and the field. */
function checkShape(data: unknown, file: string): FileShape {
  const bad = (field: string, why: string): never => {
    throw new StoreError(`${file}: ${field} ${why}`);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const str = (o: Record<string, unknown>, k: string, at: string): void => {
    if (typeof o[k] !== 'string') bad(`${at}.${k}`, 'must be a string');
  };
  if (!isObject(data)) return bad('the top level', 'must be a JSON object');
  if (data['version'] !== undefined && data['version'] !== 1) bad('version', `must be 1 (found ${JSON.stringify(data['version'])})`);
  const apiKey = data['apiKey'] ?? null;
  if (apiKey !== null && typeof apiKey !== 'string') return bad('apiKey', 'must be a string or null');
  const apps = data['apps'] ?? [];
  if (!Array.isArray(apps)) return bad('apps', 'must be an array');
  const seen = new Set<string>();
  apps.forEach((a: unknown, i) => {
    const at = `apps[${i}]`;
    if (!isObject(a)) return bad(at, 'must be an object');
    for (const k of ['id', 'uuid', 'createdAt', 'updatedAt']) str(a, k, at);
    if (seen.has(a['id'] as string)) bad(`${at}.id`, `repeats ${JSON.stringify(a['id'])}`);
    seen.add(a['id'] as string);
    if (a['rev'] !== undefined && !Number.isSafeInteger(a['rev'])) bad(`${at}.rev`, 'must be a whole number');
    const tokens = a['tokens'];
    if (!Array.isArray(tokens)) return bad(`${at}.tokens`, 'must be an array');
    tokens.forEach((t: unknown, j) => {
      if (!isObject(t)) return bad(`${at}.tokens[${j}]`, 'must be an object');
      for (const k of ['token', 'name', 'createdAt']) str(t, k, `${at}.tokens[${j}]`);
    });
    const drains = a['drains'];
    if (!Array.isArray(drains)) return bad(`${at}.drains`, 'must be an array');
    drains.forEach((d: unknown, j) => {
      if (!isObject(d)) return bad(`${at}.drains[${j}]`, 'must be an object');
      for (const k of ['id', 'token', 'url', 'createdAt', 'updatedAt']) str(d, k, `${at}.drains[${j}]`);
      const f = d['filter'];
      if (f !== undefined) {
        if (!isObject(f)) return bad(`${at}.drains[${j}].filter`, 'must be an object');
        for (const k of Object.keys(f)) if (k !== 'source' && k !== 'dyno' && k !== 'grep') bad(`${at}.drains[${j}].filter.${k}`, 'is not a filter field');
        for (const k of Object.keys(f)) str(f, k, `${at}.drains[${j}].filter`);
      }
    });
  });
  const keys = data['keys'] ?? [];
  if (!Array.isArray(keys)) return bad('keys', 'must be an array');
  keys.forEach((k: unknown, i) => {
    const at = `keys[${i}]`;
    if (!isObject(k)) return bad(at, 'must be an object');
    for (const f of ['id', 'hash', 'name', 'role', 'createdAt', 'updatedAt']) str(k, f, at);
    if (!Array.isArray(k['apps']) || !k['apps'].every((a) => typeof a === 'string')) bad(`${at}.apps`, 'must be an array of app ids');
  });
  return { version: 1, apiKey, apps: apps as AppRecord[], keys: keys as KeyRecord[] };
}
