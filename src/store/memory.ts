// In-process config store: nothing survives a restart. For tests and for
// `--data-dir` being explicitly disabled; the embedded default is file.ts.
import type { AppRecord, ConfigStore, StoreChange, StoreSnapshot } from './store.js';

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryStore implements ConfigStore {
  protected apps = new Map<string, AppRecord>();
  protected apiKey: string | null = null;

  async load(): Promise<StoreSnapshot> {
    return { apiKey: this.apiKey, apps: [...this.apps.values()].map(clone) };
  }
  async putApp(app: AppRecord): Promise<void> {
    this.apps.set(app.id, clone(app));
    await this.persist();
  }
  async deleteApp(id: string): Promise<void> {
    this.apps.delete(id);
    await this.persist();
  }
  async getApp(id: string): Promise<AppRecord | null> {
    const a = this.apps.get(id);
    return a ? clone(a) : null;
  }
  async setApiKey(key: string): Promise<void> {
    this.apiKey = key;
    await this.persist();
  }
  onChange(_listener: (change: StoreChange) => void): void {
    // one process: no other writer
  }
  async close(): Promise<void> {}
  /** Make the current state durable; nothing to do in memory. */
  protected async persist(): Promise<void> {}
}
