// Config store over Redis (distributed mode): apps, tokens, drains and the
// admin key, shared by every node. Each node keeps the whole config in its
// Registry (the cache on the hot path); a write publishes a change on
// `lp:config` and every other node re-reads that app within milliseconds. A
// subscriber that was disconnected re-reads everything when it is back (it
// may have missed changes). Keys: `lp:apps` (set of ids), `lp:{<app>}:config`
// (JSON record), `{lp:apikey}:sha256` (the admin key's SHA-256, never the
// key: SPEC 12), `lp:keys` (API key records by id: hashes of the secrets,
// never the secrets), `lp:config:version`. Redis errors become StoreError
// (503).
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
// A message can be missed (the subscriber was away, or a Cluster client
// moved it to another Redis node), and a re-read can fail (the command
// connection dropped just then). Neither loses the change:
// - every change raises the config version (`lp:config:version`); on one
//   Redis in the same script as the write and its message, which carries
//   the version it made; on a Redis Cluster (the version's slot is not the
//   app's) right after the write, with a message of its own. Each node
//   counts the versions it heard, reads the version every checkMs (500 ms:
//   one GET), on every reconnect of its command connection and when its
//   Cluster subscriber moved, and re-reads the whole config when the
//   version is past what it heard (after a short grace for a message on its
//   way);
// - a listener whose re-read fails (its promise rejects) is handed the
//   change again, with backoff, until it succeeds, and at once when the
//   command connection is back.
// (The bookkeeping of both, Redis-free, is in changes.ts.)
// A node that cannot reach Redis applies nothing meanwhile (it keeps what
// it has, revoked keys included) and catches up within about a second of
// being back.
//
// update() is a compare-and-set: read the record, compute the next one, and
// write it with a script that sets it only if the stored record is still
// byte for byte the one read (else read again and retry), so two nodes
// changing one app at once both land. The script also publishes the change,
// in the same step. updateKey() does the same for one API key record (a
// field of `lp:keys`), so a change computed on a node whose copy is stale
// (a key revoked elsewhere a moment ago) is computed again, never written
// over the newer record. A delete of an app then takes it out of every key
// (each a key compare-and-set; another slot on a Redis Cluster, so not in
// the delete's script), redone in the background when it fails and before
// an app of that id is created (a node that died in between); a new key is
// one script that refuses a taken id or name (CREATE_KEY_LUA).
//
// The list of ids (`lp:apps`): load() and a full resync find the apps
// there, so a record nobody lists is lost to every node started after (and
// to a resync). The set is in a slot of its own on a Redis Cluster, so it
// cannot change in the same script as a record; the order of the commands
// instead keeps every record that exists listed once the writes in flight
// landed, in every interleaving of nodes' writes:
// - a write that leaves a record SADDs the id after its compare-and-set
//   (a create also before it: a node that dies between the two leaves its
//   record listed);
// - a delete SREMs the id after its compare-and-set, then checks for a
//   record and SADDs the id back when one exists; load() unlists an id
//   without a record the same way.
// Why: take a record that exists at the end, made by a create's
// compare-and-set at t (no delete's compare-and-set after t, or it would
// not exist). An SREM that lands before that create's last SADD is undone
// by that SADD. One that lands after it belongs to a delete, or a load(),
// that had found no record before t; its check comes after its SREM, so
// after t, and sees the record: it SADDs the id back. A listed id without a
// record (a create between its SADDs, one whose node died, an SREM that
// failed) costs a GET in load(), which unlists it. Left open: a node dying
// right between its SREM and its check while another node makes the app
// again, or between a create's write and its last SADD while another
// node's delete unlists it; the next change of the app lists it again.
import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../basics/digest.js';
import type { Redis } from 'ioredis';
import { StoreError } from '../errors.js';
import { BUMP_LUA, CAS_LUA, CLAIM_KEY_LUA, CREATE_KEY_LUA, KEY_CAS_LUA, MIGRATE_KEY_LUA, SET_KEY_LUA } from './redis-scripts.js';
import { API_KEY, API_KEY_HASH, API_KEYS, APPS, CONFIG_CHANNEL, CONFIG_VERSION, appChunks, appConfig, appCounts, appFirsts, appLines, appMeta, appTrims, countShard, drainLease, drainState } from '../redis/keys.js';
import { afterResubscribe, closeClient, commandClient, connectOrThrow, dropClient, isCluster, isConnectionError, subscriberClient } from '../redis/connection.js';
import { withoutApp, type AppRecord, type AppUpdate, type ConfigStore, type KeyChange, type KeyRecord, type KeyTaken, type StoreChange, type StoreSnapshot } from './store.js';
import { pipelineByOwner } from '../redis/pipeline.js';
import { backoff, ChangeListeners, HeardVersions, type ChangeListener } from './changes.js';

export interface RedisStoreOptions {
  /** Who we are in change messages (our own changes are not reported back). */
  nodeId?: string;
  /** Delay of the second delete of a deleted app's history (lines routed meanwhile by other nodes). */
  lingerMs?: number;
  /** How often the config version is read (a missed change is re-read within about this long, plus the grace). */
  checkMs?: number;
}

interface ChangeMessage {
  n: string;
  /** 'v': the config version alone (a Redis Cluster announces it apart from the change). */
  k: 'app' | 'apiKey' | 'keys' | 'v';
  id?: string;
  /** The config version this change made (absent from older nodes' messages, and from a change on a Redis Cluster). */
  v?: number;
}

/** How long a version read past what was heard waits for the messages on their way before a full re-read. */
const GRACE_MS = 150;

/** GETs per pipeline when loading everything. */
const LOAD_CHUNK = 500;

/** Compare-and-set rounds of one update() before it gives up (each lost round means another write landed). */
const MAX_ATTEMPTS = 100;

/**
 * A failed Redis command as the API answers it (503): in words, not the
 * client's message (the node logs connection trouble itself: redis.down,
 * cluster.heartbeat_failed). A timeout is the one answer that cannot say
 * nothing was changed (docs/operations.md, "Redis unreachable").
 */
function storeError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as Error;
  if (e.message.includes('timed out')) return new StoreError('Redis did not answer in time; the change may have been applied: check before trying again');
  if (isConnectionError(e)) return new StoreError('Redis is unreachable; nothing was changed');
  // an error Redis answered (OOM, READONLY, ...): its code alone, never the command's arguments
  return new StoreError(`Redis refused the change (${/^[A-Z]+/.exec(e.message)?.[0] ?? 'error'}); nothing was changed`);
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
  readonly shared = true;
  readonly nodeId: string;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #owned: boolean;
  readonly #lingerMs: number;
  readonly #listeners = new ChangeListeners();
  /** Every app id this store has seen (resync after a missed change). */
  readonly #known = new Set<string>();
  #subscribed = false;
  #offResubscribed: (() => void) | null = null;
  #closed = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** One Redis: the version is raised in the write's own script; a Redis Cluster raises it after. */
  readonly #single: boolean;
  readonly #checkMs: number;
  /** The config versions this node has (heard of, made, or re-read). */
  readonly #versions = new HeardVersions();
  #checking = false;
  #checkTimer: NodeJS.Timeout | null = null;
  #resyncing = false;
  #resyncAgain = false;
  /** A version raise that failed (the change landed): retried until it lands. */
  #bumpTimer: NodeJS.Timeout | null = null;
  /** The admin key to store again when Redis lost it (keepApiKey). */
  #keep: { known: () => string | null; reseeded: (ours: boolean) => void } | null = null;
  /** Redis Cluster: the connection the client uses for classic subscriptions now (undefined: not looked at yet). */
  #subInstance: object | null | undefined = undefined;

  /** Use the given connections (the caller closes them). */
  constructor(cmd: Redis, sub: Redis, opts: RedisStoreOptions = {}, owned = false) {
    this.#cmd = cmd;
    this.#sub = sub;
    this.#owned = owned;
    this.nodeId = opts.nodeId ?? randomUUID();
    this.#lingerMs = opts.lingerMs ?? 2000;
    this.#checkMs = opts.checkMs ?? 500;
    this.#single = !isCluster(cmd);
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
      // read first: whatever changes after it is re-read when the version is seen to move
      const version = await this.#version();
      if (!this.#versions.known) this.#versions.set(version);
      const [apiKeyHash, ids, keys] = await Promise.all([this.getApiKeyHash(), this.#cmd.smembers(APPS), this.getKeys()]);
      const apps: AppRecord[] = [];
      const stale: string[] = [];
      for (let i = 0; i < ids.length; i += LOAD_CHUNK) {
        const part = ids.slice(i, i + LOAD_CHUNK);
        const p = pipelineByOwner(this.#cmd);
        for (const id of part) p.get(appConfig(id));
        const res = (await p.exec()) ?? [];
        res.forEach(([err, v], k) => {
          if (err) throw err;
          if (typeof v === 'string') apps.push(JSON.parse(v) as AppRecord);
          else {
            this.#known.delete(part[k]!);
            stale.push(part[k]!);
          }
        });
      }
      for (const a of apps) this.#known.add(a.id);
      // listed without a record: a create in flight (listed before its write) or one whose node died before it, or a
      // delete whose SREM failed. Unlisted as a delete does (a record made meanwhile is listed again: never lost)
      for (let i = 0; i < stale.length; i += LOAD_CHUNK) await Promise.all(stale.slice(i, i + LOAD_CHUNK).map((id) => this.#unlist(id)));
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
      const withVersion = (): string[] => (this.#single ? [...keys, CONFIG_VERSION] : keys);
      if (next === null) {
        keys.push(appChunks(id), appFirsts(id), appLines(id), appMeta(id), appTrims(id));
        for (const d of cur!.drains) keys.push(drainState(id, d.id), drainLease(id, d.id));
      } else {
        rec = { ...next, id, rev: (cur?.rev ?? 0) + 1 };
        // a new app starts with no history: whatever a deleted app of this id left (lines a node cut off from Redis wrote late) goes
        if (cur === null) keys.push(appChunks(id), appFirsts(id), appLines(id), appMeta(id), appTrims(id));
        // a drain removed: its checkpoint and lease go in the same step (its owner's last save then writes nothing: redis/scripts.ts)
        else for (const d of cur.drains) if (!next.drains.some((n) => n.id === d.id)) keys.push(drainState(id, d.id), drainLease(id, d.id));
        // no key reaches a new app: a destroy of an app of this id whose node died before its keys lost it left them naming it
        if (cur === null) await this.#dropScopes(id);
        // listed first (see "The list of ids" above): a listed id without a record is skipped by load(), a record nobody lists is lost on restart
        if (cur === null) await redisCall(this.#cmd.sadd(APPS, id));
        // and no counts: a field there is a deleted app's (no node counts lines of this one before its token is written),
        // re-added by a batch that landed after the delete's cleanup (its node died before its next write took it out)
        if (cur === null) await redisCall(this.#cmd.hdel(appCounts(countShard(id)), id));
      }
      const all = withVersion();
      const written = Number(await redisCall(this.#cmd.eval(CAS_LUA, all.length, ...all, raw ?? '', rec ? JSON.stringify(rec) : '', CONFIG_CHANNEL, this.#open('app', id), this.#single ? '1' : '0')));
      if (written === 0) continue; // another write landed since the read: read again
      await this.#written(written);
      if (rec) {
        this.#known.add(id);
        // listed again after the write: a delete's unlisting may have landed between the first SADD and the write
        await this.#list(id);
      } else {
        await this.#deleted(id);
        // the keys lose the app after the delete landed (another slot on a Redis Cluster): a delete refused changed no key.
        // One that landed stands: a drop that fails is done again in the background, and before an app of this id is made
        await this.#retrying(() => this.#dropScopes(id));
      }
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

  /** After a write that left a record: its id is in `lp:apps` (retried in the background until Redis answers: the write landed). */
  #list(id: string): Promise<void> {
    return this.#retrying(() => this.#cmd.sadd(APPS, id));
  }

  /** Run op; when it fails, run it again after a backoff, in the background, until it succeeds or the store closes. */
  #retrying(op: () => Promise<unknown>, attempt = 0): Promise<void> {
    return op().then(
      () => undefined,
      () => {
        if (this.#closed) return;
        const t = setTimeout(() => {
          this.#timers.delete(t);
          if (!this.#closed) void this.#retrying(op, attempt + 1);
        }, backoff(attempt));
        t.unref();
        this.#timers.add(t);
      },
    );
  }

  /**
   * Take an id out of `lp:apps` (after a delete; load() for an id without
   * a record), then list it again if a record of it exists: one made by
   * another node meanwhile, whose own SADDs may have landed before our SREM.
   * Never throws: an SREM that fails leaves a listed id without a record
   * (skipped by load(), which unlists it); a check that fails after the
   * SREM landed is retried in the background.
   */
  async #unlist(id: string): Promise<void> {
    try {
      await this.#cmd.srem(APPS, id);
    } catch {
      return;
    }
    await this.#relistIfStored(id);
  }

  #relistIfStored(id: string): Promise<void> {
    return this.#retrying(async () => {
      if ((await this.#cmd.exists(appConfig(id))) === 1) await this.#cmd.sadd(APPS, id);
    });
  }

  /**
   * After a delete: unlist the id, and delete the history and the app's
   * field of the cluster's counts again once lines routed meanwhile by
   * other nodes are in (appends are refused once the record is gone, but a
   * node that had not heard of the delete yet may add a batch of counts
   * after it: that node takes the field out with its next write, unless it
   * died first).
   */
  async #deleted(id: string): Promise<void> {
    this.#known.delete(id);
    await this.#unlist(id);
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (this.#closed) return;
      const gone = async (): Promise<void> => {
        if ((await this.#cmd.exists(appConfig(id))) !== 0) return;
        await this.#cmd.del(appChunks(id), appFirsts(id), appLines(id), appMeta(id), appTrims(id));
        // another slot on a Redis Cluster, so not in one step with the check: an app made again between the two loses the
        // counts other nodes added for it within that round trip (its create deleted the field before its write anyway)
        await this.#cmd.hdel(appCounts(countShard(id)), id);
      };
      void gone().catch(() => {});
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
    await this.#bump();
  }

  /**
   * Store this key's hash unless a hash is stored (several nodes at once agree on one: the first);
   * returns the stored hash. A hash stored here is announced (a node that found none meanwhile re-reads it).
   */
  async claimApiKey(key: string): Promise<string> {
    return (await this.#claimApiKey(key)).hash;
  }

  /** claimApiKey(), and whether this call stored the hash. */
  async #claimApiKey(key: string): Promise<{ stored: boolean; hash: string }> {
    await this.#migrateApiKey();
    const [stored, hash] = (await redisCall(this.#cmd.eval(CLAIM_KEY_LUA, 1, API_KEY_HASH, sha256Hex(key), CONFIG_CHANNEL, this.#message('apiKey')))) as [number, string];
    if (stored === 1) await this.#bump();
    return { stored: stored === 1, hash };
  }

  /**
   * The admin key this node knows (known(), null when none): when Redis has
   * no admin key (restarted without its data), getApiKeyHash() stores its
   * hash again first, with claimApiKey(); reseeded tells whether the stored
   * hash is then this key's (another node's key may have been first). Once
   * per restore: several reads that find no key at once (the reconnect's
   * resync and the key's own re-read) store it once, and only that one says
   * ours; the others say nothing unless the stored hash is another key's.
   */
  keepApiKey(known: () => string | null, reseeded: (ours: boolean) => void): void {
    this.#keep = { known, reseeded };
  }

  /** The admin key's hash alone (cheaper than load()), after replacing a clear key of the previous release; see keepApiKey(). */
  async getApiKeyHash(): Promise<string | null> {
    await this.#migrateApiKey();
    const hash = await redisCall(this.#cmd.get(API_KEY_HASH));
    const key = hash === null && this.#keep ? this.#keep.known() : null;
    if (key === null) return hash;
    const { stored, hash: storedHash } = await this.#claimApiKey(key);
    const ours = storedHash === sha256Hex(key);
    if (stored || !ours) this.#keep?.reseeded(ours);
    return storedHash;
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
      const keys = this.#single ? [API_KEYS, CONFIG_VERSION] : [API_KEYS];
      const written = Number(await redisCall(this.#cmd.eval(KEY_CAS_LUA, keys.length, ...keys, id, raw ?? '', text, CONFIG_CHANNEL, this.#open('keys'), this.#single ? '1' : '0')));
      if (written === 0) continue; // another write landed since the read: read again
      await this.#written(written);
      return { before: cur, after: next === null ? null : (JSON.parse(text) as KeyRecord) };
    }
    throw new StoreError(`too many concurrent changes of key ${id}; try again`);
  }

  /** Take `app` out of every stored key naming it (each a compare-and-set: idempotent); this node's listeners hear of it too. */
  async #dropScopes(app: string): Promise<void> {
    let changed = false;
    for (const rec of await this.getKeys()) {
      if (!rec.apps.includes(app)) continue;
      const { after } = await this.updateKey(rec.id, (cur) => withoutApp(cur, app));
      changed ||= after !== null && !after.apps.includes(app);
    }
    if (changed) this.#emit({ kind: 'keys' });
  }

  async createKey(rec: KeyRecord): Promise<KeyTaken | null> {
    const keys = this.#single ? [API_KEYS, CONFIG_VERSION] : [API_KEYS];
    const text = JSON.stringify(rec);
    const written = Number(await redisCall(this.#cmd.eval(CREATE_KEY_LUA, keys.length, ...keys, rec.id, text, rec.name, CONFIG_CHANNEL, this.#open('keys'), this.#single ? '1' : '0')));
    if (written === -1) return 'id';
    if (written === -2) return 'name';
    await this.#written(written);
    return null;
  }

  async putKey(rec: KeyRecord): Promise<void> {
    try {
      await this.#cmd.pipeline().hset(API_KEYS, rec.id, JSON.stringify(rec)).publish(CONFIG_CHANNEL, this.#message('keys')).exec();
    } catch (err) {
      throw storeError(err);
    }
    await this.#bump();
  }

  async deleteKey(id: string): Promise<boolean> {
    let deleted: boolean;
    try {
      const res = await this.#cmd.pipeline().hdel(API_KEYS, id).publish(CONFIG_CHANNEL, this.#message('keys')).exec();
      const first = res?.[0];
      if (first?.[0]) throw first[0];
      deleted = first?.[1] === 1;
    } catch (err) {
      throw storeError(err);
    }
    await this.#bump();
    return deleted;
  }

  /**
   * Other nodes' changes. A listener that returns a promise which rejects
   * (its re-read failed) is handed the same change again, with backoff,
   * until one succeeds.
   */
  onChange(listener: ChangeListener): void {
    this.#listeners.add(listener);
    if (this.#subscribed) return;
    this.#subscribed = true;
    this.#sub.on('message', this.#onMessage);
    this.#offResubscribed = afterResubscribe(this.#sub, () => [CONFIG_CHANNEL], () => this.#resync());
    this.#cmd.on('ready', this.#onCommandsBack);
    void this.#sub.subscribe(CONFIG_CHANNEL).catch(() => {
      /* down: made again when Redis is back (afterResubscribe), and the resync follows */
    });
    this.#checkTimer = setInterval(() => void this.#check(), this.#checkMs);
    this.#checkTimer.unref();
  }

  #message(k: ChangeMessage['k'], id?: string): string {
    const m: ChangeMessage = id === undefined ? { n: this.nodeId, k } : { n: this.nodeId, k, id };
    return JSON.stringify(m);
  }

  /** The change message without its closing brace: the script adds the version it made, if any. */
  #open(k: ChangeMessage['k'], id?: string): string {
    return this.#message(k, id).slice(0, -1);
  }

  /** A change of ours landed; written: what its script answered (one Redis: the version it made). */
  async #written(written: number): Promise<void> {
    if (this.#single) this.#versions.heard(written);
    else await this.#bump();
  }

  /** Raise the config version after a change that landed; on failure, again in the background until it lands. */
  async #bump(): Promise<void> {
    try {
      this.#versions.heard(Number(await this.#cmd.eval(BUMP_LUA, 1, CONFIG_VERSION, CONFIG_CHANNEL, this.#open('v'))));
    } catch {
      this.#bumpLater(0);
    }
  }

  #bumpLater(attempt: number): void {
    if (this.#closed || this.#bumpTimer) return;
    this.#bumpTimer = setTimeout(() => {
      this.#bumpTimer = null;
      if (this.#closed) return;
      this.#cmd.eval(BUMP_LUA, 1, CONFIG_VERSION, CONFIG_CHANNEL, this.#open('v')).then(
        (v) => this.#versions.heard(Number(v)),
        () => this.#bumpLater(attempt + 1),
      );
    }, backoff(attempt));
    this.#bumpTimer.unref();
  }

  /** The stored config version (0 when none yet). */
  async #version(): Promise<number> {
    return Number(await this.#cmd.get(CONFIG_VERSION)) || 0;
  }

  /**
   * The periodic check (and on every reconnect): read the version, and
   * re-read everything when it is past what was heard (once the messages on
   * their way had a moment), or went back.
   */
  async #check(): Promise<void> {
    if (this.#closed || this.#checking) return;
    this.#checking = true;
    try {
      this.#watchSubscriber();
      const cur = await this.#version();
      const v = this.#versions;
      if (!v.known) {
        v.set(cur);
        return;
      }
      if (cur === v.applied) return;
      if (cur > v.applied) {
        await this.#sleep(GRACE_MS);
        if (this.#closed || v.applied >= cur) return;
      }
      this.#resync();
    } catch {
      /* Redis away: the next check, or the reconnect, tries again */
    } finally {
      this.#checking = false;
    }
  }

  /**
   * Redis Cluster: ioredis moves its classic subscriber to another Redis node
   * when the one it had fails or leaves, without a 'ready' on the client: a
   * new connection there means messages were missed. Subscribe again (a
   * client that lost its channel list in the move would have none) and
   * re-read everything once the new connection answers.
   */
  #watchSubscriber(): void {
    if (!isCluster(this.#sub)) return;
    const inst = (this.#sub as unknown as { subscriber?: { getInstance?(): { ping(): Promise<unknown> } | null } }).subscriber?.getInstance?.() ?? null;
    if (inst === null || inst === this.#subInstance) return;
    const before = this.#subInstance;
    this.#subInstance = inst;
    if (before === undefined) return; // the first one looked at: load() and the version check cover what came before
    void this.#sub.subscribe(CONFIG_CHANNEL).catch(() => {});
    inst.ping().then(
      () => this.#resync(),
      () => {
        if (this.#subInstance === inst) this.#subInstance = before; // not answering: looked at again next check
      },
    );
  }

  readonly #onCommandsBack = (): void => {
    this.#listeners.retryNow();
    void this.#check();
  };

  #emit(c: StoreChange): void {
    this.#listeners.emit(c);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      t.unref();
      this.#timers.add(t);
    });
  }

  readonly #onMessage = (channel: string, text: string): void => {
    if (channel !== CONFIG_CHANNEL) return;
    let m: ChangeMessage;
    try {
      m = JSON.parse(text) as ChangeMessage;
    } catch {
      return;
    }
    if (typeof m.v === 'number') this.#versions.heard(m.v);
    if (m.n === this.nodeId) return;
    if (m.k === 'apiKey') this.#emit({ kind: 'apiKey' });
    else if (m.k === 'keys') this.#emit({ kind: 'keys' });
    else if (m.k === 'app' && typeof m.id === 'string') {
      this.#known.add(m.id);
      this.#emit({ kind: 'app', id: m.id });
    }
  };

  /**
   * Changes may have been missed (the subscriber was away or moved, or the
   * version is past what was heard): read the version, then report the keys,
   * the admin key and every app as changed; every change up to that version
   * is then in (the listeners' re-reads come after it). Retried until Redis
   * answers; one at a time (a request meanwhile runs once more after).
   */
  #resync(): void {
    if (this.#closed) return;
    if (this.#resyncing) {
      this.#resyncAgain = true;
      return;
    }
    this.#resyncing = true;
    void (async () => {
      for (let attempt = 0; !this.#closed; attempt++) {
        try {
          this.#resyncAgain = false;
          const version = await this.#version();
          const ids = await this.#cmd.smembers(APPS);
          // the keys first: a revoked key is the change that must not wait behind many apps
          this.#emit({ kind: 'keys' });
          this.#emit({ kind: 'apiKey' });
          for (const id of new Set([...this.#known, ...ids])) this.#emit({ kind: 'app', id });
          this.#versions.set(version);
          break;
        } catch {
          // the command connection is not back yet: try again shortly
          await this.#sleep(backoff(attempt));
        }
      }
      this.#resyncing = false;
      if (this.#resyncAgain && !this.#closed) this.#resync();
    })();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#listeners.close();
    if (this.#checkTimer) clearInterval(this.#checkTimer);
    if (this.#bumpTimer) clearTimeout(this.#bumpTimer);
    this.#sub.off('message', this.#onMessage);
    this.#cmd.off('ready', this.#onCommandsBack);
    this.#offResubscribed?.();
    if (this.#owned) {
      await Promise.all([closeClient(this.#cmd), closeClient(this.#sub)]);
    }
  }
}
