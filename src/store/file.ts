// Embedded config store: the whole config in one JSON file under the data
// dir, written atomically (temp file, fsync, rename, fsync dir). A call
// resolves only after a write that includes its change is on disk; changes
// that arrive during a write are coalesced into the next one.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../errors.js';
import { MemoryStore } from './memory.js';
import type { AppRecord, StoreSnapshot } from './store.js';

interface FileShape {
  version: 1;
  apiKey: string | null;
  apps: AppRecord[];
}

export class FileStore extends MemoryStore {
  readonly path: string;
  readonly #dir: string;
  #writing: Promise<void> | null = null;
  #pending: Promise<void> | null = null;

  constructor(dataDir: string) {
    super();
    this.#dir = dataDir;
    this.path = join(dataDir, 'config.json');
  }

  override async load(): Promise<StoreSnapshot> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    let text: string | null = null;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError(`cannot read ${this.path}: ${(err as Error).message}`);
    }
    if (text !== null) {
      let data: FileShape;
      try {
        data = JSON.parse(text) as FileShape;
      } catch (err) {
        throw new StoreError(`${this.path} is not valid JSON: ${(err as Error).message}`);
      }
      this.apiKey = data.apiKey ?? null;
      this.apps = new Map((data.apps ?? []).map((a) => [a.id, a]));
    }
    return super.load();
  }

  protected override persist(): Promise<void> {
    // One write at a time; everything changed meanwhile goes into the next.
    if (this.#pending) return this.#pending;
    if (!this.#writing) {
      this.#writing = this.#write().finally(() => {
        this.#writing = null;
      });
      return this.#writing;
    }
    this.#pending = this.#writing.then(
      () => this.#next(),
      () => this.#next(),
    );
    return this.#pending;
  }

  #next(): Promise<void> {
    this.#pending = null;
    return this.persist();
  }

  async #write(): Promise<void> {
    const data: FileShape = { version: 1, apiKey: this.apiKey, apps: [...this.apps.values()] };
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(data));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    const dir = await open(this.#dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  override async close(): Promise<void> {
    while (this.#writing || this.#pending) await (this.#pending ?? this.#writing);
  }
}
