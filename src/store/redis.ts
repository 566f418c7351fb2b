// Config store over Redis (distributed mode): apps, tokens, drains and the
// admin key, shared by every node. Each node keeps the whole config in its
// Registry (the cache on the hot path); a write publishes a change on
// `lp:config` and every other node re-reads that app within milliseconds. A
// subscriber that was disconnected re-reads everything when it is back (it
// may have missed changes). Keys: `lp:apps` (set of ids), `lp:{<app>}:config`
// (JSON record), `{lp:apikey}:sha256` (the admin key's SHA-256, never the
// key: SPEC 12), `lp:keys` (API key records by id: hashes of the secrets,
// never the secrets). Redis errors become StoreError (503).
//
// The previous release kept the admin key in clear in `lp:apikey`. Every
// read of the admin key here first replaces a clear key found there by its
// hash, in one script (the hash, then the clear key deleted: never both
// kept). A clear key found next to a hash was written after the hash (the
// migration deletes it), by a node of the previous release that set its
// LOGPLANE_API_KEY: as that release did, the key set last is the admin key.
// The previous release reads `lp:apikey` only, so it never takes the hash
// for the key; it finds no key there (its admin requests are refused until
// it is upgraded: docs/operations.md, "Upgrades: the admin key").
//
// update() is a compare-and-set: read the record, compute the next one, and
// write it with a script that sets it only if the stored record is still
// byte for byte the one read (else read again and retry), so two nodes
// changing one app at once both land. The script also publishes the change,
// in the same step. updateKey() does the same for one API key record (a
// field of `lp:keys`), so a change computed on a node whose copy is stale
// (a key revoked elsewhere a moment ago) is computed again, never written
// over the newer record.
import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../basics/digest.js';
import type { Redis } from 'ioredis';
import { StoreError } from '../errors.js';
import { API_KEY, API_KEY_HASH, API_KEYS, APPS, CONFIG_CHANNEL, appChunks, appConfig, appFirsts, appLines, appMeta, appTrims, drainLease, drainState } from '../redis/keys.js';
import { afterResubscribe, closeClient, commandClient, connectOrThrow, dropClient, subscriberClient } from '../redis/connection.js';
import type { AppRecord, AppUpdate, ConfigStore, KeyChange, KeyRecord, StoreChange, StoreSnapshot } from './store.js';
import { pipelineByOwner } from '../redis/pipeline.js';

export interface RedisStoreOptions {
  /** Who we are in change messages (our own changes are not reported back). */
  nodeId?: string;
  /** Delay of the second delete of a deleted app's history (lines routed meanwhile by other nodes). */
  lingerMs?: number;
}

interface ChangeMessage {
  n: string;
  k: 'app' | 'apiKey' | 'keys';
  id?: string;
}

/** GETs per pipeline when loading everything. */
const LOAD_CHUNK = 500;

/** Compare-and-set rounds of one update() before it gives up (each lost round means another write landed). */
const MAX_ATTEMPTS = 100;

/**
 * Write an app's record only if the stored one is still the one read.
 * KEYS: config, then (delete) every other key of the app. ARGV: the record
 * read ('' when none), the new record ('' deletes the app's keys), the
 * change channel, the change message. Returns 1 when written, 0 on conflict.
 */
const CAS_LUA = `
local cur = redis.call('GET', KEYS[1])
if (cur or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', unpack(KEYS)) else redis.call('SET', KEYS[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;

/**
 * Write one API key record only if the stored one is still the one read.
 * KEYS: the key hash. ARGV: the key id, the record read ('' when none), the
 * new record ('' deletes it), the change channel, the change message.
 * Returns 1 when written, 0 on conflict.
 */
const KEY_CAS_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/**
 * Replace the previous release's clear admin key by its hash, if it is still
 * the one read. KEYS: the clear key, the hash. ARGV: the clear key read, its
 * hash. Returns 1 when replaced, 0 when the clear key changed meanwhile.
 */
const MIGRATE_KEY_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
`;

/** Set the admin key's hash and delete a clear key of the previous release, then publish the change. KEYS: the hash, the clear key. ARGV: the hash, channel, message. */
const SET_KEY_LUA = `
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;

function storeError(err: unknown): StoreError {
  return err instanceof StoreError ? err : new StoreError(`Redis: ${(err as Error).message}`);
}

/** A stored key record; null for one that does not parse (it grants nothing, and a change may replace it). */
function parseKey(raw: string): KeyRecord | null {
  try {
    return JSON.parse(raw) as KeyRecord;
  } catch {
    return null;
  }
}

/** One Redis command; its failure becomes a StoreError. */
async function redisCall<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw storeError(err);
  }
}

export class RedisStore implements ConfigStore {
  readonly nodeId: string;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #owned: boolean;
  readonly #lingerMs: number;
  readonly #listeners: Array<(c: StoreChange) => void> = [];
  /** Every app id this store has seen (resync after a missed change). */
  readonly #known = new Set<string>();
  #subscribed = false;
  #offResubscribed: (() => void) | null = null;
  #closed = false;
  readonly #timers = new Set<NodeJS.Timeout>();

  /** Use the given connections (the caller closes them). */
  constructor(cmd: Redis, sub: Redis, opts: RedisStoreOptions = {}, owned = false) {
    this.#cmd = cmd;
    this.#sub = sub;
    this.#owned = owned;
    this.nodeId = opts.nodeId ?? randomUUID();
    this.#lingerMs = opts.lingerMs ?? 2000;
  }

  /** A store with connections of its own (closed by close()). */
  static async connect(url: string, opts: RedisStoreOptions = {}): Promise<RedisStore> {
    const cmd = commandClient(url, 'logplane-store');
    const sub = subscriberClient(url, 'logplane-store-sub');
    try {
      await Promise.all([connectOrThrow(cmd, 10_000), connectOrThrow(sub, 10_000)]);
    } catch (err) {
      dropClient(cmd);
      dropClient(sub);
      throw storeError(err);
    }
    return new RedisStore(cmd, sub, opts, true);
  }

  async load(): Promise<StoreSnapshot> {
    try {
      const [apiKeyHash, ids, keys] = await Promise.all([this.getApiKeyHash(), this.#cmd.smembers(APPS), this.getKeys()]);
      const apps: AppRecord[] = [];
      for (let i = 0; i < ids.length; i += LOAD_CHUNK) {
        const part = ids.slice(i, i + LOAD_CHUNK);
        const p = pipelineByOwner(this.#cmd);
        for (const id of part) p.get(appConfig(id));
        const res = (await p.exec()) ?? [];
        res.forEach(([err, v], k) => {
          if (err) throw err;
          if (typeof v === 'string') apps.push(JSON.parse(v) as AppRecord);
          else this.#known.delete(part[k]!);
        });
      }
      for (const a of apps) this.#known.add(a.id);
      return { apiKey: null, apiKeyHash, apps, keys };
    } catch (err) {
      throw storeError(err);
    }
  }

  async update<T>(id: string, fn: (current: AppRecord | null) => AppUpdate<T>): Promise<{ record: AppRecord | null; result: T }> {
    const key = appConfig(id);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const raw = await redisCall(this.#cmd.get(key));
      let cur: AppRecord | null;
      try {
        cur = raw === null ? null : (JSON.parse(raw) as AppRecord);
      } catch (err) {
        throw storeError(err);
      }
      const { next, result } = fn(cur === null ? null : structuredClone(cur));
      if (next === undefined || (next === null && cur === null)) return { record: cur, result };
      const keys = [key];
      let rec: AppRecord | null = null;
      if (next === null) {
        keys.push(appChunks(id), appFirsts(id), appLines(id), appMeta(id), appTrims(id));
        for (const d of cur!.drains) keys.push(drainState(id, d.id), drainLease(id, d.id));
      } else {
        rec = { ...next, id, rev: (cur?.rev ?? 0) + 1 };
        // listed first: a listed id without a record is skipped by load(), a record nobody lists is lost on restart
        if (cur === null) await redisCall(this.#cmd.sadd(APPS, id));
      }
      const written = await redisCall(this.#cmd.eval(CAS_LUA, keys.length, ...keys, raw ?? '', rec ? JSON.stringify(rec) : '', CONFIG_CHANNEL, this.#message('app', id)));
      if (written !== 1) continue; // another write landed since the read: read again
      if (rec) this.#known.add(id);
      else this.#deleted(id);
      return { record: rec, result };
    }
    throw new StoreError(`too many concurrent changes of ${id}; try again`);
  }

  async putApp(app: AppRecord): Promise<void> {
    await this.update(app.id, () => ({ next: app, result: undefined }));
  }

  async deleteApp(id: string): Promise<void> {
    await this.update(id, () => ({ next: null, result: undefined }));
  }

  /** After a delete: unlist the id, and delete the history again once lines routed meanwhile by other nodes are in. */
  #deleted(id: string): void {
    this.#known.delete(id);
    // a listed id without a record is skipped by load(): failing here changes nothing
    this.#cmd.srem(APPS, id).catch(() => {});
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (this.#closed) return;
      void this.#cmd.exists(appConfig(id)).then((n) => (n === 0 ? this.#cmd.del(appChunks(id), appFirsts(id), appLines(id), appMeta(id), appTrims(id)) : 0)).catch(() => {});
    }, this.#lingerMs);
    t.unref();
    this.#timers.add(t);
  }

  async getApp(id: string): Promise<AppRecord | null> {
    try {
      const v = await this.#cmd.get(appConfig(id));
      if (v === null) return null;
      this.#known.add(id);
      return JSON.parse(v) as AppRecord;
    } catch (err) {
      throw storeError(err);
    }
  }

  /** Store the admin key's hash (never the key), delete a clear key of the previous release, tell the other nodes. */
  async setApiKey(key: string): Promise<void> {
    await redisCall(this.#cmd.eval(SET_KEY_LUA, 2, API_KEY_HASH, API_KEY, sha256Hex(key), CONFIG_CHANNEL, this.#message('apiKey')));
  }

  /** Store this key's hash unless a hash is stored; returns the stored hash (several nodes starting at once agree on one). */
  async claimApiKey(key: string): Promise<string> {
    const hash = sha256Hex(key);
    await this.#migrateApiKey();
    await redisCall(this.#cmd.set(API_KEY_HASH, hash, 'NX'));
    return (await redisCall(this.#cmd.get(API_KEY_HASH))) ?? hash;
  }

  /** The admin key's hash alone (cheaper than load()), after replacing a clear key of the previous release. */
  async getApiKeyHash(): Promise<string | null> {
    await this.#migrateApiKey();
    return redisCall(this.#cmd.get(API_KEY_HASH));
  }

  /** Replace a clear admin key (the previous release's `lp:apikey`) by its hash. */
  async #migrateApiKey(): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const clear = await redisCall(this.#cmd.get(API_KEY));
      if (clear === null) return;
      const done = await redisCall(this.#cmd.eval(MIGRATE_KEY_LUA, 2, API_KEY, API_KEY_HASH, clear, sha256Hex(clear)));
      if (done === 1) return;
    }
    throw new StoreError('the admin key kept changing during its migration to a hash; try again');
  }

  async getKeys(): Promise<KeyRecord[]> {
    const all = await redisCall(this.#cmd.hgetall(API_KEYS));
    const out: KeyRecord[] = [];
    for (const v of Object.values(all)) {
      const rec = parseKey(v);
      if (rec) out.push(rec);
    }
    return out;
  }

  async updateKey(id: string, fn: (current: KeyRecord | null) => KeyRecord | null | undefined): Promise<KeyChange> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const raw = await redisCall(this.#cmd.hget(API_KEYS, id));
      const cur = raw === null ? null : parseKey(raw);
      const next = fn(cur === null ? null : structuredClone(cur));
      if (next === undefined || (next === null && raw === null)) return { before: cur, after: cur };
      const text = next === null ? '' : JSON.stringify({ ...next, id });
      const written = await redisCall(this.#cmd.eval(KEY_CAS_LUA, 1, API_KEYS, id, raw ?? '', text, CONFIG_CHANNEL, this.#message('keys')));
      if (written !== 1) continue; // another write landed since the read: read again
      return { before: cur, after: next === null ? null : (JSON.parse(text) as KeyRecord) };
    }
    throw new StoreError(`too many concurrent changes of key ${id}; try again`);
  }

  async putKey(rec: KeyRecord): Promise<void> {
    try {
      await this.#cmd.pipeline().hset(API_KEYS, rec.id, JSON.stringify(rec)).publish(CONFIG_CHANNEL, this.#message('keys')).exec();
    } catch (err) {
      throw storeError(err);
    }
  }

  async deleteKey(id: string): Promise<boolean> {
    try {
      const res = await this.#cmd.pipeline().hdel(API_KEYS, id).publish(CONFIG_CHANNEL, this.#message('keys')).exec();
      const first = res?.[0];
      if (first?.[0]) throw first[0];
      return first?.[1] === 1;
    } catch (err) {
      throw storeError(err);
    }
  }

  onChange(listener: (change: StoreChange) => void): void {
    this.#listeners.push(listener);
    if (this.#subscribed) return;
    this.#subscribed = true;
    this.#sub.on('message', this.#onMessage);
    this.#offResubscribed = afterResubscribe(this.#sub, () => this.#resync());
    void this.#sub.subscribe(CONFIG_CHANNEL).catch(() => {
      /* down: autoResubscribe makes it when Redis is back, and #onReady resyncs */
    });
  }

  #message(k: ChangeMessage['k'], id?: string): string {
    const m: ChangeMessage = id === undefined ? { n: this.nodeId, k } : { n: this.nodeId, k, id };
    return JSON.stringify(m);
  }

  #emit(c: StoreChange): void {
    for (const l of this.#listeners) l(c);
  }

  readonly #onMessage = (channel: string, text: string): void => {
    if (channel !== CONFIG_CHANNEL) return;
    let m: ChangeMessage;
    try {
      m = JSON.parse(text) as ChangeMessage;
    } catch {
      return;
    }
    if (m.n === this.nodeId) return;
    if (m.k === 'apiKey') this.#emit({ kind: 'apiKey' });
    else if (m.k === 'keys') this.#emit({ kind: 'keys' });
    else if (m.k === 'app' && typeof m.id === 'string') {
      this.#known.add(m.id);
      this.#emit({ kind: 'app', id: m.id });
    }
  };

  /** Back after a disconnect (subscribed again): changes may have been missed; report every app as changed. */
  #resync(): void {
    if (this.#closed) return;
    void this.#cmd
      .smembers(APPS)
      .then((ids) => {
        const all = new Set([...this.#known, ...ids]);
        for (const id of all) this.#emit({ kind: 'app', id });
        this.#emit({ kind: 'apiKey' });
        this.#emit({ kind: 'keys' });
      })
      .catch(() => {
        // the command connection is not back yet: try again shortly
        const t = setTimeout(() => {
          this.#timers.delete(t);
          this.#resync();
        }, 500);
        t.unref();
        this.#timers.add(t);
      });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#sub.off('message', this.#onMessage);
    this.#offResubscribed?.();
    if (this.#owned) {
      await Promise.all([closeClient(this.#cmd), closeClient(this.#sub)]);
    }
  }
}
