// In-process config store: nothing survives a restart. For tests and for
// `--data-dir` being explicitly disabled; the embedded default is file.ts.
//
// Writes are serialized: each change is computed from the committed state
// (plus the changes queued ahead of it), persisted (file.ts writes the file),
// and only then committed to memory, so a write that fails leaves nothing
// behind, now or after a restart. Changes queued while a write is in flight
// go into the next write together (one fsync for many); if that write fails,
// every change in it fails, and so does every answer computed on top of them.
// After a commit is answered, afterCommit() may do housekeeping (file.ts
// compacts its journal) before the next write starts.
import { withoutApp, type AppRecord, type AppUpdate, type ConfigStore, type KeyChange, type KeyRecord, type KeyTaken, type StoreChange, type StoreSnapshot } from './store.js';

const clone = <T>(v: T): T => structuredClone(v);

/** The changes of one write, not committed yet. */
export interface StagedChanges {
  /** App id -> its new record, or null when deleted. */
  readonly apps: ReadonlyMap<string, AppRecord | null>;
  /** The new admin key; undefined when unchanged. */
  readonly apiKey: string | null | undefined;
  /** API key id -> its new record, or null when deleted. */
  readonly keys: ReadonlyMap<string, KeyRecord | null>;
}

class Stage implements StagedChanges {
  readonly apps = new Map<string, AppRecord | null>();
  apiKey: string | null | undefined = undefined;
  readonly keys = new Map<string, KeyRecord | null>();
  readonly #committed: ReadonlyMap<string, AppRecord>;
  readonly #committedKeys: ReadonlyMap<string, KeyRecord>;
  constructor(committed: ReadonlyMap<string, AppRecord>, committedKeys: ReadonlyMap<string, KeyRecord>) {
    this.#committed = committed;
    this.#committedKeys = committedKeys;
  }
  /** The API key as it will be once this write is committed. */
  key(id: string): KeyRecord | null {
    return this.keys.has(id) ? this.keys.get(id)! : (this.#committedKeys.get(id) ?? null);
  }
  /** Every API key as it will be once this write is committed. */
  *eachKey(): Iterable<KeyRecord> {
    for (const id of new Set([...this.#committedKeys.keys(), ...this.keys.keys()])) {
      const k = this.key(id);
      if (k) yield k;
    }
  }
  /** The app as it will be once this write is committed. */
  get(id: string): AppRecord | null {
    return this.apps.has(id) ? this.apps.get(id)! : (this.#committed.get(id) ?? null);
  }
  get changed(): boolean {
    return this.apps.size > 0 || this.apiKey !== undefined || this.keys.size > 0;
  }
}

interface Job {
  /** Stage this job's change (or throw); the value to resolve with once written. */
  apply(stage: Stage): unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export class MemoryStore implements ConfigStore {
  protected apps = new Map<string, AppRecord>();
  protected apiKey: string | null = null;
  protected keys = new Map<string, KeyRecord>();
  readonly #queue: Job[] = [];
  #busy = false;
  readonly #idle: Array<() => void> = [];

  async load(): Promise<StoreSnapshot> {
    return { apiKey: this.apiKey, apps: [...this.apps.values()].map(clone), keys: [...this.keys.values()].map(clone) };
  }

  update<T>(id: string, fn: (current: AppRecord | null) => AppUpdate<T>): Promise<{ record: AppRecord | null; result: T }> {
    return this.#enqueue((stage) => {
      const cur = stage.get(id);
      const { next, result } = fn(cur ? clone(cur) : null);
      if (next === undefined) return { record: cur ? clone(cur) : null, result };
      if (next === null) {
        if (cur) this.#stageDelete(stage, id);
        return { record: null, result };
      }
      const rec: AppRecord = { ...clone(next), id, rev: (cur?.rev ?? 0) + 1 };
      stage.apps.set(id, rec);
      return { record: clone(rec), result };
    });
  }
  /** Delete the app and take it out of every key in one write: a delete that fails changes no key, one that lands leaves no key naming the app. */
  #stageDelete(stage: Stage, id: string): void {
    stage.apps.set(id, null);
    for (const k of stage.eachKey()) {
      const changed = withoutApp(k, id);
      if (changed) stage.keys.set(k.id, changed);
    }
  }
  async putApp(app: AppRecord): Promise<void> {
    await this.update(app.id, () => ({ next: app, result: undefined }));
  }
  async deleteApp(id: string): Promise<void> {
    await this.update(id, () => ({ next: null, result: undefined }));
  }
  async getApp(id: string): Promise<AppRecord | null> {
    const a = this.apps.get(id);
    return a ? clone(a) : null;
  }
  async setApiKey(key: string): Promise<void> {
    await this.#enqueue((stage) => {
      stage.apiKey = key;
    });
  }
  async getKeys(): Promise<KeyRecord[]> {
    return [...this.keys.values()].map(clone);
  }
  updateKey(id: string, fn: (current: KeyRecord | null) => KeyRecord | null | undefined): Promise<KeyChange> {
    return this.#enqueue((stage) => {
      const cur = stage.key(id);
      const next = fn(cur ? clone(cur) : null);
      const before = cur ? clone(cur) : null;
      if (next === undefined) return { before, after: cur ? clone(cur) : null };
      if (next === null) {
        if (cur) stage.keys.set(id, null);
        return { before, after: null };
      }
      const rec: KeyRecord = { ...clone(next), id };
      stage.keys.set(id, rec);
      return { before, after: clone(rec) };
    });
  }
  createKey(rec: KeyRecord): Promise<KeyTaken | null> {
    return this.#enqueue((stage) => {
      if (stage.key(rec.id)) return 'id';
      for (const k of stage.eachKey()) if (k.name === rec.name) return 'name';
      stage.keys.set(rec.id, clone(rec));
      return null;
    });
  }
  async putKey(rec: KeyRecord): Promise<void> {
    await this.#enqueue((stage) => {
      stage.keys.set(rec.id, clone(rec));
    });
  }
  deleteKey(id: string): Promise<boolean> {
    return this.#enqueue((stage) => {
      if (!stage.key(id)) return false;
      stage.keys.set(id, null);
      return true;
    });
  }
  onChange(_listener: (change: StoreChange) => unknown): void {
    // one process: no other writer
  }
  /** Resolves once every queued change is written (or failed). */
  async close(): Promise<void> {
    if (this.#busy) await new Promise<void>((res) => this.#idle.push(res));
  }
  /** Make the committed state plus `changes` durable; nothing to do in memory. Throws when it cannot. */
  protected async persist(_changes: StagedChanges): Promise<void> {}
  /** After each commit (its callers answered), before the next write: housekeeping such as compaction. Must not throw. */
  protected async afterCommit(): Promise<void> {}

  /** Run `fn` with no write in flight and none starting until it is done (writes queued meanwhile wait). */
  protected async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#busy) await new Promise<void>((res) => this.#idle.push(res));
    this.#busy = true;
    try {
      return await fn();
    } finally {
      this.#busy = false;
      if (this.#queue.length > 0) {
        this.#busy = true;
        void this.#run();
      } else for (const res of this.#idle.splice(0)) res();
    }
  }

  #enqueue<R>(apply: (stage: Stage) => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ apply, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#busy) {
        this.#busy = true;
        void this.#run();
      }
    });
  }

  /** One write at a time; the jobs queued meanwhile are staged together and written by the next. */
  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const jobs = this.#queue.splice(0);
        const stage = new Stage(this.apps, this.keys);
        const outcomes: Array<{ job: Job; ok: boolean; value: unknown; needsWrite: boolean }> = [];
        for (const job of jobs) {
          let ok = true;
          let value: unknown;
          try {
            value = job.apply(stage);
          } catch (err) {
            ok = false;
            value = err;
          }
          // an answer computed once something is staged holds only if the write does
          outcomes.push({ job, ok, value, needsWrite: stage.changed });
        }
        let failure: { err: unknown } | null = null;
        if (stage.changed) {
          try {
            await this.persist(stage);
            for (const [id, rec] of stage.apps) {
              if (rec === null) this.apps.delete(id);
              else this.apps.set(id, rec);
            }
            if (stage.apiKey !== undefined) this.apiKey = stage.apiKey;
            for (const [id, rec] of stage.keys) {
              if (rec === null) this.keys.delete(id);
              else this.keys.set(id, rec);
            }
          } catch (err) {
            failure = { err };
          }
        }
        for (const o of outcomes) {
          if (failure && o.needsWrite) o.job.reject(failure.err);
          else if (o.ok) o.job.resolve(o.value);
          else o.job.reject(o.value);
        }
        if (stage.changed && !failure) await this.afterCommit();
      }
    } finally {
      this.#busy = false;
      for (const res of this.#idle.splice(0)) res();
    }
  }
}
