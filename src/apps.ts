// App / token / drain registry. Token bytes -> TokenEntry -> App with direct
// references, so the hot path does one hash and one byte compare per line.
// Writes go through the config store first and touch memory only once durable.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Ring } from './buffer/ring.js';
import { LineRates } from './buffer/rates.js';
import { TokenTable, type TokenKey } from './tokens.js';
import { SortedIds } from './basics/sorted-ids.js';
import { matchesHash, sha256Hex } from './basics/digest.js';
import { within } from './basics/within.js';
import { BadRequestError, ErrorCode, LogplaneError, NotFoundError, UnprocessableError } from './errors.js';
import { defaults } from './config.js';
import type { AppRecord, AppUpdate, ConfigStore, DrainRecord, StoreChange, TokenRecord } from './store/store.js';

/** Something every line of an app is offered to: a drain, a tail hub, a Redis batch. */
export interface LineSink {
  offer(rec: Buffer): void;
  /**
   * The same line still inside an ingest worker's batch, src[pos, pos + len),
   * with its seq (not yet stamped there): for a sink that needs no Buffer
   * of the line (the Redis batch only counts it: the line is the newest in
   * the app's ring, which it copies out of at the tick), so routeFrom()
   * makes none for it.
   */
  offerFrom?(src: DataView, pos: number, len: number, seq: number): void;
}

/**
 * Stamps seqs when several nodes share an app (distributed mode:
 * cluster/seq.ts). null in embedded mode: seq is app.seq + 1.
 */
export interface SeqClock {
  /** The next seq after `last` for a line received at receivedMs. */
  next(last: number, receivedMs: number): number;
}

/**
 * Decides, per ingested line, whether it may be routed (the per-app rate
 * limit, ingest/rate-limit.ts). What it drops it adds to the app's
 * rateLimited; the caller counts it by transport.
 */
export interface LineAdmission {
  /** True to route a line received at nowMs (whole ms); false: it is dropped. */
  admit(nowMs: number): boolean;
}

export const APP_ID = /^[a-z0-9][a-z0-9._-]{0,99}$/;
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Why a token name cannot be created, or null. A token's name is its lines'
 * source, so `logplane` (any case) is no one's: it is the source of
 * logplane's own lines in an app's stream (the audit's `logplane[api]`),
 * which a token of that name could forge. Tokens of that name made before
 * it was reserved keep working.
 */
export function tokenNameProblem(n: unknown): string | null {
  if (typeof n !== 'string' || !TOKEN_NAME.test(n)) return `invalid token name ${JSON.stringify(n)}: must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}`;
  if (n.toLowerCase() === 'logplane') return `token name ${JSON.stringify(n)} is reserved: it is the source of logplane's own lines`;
  return null;
}

export class App {
  readonly id: string;
  record: AppRecord;
  readonly ring: Ring;
  /** Per-app line counter; route() stamps lines with ++seq (or seqClock.next in distributed mode). */
  seq = 0;
  /** Distributed mode: the node's hybrid clock; null = embedded, seq + 1. */
  readonly seqClock: SeqClock | null;
  /** Drains, tail hubs, Redis batches: every routed line is offered to each. */
  readonly sinks: LineSink[] = [];
  linesIn = 0;
  bytesIn = 0;
  /**
   * Lines the rate limit dropped since the app was made on this node (the
   * channel stats' rate_limited). The app's, not the limit's: it stays when
   * the limit closes at a stop, before the last stats write reads it.
   */
  rateLimited = 0;
  /** The rate limit every ingest path asks before routing; null = none. */
  admission: LineAdmission | null = null;
  /** Lines per second by source class over the last 5 minutes (the console's chart). */
  readonly rates = new LineRates();

  constructor(record: AppRecord, historyLines: number, seqClock: SeqClock | null = null) {
    this.id = record.id;
    this.record = record;
    this.ring = new Ring(historyLines);
    this.seqClock = seqClock;
  }

  /**
   * Raise the seq to at least n, the one way besides route() to move it: a
   * restored snapshot, or lines of other nodes seen (distributed mode), so
   * new lines never reuse a seq.
   */
  restoreSeq(n: number): void {
    if (n > this.seq) this.seq = n;
  }

  addSink(s: LineSink): void {
    if (!this.sinks.includes(s)) this.sinks.push(s);
  }
  removeSink(s: LineSink): void {
    const i = this.sinks.indexOf(s);
    if (i !== -1) this.sinks.splice(i, 1);
  }
}

export class TokenEntry implements TokenKey {
  readonly token: string;
  readonly bytes: Buffer;
  readonly name: string;
  /** The source every line of this token gets, as bytes for cook(). */
  readonly nameBuf: Buffer;
  readonly app: App;
  /** False once removed from the table (revoked token, deleted app): cached references must re-look-up. */
  live = true;
  constructor(token: string, name: string, app: App) {
    this.token = token;
    this.bytes = Buffer.from(token, 'latin1');
    this.name = name;
    this.nameBuf = Buffer.from(name, 'utf8');
    this.app = app;
  }
}

export interface RegistryOptions {
  historyLines: number;
  /** Distributed mode: seqs from the node's hybrid clock. */
  seqClock?: SeqClock | null;
  /** Tokens an app may have (LOGPLANE_MAX_TOKENS_PER_APP). */
  maxTokens?: number;
}

export function newToken(): string {
  return `t.${randomUUID()}`;
}

function newApp(id: string, names: readonly string[], now: string): AppRecord {
  return { id, uuid: randomUUID(), createdAt: now, updatedAt: now, tokens: names.map((n) => ({ token: newToken(), name: n, createdAt: now })), drains: [] };
}

/** The answer to a token over the app's limit: 422, as a drain over its own (SPEC 17). */
function tokenLimitError(max: number): UnprocessableError {
  return new UnprocessableError(`maximum number of tokens reached: an app has at most ${max}`, 'limit_reached');
}

/** Name -> token; where several share a name (written by older versions), the newest, as the channel shows. */
function newestByName(tokens: readonly TokenRecord[]): Map<string, TokenRecord> {
  return new Map(tokens.map((t) => [t.name, t]));
}

/**
 * How long a management request waits for its re-read of an app in
 * distributed mode (Registry.current) before it goes on with the node's copy:
 * a Redis that hangs costs a request this, not the command timeout (as the
 * drains' status read, cluster/drains.ts).
 */
const CURRENT_READ_MS = 500;

/** What a PUT of an app did: created it, and the token names it added and removed. */
export interface TokenChanges {
  created: boolean;
  added: string[];
  removed: string[];
}

/**
 * Events: 'app' (App, created|changed), 'appDeleted' (App). Drain and tail
 * managers listen to these to attach their sinks.
 */
export class Registry extends EventEmitter {
  readonly store: ConfigStore;
  readonly tokens = new TokenTable<TokenEntry>();
  readonly #apps = new Map<string, App>();
  /** The app ids in order, for the paged list. */
  readonly #order = new SortedIds(() => this.#apps.keys());
  readonly #historyLines: number;
  readonly #seqClock: SeqClock | null;
  readonly #maxTokens: number;
  /** The admin key itself, when this node knows it (the data dir's, the configured one, or one it made); Redis keeps only its hash. */
  #apiKey: string | null = null;
  /** The admin key's SHA-256 (hex): what requests are checked against. */
  #apiKeyHash: string | null = null;
  /** Per app id: changes whenever this node installs or removes the app. */
  readonly #stamps = new Map<string, number>();
  #stampClock = 0;
  /** Per app id with re-reads under way (#refresh): how many, and the start number of the newest applied. */
  readonly #reads = new Map<string, { running: number; applied: number }>();
  #readClock = 0;

  constructor(store: ConfigStore, opts: RegistryOptions) {
    super();
    this.store = store;
    this.#historyLines = opts.historyLines;
    this.#seqClock = opts.seqClock ?? null;
    this.#maxTokens = opts.maxTokens ?? defaults.maxTokensPerApp;
  }

  /** The admin key, when this node knows it (distributed mode: null unless configured, or kept in this node's data dir). */
  get apiKey(): string | null {
    return this.#apiKey;
  }

  /** The admin key's SHA-256 (hex), null when there is no admin key: requests are checked against it. */
  get apiKeyHash(): string | null {
    return this.#apiKeyHash;
  }

  /** Take key as the admin key known here when it is the stored one (its hash matches); false otherwise. */
  useApiKey(key: string): boolean {
    if (this.#apiKeyHash === null || !matchesHash(key, this.#apiKeyHash)) return false;
    this.#apiKey = key;
    return true;
  }

  /** Re-read the admin key's hash (another node may have set it); the key known here is kept while it still matches. */
  async reloadApiKey(): Promise<void> {
    const s = this.store as ConfigStore & { getApiKeyHash?(): Promise<string | null> }; // RedisStore: no full load
    if (s.getApiKeyHash) this.#setHash(null, await s.getApiKeyHash());
    else {
      const snap = await this.store.load();
      this.#setHash(snap.apiKey, snap.apiKeyHash ?? null);
    }
  }

  #setHash(key: string | null, hash: string | null): void {
    if (key !== null) {
      this.#apiKey = key;
      this.#apiKeyHash = sha256Hex(key);
      return;
    }
    this.#apiKeyHash = hash;
    if (this.#apiKey !== null && (hash === null || !matchesHash(this.#apiKey, hash))) this.#apiKey = null;
  }

  async init(): Promise<void> {
    const snap = await this.store.load();
    this.#setHash(snap.apiKey, snap.apiKeyHash ?? null);
    for (const rec of snap.apps) this.#install(rec);
    this.#order.build();
    // a re-read that fails (the store unreachable just then) rejects: the store hands the change again until one succeeds
    this.store.onChange((c) => this.#onStoreChange(c));
  }

  async setApiKey(key: string): Promise<void> {
    await this.store.setApiKey(key);
    this.#setHash(key, null);
  }

  get(id: string): App | undefined {
    return this.#apps.get(id);
  }
  require(id: string): App {
    const a = this.#apps.get(id);
    if (!a) throw new NotFoundError('channel not found');
    return a;
  }

  /**
   * The app as the store has it now, for the management API. In distributed
   * mode this node's copy can lag another node's change (until the change is
   * heard of), so it is re-read first: a change answered by any node is seen
   * by the next request on every node. When the store does not answer within
   * CURRENT_READ_MS, this node's copy as it is (docs/operations.md).
   */
  async current(id: string): Promise<App | undefined> {
    // failed or late: go on with what this node has
    if (this.store.shared) await within(this.#refresh(id).catch(() => undefined), CURRENT_READ_MS, undefined);
    return this.#apps.get(id);
  }

  get size(): number {
    return this.#apps.size;
  }
  apps(): IterableIterator<App> {
    return this.#apps.values();
  }
  /** Give back the lines/s windows of apps quiet for the whole window (server.ts, once a minute): how many. */
  sweepRates(nowSec: number): number {
    let n = 0;
    for (const a of this.#apps.values()) if (a.rates.releaseIfQuiet(nowSec)) n++;
    return n;
  }
  /** Apps sorted by id, for paged listing. */
  list(after: string | null, limit: number): App[] {
    return this.#order.page(after, limit).map((id) => this.#apps.get(id)!);
  }

  /**
   * Create an app or make its token set exactly `tokenNames` (Logplex v3 PUT).
   * Existing tokens with a kept name keep their value. One atomic change:
   * concurrent PUTs of a new app create it once (`created` for one of them)
   * and all answer the same tokens. `added` and `removed` are the token names
   * this call changed, taken from the very state it changed (so the audit
   * says what happened, however requests overlap). `onlyIfNew`: an existing
   * app is refused (412) and left untouched.
   */
  async putApp(id: string, tokenNames: readonly string[], opts: { onlyIfNew?: boolean } = {}): Promise<{ app: App } & TokenChanges> {
    const names = this.#tokenSet(id, tokenNames);
    const { record, result } = await this.store.update(id, (cur): AppUpdate<TokenChanges> => {
      const now = new Date().toISOString();
      if (!cur) return { next: newApp(id, names, now), result: { created: true, added: names, removed: [] } };
      if (opts.onlyIfNew) throw new LogplaneError(ErrorCode.CONFLICT, 412, 'already_exists', 'channel already exists');
      const old = newestByName(cur.tokens);
      const tokens = names.map((n) => old.get(n) ?? { token: newToken(), name: n, createdAt: now });
      const changes = { created: false, added: names.filter((n) => !old.has(n)), removed: [...old.keys()].filter((n) => !names.includes(n)) };
      if (tokens.length === cur.tokens.length && tokens.every((t, i) => t === cur.tokens[i])) return { next: undefined, result: changes };
      return { next: { ...cur, updatedAt: now, tokens }, result: changes };
    });
    return { app: this.#install(record!), ...result };
  }

  /**
   * Create the app if missing and give it the named tokens it lacks, in one
   * atomic change (the library's apps.create; never removes a token): past
   * the token limit, or when the change cannot be stored, none of it is
   * applied.
   */
  async ensureTokens(id: string, tokenNames: readonly string[]): Promise<App> {
    const names = this.#tokenSet(id, tokenNames);
    const { record } = await this.store.update(id, (cur): AppUpdate<void> => {
      const now = new Date().toISOString();
      if (!cur) return { next: newApp(id, names, now), result: undefined };
      const have = newestByName(cur.tokens);
      const missing = names.filter((n) => !have.has(n));
      if (missing.length === 0) return { next: undefined, result: undefined };
      if (cur.tokens.length + missing.length > this.#maxTokens) throw tokenLimitError(this.#maxTokens);
      return { next: { ...cur, updatedAt: now, tokens: [...cur.tokens, ...missing.map((n) => ({ token: newToken(), name: n, createdAt: now }))] }, result: undefined };
    });
    return this.#install(record!);
  }

  /** The distinct token names asked for an app, checked (id, each name, the limit). */
  #tokenSet(id: string, tokenNames: readonly string[]): string[] {
    if (!APP_ID.test(id)) throw new BadRequestError('channel id must match [a-z0-9][a-z0-9._-]{0,99}', 'invalid_channel');
    for (const n of tokenNames) {
      const problem = tokenNameProblem(n);
      if (problem !== null) throw new BadRequestError(`tokens: ${problem}`, 'invalid_params');
    }
    const names = [...new Set(tokenNames)];
    if (names.length > this.#maxTokens) throw tokenLimitError(this.#maxTokens);
    return names;
  }

  /** Create an app if missing (Platform API, CLI apps:create); an existing one is left as it is. */
  async ensureApp(id: string): Promise<{ app: App; created: boolean }> {
    const a = await this.current(id);
    if (a) return { app: a, created: false };
    if (!APP_ID.test(id)) throw new BadRequestError('channel id must match [a-z0-9][a-z0-9._-]{0,99}', 'invalid_channel');
    const { record, result: created } = await this.store.update(id, (cur): AppUpdate<boolean> => (cur ? { next: undefined, result: false } : { next: newApp(id, [], new Date().toISOString()), result: true }));
    return { app: this.#install(record!), created };
  }

  async deleteApp(id: string): Promise<void> {
    await this.store.update(id, (cur) => {
      if (!cur) throw new NotFoundError('channel not found');
      return { next: null, result: undefined };
    });
    const app = this.#apps.get(id);
    if (app) this.#uninstall(app);
  }

  /**
   * A token with this name. A name the app already has answers its token
   * (idempotent, as PUT keeps kept names: one token per name, the one the
   * channel shows); a new name gets a new token, and `created` (decided by
   * the atomic change itself: of racing creates of one name, one).
   */
  async createToken(id: string, name: string): Promise<{ token: string; name: string; created: boolean }> {
    const problem = tokenNameProblem(name);
    if (problem !== null) throw new BadRequestError(`name: ${problem}`, 'invalid_params');
    const { record, result } = await this.store.update(id, (cur): AppUpdate<{ token: string; created: boolean }> => {
      if (!cur) throw new NotFoundError('channel not found');
      const existing = newestByName(cur.tokens).get(name);
      if (existing) return { next: undefined, result: { token: existing.token, created: false } };
      // checked on the stored record, in the store's atomic change: racing creations cannot pass the limit together
      if (cur.tokens.length >= this.#maxTokens) throw tokenLimitError(this.#maxTokens);
      const now = new Date().toISOString();
      const t = { token: newToken(), name, createdAt: now };
      return { next: { ...cur, updatedAt: now, tokens: [...cur.tokens, t] }, result: { token: t.token, created: true } };
    });
    this.#install(record!);
    return { token: result.token, name, created: result.created };
  }

  /**
   * Change an app's drain list in one atomic step: `fn` gets the committed
   * list and returns the new one (undefined: no change) and a result, or
   * throws (nothing changes). It may run more than once: no side effects.
   */
  async updateDrains<T>(id: string, fn: (drains: readonly DrainRecord[]) => { drains: DrainRecord[] | undefined; result: T }): Promise<T> {
    const { record, result } = await this.store.update(id, (cur): AppUpdate<T> => {
      if (!cur) throw new NotFoundError('channel not found');
      const { drains, result } = fn(cur.drains);
      return { next: drains === undefined ? undefined : { ...cur, updatedAt: new Date().toISOString(), drains }, result };
    });
    this.#install(record!);
    return result;
  }

  /** Put a record into memory: new App or updated one; tokens re-indexed. */
  #install(rec: AppRecord): App {
    let app = this.#apps.get(rec.id);
    if (app && app.record.uuid !== rec.uuid) {
      // another app of that name: the app was deleted and made again, heard of
      // as one change (distributed mode). The old one goes as at a delete: its
      // tails end, its sessions are forgotten, its ring is not the new app's
      this.#uninstall(app);
      app = undefined;
    }
    if (app) {
      // a state heard of late (another node's change read before a newer one landed): keep the newer
      if ((rec.rev ?? 0) < (app.record.rev ?? 0)) return app;
      if (rec.rev !== undefined && rec.rev === app.record.rev) return app;
    } else {
      app = new App(rec, this.#historyLines, this.#seqClock);
      this.#apps.set(rec.id, app);
      this.#order.add(rec.id);
    }
    this.#indexTokens(app, app.record === rec ? [] : app.record.tokens, rec.tokens);
    app.record = rec;
    this.#stamps.set(rec.id, ++this.#stampClock);
    this.emit('app', app);
    return app;
  }

  /**
   * Index the app's tokens `after` in place of `before`: a token kept with
   * its name keeps its entry, so adding one token to a long list makes one
   * entry, not one per token.
   */
  #indexTokens(app: App, before: readonly TokenRecord[], after: readonly TokenRecord[]): void {
    const names = new Map(after.map((t) => [t.token, t.name]));
    const kept = new Set<string>();
    for (const t of before) {
      if (names.get(t.token) === t.name) kept.add(t.token);
      else this.tokens.remove(t.token);
    }
    for (const t of after) if (!kept.has(t.token)) this.tokens.add(new TokenEntry(t.token, t.name, app));
  }

  #uninstall(app: App): void {
    for (const t of app.record.tokens) this.tokens.remove(t.token);
    this.#apps.delete(app.id);
    this.#order.remove(app.id);
    this.#stamps.set(app.id, ++this.#stampClock);
    app.ring.clear();
    app.rates.clear();
    this.emit('appDeleted', app);
  }

  async #onStoreChange(c: StoreChange): Promise<void> {
    if (c.kind === 'apiKey') {
      await this.reloadApiKey();
      return;
    }
    if (c.kind === 'keys') return; // API keys: access/keys.ts
    await this.#refresh(c.id);
  }

  /**
   * Re-read one app (another node changed it; a management request's
   * current()). Re-reads of an app may overlap and answer out of order: one
   * is applied only if none that started after it was applied already (its
   * answer may be older). When this node changed the app itself while the
   * read was under way, read again (the answer may predate our change, or
   * our change may predate theirs). Resolves once this read, or a later one,
   * is applied.
   */
  async #refresh(id: string): Promise<void> {
    const reads = this.#reads.get(id) ?? { running: 0, applied: 0 };
    this.#reads.set(id, reads);
    reads.running++;
    try {
      for (let i = 0; i < 10; i++) {
        const read = ++this.#readClock;
        const stamp = this.#stamps.get(id);
        const rec = await this.store.getApp(id);
        if (reads.applied > read) return; // a later read is in: newer than this answer
        if (this.#stamps.get(id) !== stamp) continue;
        reads.applied = read;
        const app = this.#apps.get(id);
        if (rec) this.#install(rec);
        else if (app) this.#uninstall(app);
        return;
      }
      // our own changes kept landing: each was computed from the newest stored state, which had theirs
    } finally {
      // only reads under way compare with `applied`: any read from now on starts later
      if (--reads.running === 0) this.#reads.delete(id);
    }
  }
}
