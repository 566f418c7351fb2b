// The config store: one interface, several backends (memory.ts, file.ts,
// redis.ts). It holds what the API writes: apps, their tokens and drains, the
// admin key and the API keys (as hashes). Rings are not here (src/buffer).

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
  /** Only matching lines are queued (SPEC 16); absent: every line. Set when the drain is added, never changed. */
  filter?: DrainFilter;
}

/** A drain's filter as stored: the session filter rules (SPEC 5.1); each field absent when not filtered on. */
export interface DrainFilter {
  source?: string;
  dyno?: string;
  grep?: string;
}

export interface AppRecord {
  id: string;
  /** uuid4 for the Heroku Platform API's `id`. */
  uuid: string;
  createdAt: string;
  updatedAt: string;
  tokens: TokenRecord[];
  drains: DrainRecord[];
  /**
   * Set by the store on every write of this record (1, 2, ...): a node that
   * hears of changes out of order keeps the newest. Absent in records
   * written before it existed (counts as 0).
   */
  rev?: number;
}

/** An API key (SPEC 12). The secret itself is never stored: only its SHA-256. */
export interface KeyRecord {
  /** `k_<hex>`: the key's id in the API. */
  id: string;
  /** Hex SHA-256 of the secret (`lpk_...`). */
  hash: string;
  name: string;
  role: 'viewer' | 'developer' | 'admin';
  /** The apps the key reaches (ignored for role admin). */
  apps: string[];
  createdAt: string;
  updatedAt: string;
}

export interface StoreSnapshot {
  /** The admin key, where the store keeps it readable (data dir, memory); null in Redis, which keeps only its hash. */
  apiKey: string | null;
  /** The admin key's SHA-256 (hex), from a store that keeps only that (Redis); absent elsewhere. */
  apiKeyHash?: string | null;
  apps: AppRecord[];
  /** API keys; absent in stores written before keys existed. */
  keys?: KeyRecord[];
}

/** What an update() callback decides, given the app's committed record. */
export interface AppUpdate<T> {
  /** The new record (the store sets its rev); null deletes the app; undefined writes nothing. */
  next: AppRecord | null | undefined;
  /** Handed back by update() once the change is durable. */
  result: T;
}

/** An API key record before and after an updateKey() (null: none). */
export interface KeyChange {
  before: KeyRecord | null;
  after: KeyRecord | null;
}

/** The key without `app` (a destroyed app is no key's), or undefined when it does not name it: a scope drop is idempotent. */
export function withoutApp(rec: KeyRecord | null, app: string): KeyRecord | undefined {
  if (!rec?.apps.includes(app)) return undefined;
  return { ...rec, apps: rec.apps.filter((a) => a !== app), updatedAt: new Date().toISOString() };
}

/** Why createKey() wrote nothing: a key of that id, or of that name, is stored. */
export type KeyTaken = 'id' | 'name';

/** What changed, for backends shared by several nodes (cache invalidation). */
export type StoreChange = { kind: 'app'; id: string } | { kind: 'apiKey' } | { kind: 'keys' };

export interface ConfigStore {
  /**
   * Other processes write it too (Redis): a node's copy of a record may lag
   * behind the stored one until the change is heard of. Absent: false.
   */
  readonly shared?: boolean;
  /** Everything, at start. */
  load(): Promise<StoreSnapshot>;
  /**
   * Atomic read-modify-write of one app: `fn` gets the committed record (a
   * copy; null when there is no such app) and returns what to write. No other
   * change to the app (from this process or another node) lands between the
   * read and the write. Resolves once the change is durable, with the record
   * as committed (null when deleted). Rejects with nothing changed when `fn`
   * throws or the write fails; `fn` may run more than once (a conflicting
   * write elsewhere), so it must have no side effects.
   *
   * A deleted app is taken out of every API key (withoutApp), so that a
   * later app of that id is no key's: the memory and file stores in the same
   * write (a delete that fails changes no key either); Redis right after the
   * delete (another slot on a Redis Cluster), again in the background until
   * it lands when it fails (the delete stands), and once more before an app
   * of that id is created (a node that died between the two). The caller
   * re-reads the keys after a delete (Access.deleteApp); keys Redis changed
   * later are reported to this node's listeners too (a `keys` change).
   */
  update<T>(id: string, fn: (current: AppRecord | null) => AppUpdate<T>): Promise<{ record: AppRecord | null; result: T }>;
  /** Create or replace one app, whatever is stored. Resolves once durable. */
  putApp(app: AppRecord): Promise<void>;
  /** Remove one app. Resolves once durable. */
  deleteApp(id: string): Promise<void>;
  /** Re-read one app (after a change elsewhere); null when gone. */
  getApp(id: string): Promise<AppRecord | null>;
  /** Make this the admin key (Redis keeps only its SHA-256: SPEC 12). */
  setApiKey(key: string): Promise<void>;
  /** Every API key record (re-read after a `keys` change). */
  getKeys(): Promise<KeyRecord[]>;
  /**
   * Atomic read-modify-write of one API key record, as update() is for an
   * app: `fn` gets the committed record (a copy; null when there is none)
   * and returns the new one, null to delete it, or undefined to write
   * nothing. No other change to the key (from this process or another node)
   * lands between the read and the write, so a change computed from a stale
   * copy never overwrites a newer one (a revoked key is never written back).
   * Resolves once durable, with the record before and after. Rejects with
   * nothing changed when `fn` throws or the write fails; `fn` may run more
   * than once, so it must have no side effects.
   */
  updateKey(id: string, fn: (current: KeyRecord | null) => KeyRecord | null | undefined): Promise<KeyChange>;
  /**
   * Store a new API key unless a key of its id or of its name is stored,
   * decided in one atomic step (two nodes creating one name at once: one
   * is refused). Resolves once durable: null when written, else what was
   * taken (nothing written).
   */
  createKey(rec: KeyRecord): Promise<KeyTaken | null>;
  /** Create or replace one API key record, whatever is stored (a new key; changes go through updateKey). Resolves once durable. */
  putKey(rec: KeyRecord): Promise<void>;
  /** Remove one API key record; false when there was none. Resolves once durable. */
  deleteKey(id: string): Promise<boolean>;
  /**
   * Changes made by other nodes (never called for this node's own writes).
   * A listener that returns a promise which rejects (its re-read of the
   * change failed) is handed the change again later, until one succeeds:
   * a change is never dropped because a read failed.
   */
  onChange(listener: (change: StoreChange) => unknown): void;
  close(): Promise<void>;
}
