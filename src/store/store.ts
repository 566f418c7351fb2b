// The config store: one interface, several backends (memory.ts, file.ts,
// redis.ts). It holds what the API writes: apps, their tokens and drains, and
// the admin key. Rings are not here (src/buffer).

export interface TokenRecord {
  /** `t.<uuid4>`: the credential. Never logged, never in output. */
  token: string;
  /** Becomes the source of every line written with this token. */
  name: string;
  createdAt: string;
}

export interface DrainRecord {
  /** uuid4: the drain's id in the API. */
  id: string;
  /** `d.<uuid4>`: sent to the drain (Logplex-Drain-Token, syslog hostname). */
  token: string;
  url: string;
  createdAt: string;
  updatedAt: string;
}

export interface AppRecord {
  id: string;
  /** uuid4 for the Heroku Platform API's `id`. */
  uuid: string;
  createdAt: string;
  updatedAt: string;
  tokens: TokenRecord[];
  drains: DrainRecord[];
}

export interface StoreSnapshot {
  apiKey: string | null;
  apps: AppRecord[];
}

/** What changed, for backends shared by several nodes (cache invalidation). */
export type StoreChange = { kind: 'app'; id: string } | { kind: 'apiKey' };

export interface ConfigStore {
  /** Everything, at start. */
  load(): Promise<StoreSnapshot>;
  /** Create or replace one app. Resolves once durable. */
  putApp(app: AppRecord): Promise<void>;
  /** Remove one app. Resolves once durable. */
  deleteApp(id: string): Promise<void>;
  /** Re-read one app (after a change elsewhere); null when gone. */
  getApp(id: string): Promise<AppRecord | null>;
  setApiKey(key: string): Promise<void>;
  /** Changes made by other nodes (never called for this node's own writes). */
  onChange(listener: (change: StoreChange) => void): void;
  close(): Promise<void>;
}
