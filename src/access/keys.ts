// API keys (SPEC 12): records, hashing, lookup. A key is `lpk_` + 32 random
// bytes (256 bits, base64url); the store holds only its SHA-256. A single
// unsalted hash is enough for a secret with 256 bits of entropy: there is no
// dictionary to try and no feasible search, so a slow KDF (made for
// passwords people choose) would only slow every request down. Lookup is by
// hash (a Map of digests: timing tells nothing about the secret) and the
// digest found is compared again in constant time.
//
// Every node keeps all key records in memory. Its own changes apply at once;
// other nodes' arrive as a `keys` store change (Redis pub/sub, milliseconds)
// and the whole set is re-read. That copy is for lookups only: every change
// (PATCH, revoke, an app destroyed) is an atomic read-modify-write of the
// stored record (ConfigStore.updateKey), computed from the record as stored,
// so a node that has not yet heard of a revocation cannot write the key back
// (a PATCH then answers 404), and a PATCH cannot put back an app destroyed
// meanwhile; a create checks the name in the store's atomic write
// (ConfigStore.createKey); and a key this node has not heard of yet is
// looked up in the store before a 404.
import { EventEmitter } from 'node:events';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BadRequestError, ConflictError, NotFoundError, UnprocessableError } from '../errors.js';
import { withoutApp, type ConfigStore, type KeyChange, type KeyRecord } from '../store/store.js';
import { isRole, ROLES, type Principal, type Role } from './roles.js';
import { sha256Hex } from '../basics/digest.js';

export const KEY_ID = /^k_[0-9a-f]{16}$/;
export const KEY_SECRET = /^lpk_[A-Za-z0-9_-]{43}$/;
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const APP_ID = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** Hex SHA-256 of a key's secret: what the store keeps. */
export function hashSecret(secret: string): string {
  return sha256Hex(secret);
}

/** A new key: its id and its secret (shown once, never stored). */
export function newKey(): { id: string; secret: string } {
  return { id: `k_${randomBytes(8).toString('hex')}`, secret: `lpk_${randomBytes(32).toString('base64url')}` };
}

/** A key record as the API shows it (never the hash). */
export function keyJson(r: KeyRecord) {
  return { id: r.id, name: r.name, role: r.role, apps: r.apps, created_at: r.createdAt, updated_at: r.updatedAt };
}

export interface KeyInput {
  name: string;
  role: Role;
  apps: string[];
}

/** What a PATCH changes; an absent field keeps the stored value. */
export interface KeyPatch {
  role?: Role;
  apps?: string[];
}

function badField(field: string, why: string): BadRequestError {
  return new BadRequestError(`${field}: ${why}`, 'invalid_params');
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw badField('body', 'must be a JSON object');
  return body as Record<string, unknown>;
}

function roleField(v: unknown): Role {
  if (!isRole(v)) throw badField('role', `must be one of ${ROLES.join(', ')}`);
  return v;
}

function appsField(v: unknown): string[] {
  if (!Array.isArray(v)) throw badField('apps', 'must be an array of app names');
  v.forEach((a, i) => {
    if (typeof a !== 'string' || !APP_ID.test(a)) throw badField(`apps[${i}]`, 'must be an app name ([a-z0-9][a-z0-9._-]{0,99})');
  });
  return [...new Set(v as string[])].sort();
}

/** A viewer or developer key must name an app (400 otherwise). */
function checkScope(role: Role, apps: readonly string[]): void {
  if (apps.length === 0 && role !== 'admin') throw badField('apps', `must name at least one app for role ${role}`);
}

/** POST /v3/keys body → input (400 naming the field). */
export function createInput(body: unknown): KeyInput {
  const b = bodyObject(body);
  const name = b['name'];
  if (name === undefined) throw badField('name', 'required (e.g. "ci-reader")');
  if (typeof name !== 'string' || !KEY_NAME.test(name)) throw badField('name', 'must match [A-Za-z0-9][A-Za-z0-9._@-]{0,63}');
  if (name === 'admin') throw badField('name', '"admin" names the admin key in audit lines; choose another');
  if (b['role'] === undefined) throw badField('role', `required (one of ${ROLES.join(', ')})`);
  const role = roleField(b['role']);
  const apps = b['apps'] === undefined && role === 'admin' ? [] : appsField(b['apps'] ?? null);
  checkScope(role, apps);
  return { name, role, apps };
}

/** PATCH /v3/keys/:id body → the fields to change (400 naming the field); applied to the stored record by KeyRing.update. */
export function patchInput(body: unknown): KeyPatch {
  const b = bodyObject(body);
  for (const k of Object.keys(b)) if (k !== 'role' && k !== 'apps') throw badField(k, 'cannot be changed (only role and apps)');
  if (b['role'] === undefined && b['apps'] === undefined) throw badField('body', 'give role, apps or both');
  const patch: KeyPatch = {};
  if (b['role'] !== undefined) patch.role = roleField(b['role']);
  if (b['apps'] !== undefined) patch.apps = appsField(b['apps']);
  return patch;
}

/** A malformed key id is no key: 404, as an unknown one (nothing asked of the store). */
function checkId(id: string): void {
  if (!KEY_ID.test(id)) throw new NotFoundError('key not found');
}

interface Entry {
  record: KeyRecord;
  digest: Buffer;
  principal: Principal;
}

function entryOf(record: KeyRecord): Entry {
  const principal: Principal = Object.freeze({ keyId: record.id, name: record.name, role: isRole(record.role) ? record.role : 'viewer', apps: new Set(record.apps) });
  return { record, digest: Buffer.from(record.hash, 'hex'), principal };
}

/**
 * Every API key of the service. Events: 'changed' (after any change, local
 * or heard from another node), so live sessions can be checked again.
 */
export class KeyRing extends EventEmitter {
  readonly #store: ConfigStore;
  readonly #appExists: (app: string) => boolean;
  #byHash = new Map<string, Entry>();
  #byId = new Map<string, Entry>();
  /** Bumped by every local write: a re-read that overlaps one reads again. */
  #writes = 0;

  constructor(store: ConfigStore, appExists: (app: string) => boolean) {
    super();
    this.#store = store;
    this.#appExists = appExists;
  }

  async init(): Promise<void> {
    this.#install(await this.#store.getKeys());
    // a re-read that fails (the store unreachable just then) rejects: the store hands the change again until one succeeds
    this.#store.onChange((c) => (c.kind === 'keys' ? this.reload() : undefined));
  }

  /** Re-read every record (another node changed one). */
  async reload(): Promise<void> {
    for (let i = 0; i < 10; i++) {
      const w = this.#writes;
      const recs = await this.#store.getKeys();
      if (w !== this.#writes) continue;
      this.#install(recs);
      return;
    }
  }

  #install(recs: readonly KeyRecord[]): void {
    const byHash = new Map<string, Entry>();
    const byId = new Map<string, Entry>();
    for (const r of recs) {
      const e = entryOf(r);
      byHash.set(r.hash, e);
      byId.set(r.id, e);
    }
    this.#byHash = byHash;
    this.#byId = byId;
    this.emit('changed');
  }

  #set(rec: KeyRecord | null, id: string): void {
    const old = this.#byId.get(id);
    if (old) {
      this.#byHash.delete(old.record.hash);
      this.#byId.delete(id);
    }
    if (rec) {
      const e = entryOf(rec);
      this.#byHash.set(rec.hash, e);
      this.#byId.set(rec.id, e);
    }
    this.emit('changed');
  }

  get size(): number {
    return this.#byId.size;
  }

  /** The key one of the presented strings is, or null. */
  authenticate(presented: readonly string[]): Principal | null {
    let found: Principal | null = null;
    for (const s of presented) {
      if (!KEY_SECRET.test(s)) continue;
      const digest = createHash('sha256').update(s, 'utf8').digest();
      const e = this.#byHash.get(digest.toString('hex'));
      if (e && timingSafeEqual(e.digest, digest)) found = e.principal;
    }
    return found;
  }

  /** The key's current scope (null once revoked). */
  principal(id: string): Principal | null {
    return this.#byId.get(id)?.principal ?? null;
  }

  list(): KeyRecord[] {
    return [...this.#byId.values()].map((e) => e.record).sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  }

  /**
   * The key as this node has it; one it has not heard of yet (made a moment
   * ago on another node) is looked up in the store before the 404 (SPEC 9:
   * every node serves every request).
   */
  async require(id: string): Promise<KeyRecord> {
    checkId(id);
    const known = this.#byId.get(id)?.record;
    if (known) return known;
    // a read: the change writes nothing
    const { after } = await this.#write(id, () => undefined);
    if (!after) throw new NotFoundError('key not found');
    return after;
  }

  #checkApps(apps: readonly string[]): void {
    const missing = apps.filter((a) => !this.#appExists(a));
    if (missing.length) throw new UnprocessableError(`apps: no such app ${missing.map((a) => JSON.stringify(a)).join(', ')}`, 'invalid_params');
  }

  async create(input: KeyInput): Promise<{ record: KeyRecord; secret: string }> {
    this.#checkApps(input.apps);
    const { id, secret } = newKey();
    const now = new Date().toISOString();
    const record: KeyRecord = { id, hash: hashSecret(secret), name: input.name, role: input.role, apps: input.apps, createdAt: now, updatedAt: now };
    // the name is checked in the store's atomic write, not against this node's copy: creates at once, here or on
    // other nodes, get one key of a name
    this.#writes++;
    const taken = await this.#store.createKey(record);
    if (taken === 'name') throw new ConflictError(`a key named ${JSON.stringify(input.name)} exists`);
    if (taken === 'id') throw new ConflictError('a key with this id exists; try again');
    this.#set(record, id);
    return { record: await this.#dropGone(id, input.apps, record), secret };
  }

  /** Change a key's role and apps, applied to the record as stored; answers the record before and after. 404 once revoked. */
  async update(id: string, patch: KeyPatch): Promise<{ before: KeyRecord; after: KeyRecord }> {
    const { before, after } = await this.#write(id, (cur) => {
      if (!cur) throw new NotFoundError('key not found');
      const role = patch.role ?? cur.role;
      const apps = patch.apps ?? cur.apps;
      checkScope(role, apps);
      this.#checkApps(apps.filter((a) => !cur.apps.includes(a)));
      return { ...cur, role, apps, updatedAt: new Date().toISOString() };
    });
    const added = after!.apps.filter((a) => !before!.apps.includes(a));
    return { before: before!, after: await this.#dropGone(id, added, after!) };
  }

  /** Revoke a key; answers its last record as stored. 404 when it is gone (revoked meanwhile, here or on another node). */
  async revoke(id: string): Promise<KeyRecord> {
    // the store decides, not this node's copy (a key made on another node a moment ago is revoked too)
    checkId(id);
    const { before } = await this.#write(id, (cur) => {
      if (!cur) throw new NotFoundError('key not found');
      return null;
    });
    return before!;
  }

  /** Take `app` out of one key if the stored key names it: the key after, or null when nothing changed. */
  async #without(id: string, app: string): Promise<KeyRecord | null> {
    const { before, after } = await this.#write(id, (cur) => withoutApp(cur, app));
    return before?.apps.includes(app) && after && !after.apps.includes(app) ? after : null;
  }

  /**
   * A key was just given `apps`: any of them destroyed in the meantime (the
   * destroy's scope drop may have run before this write landed) is taken out
   * again. The store is asked, not the registry, which hears of another
   * node's destroy a moment later. Answers the key as it is now.
   */
  async #dropGone(id: string, apps: readonly string[], rec: KeyRecord): Promise<KeyRecord> {
    for (const app of apps) {
      if ((await this.#store.getApp(app)) !== null) continue;
      rec = (await this.#without(id, app)) ?? rec;
    }
    return rec;
  }

  /** One atomic change of a stored key, then this node's copy set to what was stored. */
  async #write(id: string, fn: (current: KeyRecord | null) => KeyRecord | null | undefined): Promise<KeyChange> {
    this.#writes++;
    const change = await this.#store.updateKey(id, fn);
    this.#set(change.after, id);
    return change;
  }
}
