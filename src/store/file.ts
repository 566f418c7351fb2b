// Embedded config store: the whole config in one JSON file under the data
// dir, written atomically (temp file, fsync, rename, fsync dir). A change is
// committed to memory only once a write that includes it is on disk (see
// memory.ts); a write that fails changes nothing and removes its temp file,
// and the caller gets a StoreError saying why the data dir cannot be written.
import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeSynced } from '../basics/files.js';
import { StoreError } from '../errors.js';
import type { Log } from '../obs/log.js';
import { MemoryStore, type StagedChanges } from './memory.js';
import type { AppRecord, KeyRecord, StoreSnapshot } from './store.js';

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
  readonly #dir: string;
  readonly #log: Log | null;
  /** Failed writes since the last one that worked (0: writes work). */
  #failures = 0;

  constructor(dataDir: string, opts: FileStoreOptions = {}) {
    super();
    this.#dir = dataDir;
    this.path = join(dataDir, 'config.json');
    this.#log = opts.log ?? null;
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
    }
    return super.load();
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
      await this.#write(this.#serialize(changes));
    } catch (err) {
      throw this.#failed(err);
    }
    if (this.#failures > 0) {
      this.#log?.info({ at: 'store.write_recovered', path: this.path, failedWrites: this.#failures }, 'the data dir can be written again');
      this.#failures = 0;
    }
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
