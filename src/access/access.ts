// The access layer as the API edge uses it: who a request is (the admin key
// or an API key), the failed-auth throttle, the audit writer, and whether a
// session's creator still reaches its app. Built once at wiring time.
import type { App, Registry } from '../apps.js';
import type { Metrics } from '../obs/metrics.js';
import type { Child } from '../obs/metrics.js';
import { presentedKeys } from './credentials.js';
import { matchesHash } from '../basics/digest.js';
import { Audit } from './audit.js';
import { KeyRing } from './keys.js';
import { ADMIN, reaches, type Principal } from './roles.js';
import { AuthThrottle, isLoopbackAddress, type SharedFailureCount } from './throttle.js';

export interface AccessOptions {
  /** Failed authentications per minute and address before 429; 0 = off. */
  authFailureLimit: number;
  /** Throttle loopback clients too (off by default, as fail2ban's ignoreip). */
  throttleLoopback: boolean;
  /** Audit token and drain changes made with the admin key too. */
  auditAdminKey: boolean;
  /** The failed-auth count every node shares (distributed mode); null: this node's alone. */
  sharedFailures?: SharedFailureCount | null;
}

/** What a session carries of its creator: the API key's id (absent for the admin key). */
export interface SessionScope {
  app: string;
  keyId?: string | null;
}

export class Access {
  readonly keys: KeyRing;
  readonly throttle: AuthThrottle;
  readonly audit: Audit;
  readonly #registry: Registry;
  readonly authFailures: Child;
  readonly authThrottled: Child;

  /** `emit`: the router's route(); `showUrl`: drains/url.ts displayUrl (both below access/ in the wiring). */
  constructor(registry: Registry, metrics: Metrics, emit: (app: App, rec: Buffer) => void, showUrl: (url: string) => string, opts: AccessOptions) {
    this.#registry = registry;
    this.keys = new KeyRing(registry.store, (id) => registry.get(id) !== undefined);
    this.throttle = new AuthThrottle({ limit: opts.authFailureLimit, exempt: opts.throttleLoopback ? () => false : isLoopbackAddress, shared: opts.sharedFailures ?? null });
    this.audit = new Audit({ app: (id) => registry.get(id), apps: () => registry.apps(), emit, show: showUrl, adminKey: opts.auditAdminKey });
    this.authFailures = metrics.registry.counter('logplane_api_auth_failures_total', 'API requests refused for a missing or wrong key (401).').labels();
    this.authThrottled = metrics.registry.counter('logplane_api_auth_throttled_total', 'API requests refused (429) because their address failed authentication too often.').labels();
  }

  async init(): Promise<void> {
    await this.keys.init();
  }

  /**
   * Destroy an app (the API's DELETE, the library's destroy). The store takes
   * it out of every key with the delete (ConfigStore.update: in the same
   * write embedded, so a refused delete changes no key; right after it in
   * Redis, redone until it lands); this node's copy of the keys is re-read
   * here, the other nodes hear of both changes from the store.
   */
  async deleteApp(id: string): Promise<void> {
    await this.#registry.deleteApp(id);
    // the delete stands: a re-read that fails (Redis away) is left to the store's `keys` change, handed again until it succeeds
    await this.keys.reload().catch(() => {});
  }

  /**
   * The throttle's answer to a request from `address` whose key was right
   * (`ok`) or not, for every route that takes a key (the management API,
   * /metrics with LOGPLANE_METRICS_KEY): the seconds to wait (answer 429
   * with Retry-After, counted as throttled), or 0 to go on (a wrong key is
   * then answered 401, counted as a failure).
   */
  async gate(address: string, ok: boolean): Promise<number> {
    const wait = await this.throttle.admit(address, ok);
    if (wait > 0) this.authThrottled.value++;
    else if (!ok) this.authFailures.value++;
    return wait;
  }

  /** The admin key or an API key this Authorization header presents; null for none. */
  authenticate(header: string | undefined): Principal | null {
    const presented = presentedKeys(header);
    if (presented.length === 0) return null;
    // checked against the admin key's hash (Redis keeps nothing else: SPEC 12); every form checked, no early exit
    const admin = this.#registry.apiKeyHash;
    let isAdmin = false;
    if (admin !== null) for (const k of presented) isAdmin = matchesHash(k, admin) || isAdmin;
    const key = this.keys.authenticate(presented);
    return isAdmin ? ADMIN : key;
  }

  /** Whether a session may still be read: the admin key's always; an API key's while it reaches the app. */
  admits(scope: SessionScope): boolean {
    if (scope.keyId === undefined || scope.keyId === null) return true;
    const who = this.keys.principal(scope.keyId);
    return who !== null && reaches(who, scope.app);
  }
}
