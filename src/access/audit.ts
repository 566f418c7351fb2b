// Audit lines (SPEC 12): a change of an app's configuration (tokens, drains,
// key scope) is also a line in that app's own stream, as Heroku does with
// `app[api]`: source `logplane`, dyno `api`, message
// `<Verb> <object> by <key name>`. A drain is named by its URL when added, by
// its id when changed (never by its live token: every viewer reads the
// stream, and so do the app's other drains), by its token once removed (as
// SPEC 12's example: a dead token). Drain URLs are shown as drains/url.ts
// displayUrl shows them (password, query values and key-like parts `***`;
// handed in at wiring time, as access/ sits below the sinks' context). The
// line goes through the same route() as any other line (also handed in), so
// history, tails, drains and other nodes see it.
//
// Which changes: every change of a token, drain or key scope, whoever made
// it (SPEC 12: "every change of an app's configuration"), the admin key's as
// `by admin`. LOGPLANE_AUDIT_ADMIN_KEY=0 leaves the admin key's token and
// drain changes out, for a platform whose control plane makes them on its
// users' behalf and writes its own record; docs/api.md says so.
//
// A key's scope is what it reaches: its apps, or every app for role admin.
// A change of a key is a line in each app whose access it changed: `Add key`
// where it now reaches an app it did not, `Remove key` where it no longer
// does, `Change key <name> to <role>` where it still does with another role.
// So a key raised to admin (or lowered from it) is a line in every app of
// the service, one per app, written a slice at a time (SLICE apps between
// two turns of the event loop) so that thousands of apps do not stall it.
import type { App } from '../apps.js';
import { lineFrom, rfc3339 } from '../line.js';
import type { KeyRecord } from '../store/store.js';
import type { Principal } from './roles.js';

/** local7.info, as Heroku's own lines. */
const PRI = 190;

/** Audit lines of one key change written between two turns of the event loop. */
const SLICE = 1000;

/** Whether a key record reaches an app: role admin every app, other roles their apps (null: a key that does not exist). */
function reachesApp(rec: KeyRecord | null, app: string): boolean {
  return rec !== null && (rec.role === 'admin' || rec.apps.includes(app));
}

/** The audit messages. `shown` is a drain URL with its credentials redacted. */
export const auditText = {
  addDrain: (shown: string, by: Principal) => `Add drain ${shown} by ${by.name}`,
  // by the drain's id: its token stays alive, and every reader of the stream (viewers, the app's other drains) would read it
  updateDrain: (id: string, shown: string, by: Principal) => `Update drain ${id} to ${shown} by ${by.name}`,
  // a removed drain's token is dead: naming it is harmless (SPEC 12's own example)
  removeDrain: (token: string, by: Principal) => `Remove drain ${token} by ${by.name}`,
  createToken: (name: string, by: Principal) => `Create token ${name} by ${by.name}`,
  removeToken: (name: string, by: Principal) => `Remove token ${name} by ${by.name}`,
  addKey: (key: KeyRecord, by: Principal) => `Add key ${key.name} (${key.role}) by ${by.name}`,
  changeKey: (key: KeyRecord, by: Principal) => `Change key ${key.name} to ${key.role} by ${by.name}`,
  removeKey: (key: KeyRecord, by: Principal) => `Remove key ${key.name} by ${by.name}`,
} as const;

export interface AuditWiring {
  /** An app by id. */
  app: (id: string) => App | undefined;
  /** Every app (whom a key with role admin reaches). */
  apps: () => Iterable<App>;
  /** The router's route(). */
  emit: (app: App, rec: Buffer) => void;
  /** drains/url.ts displayUrl. */
  show: (url: string) => string;
  /** Audit token and drain changes made with the admin key too. */
  adminKey: boolean;
}

export class Audit {
  readonly #w: AuditWiring;

  constructor(wiring: AuditWiring) {
    this.#w = wiring;
  }

  /** One audit line into the app's stream (nothing when the app is gone). */
  write(appId: string, msg: string): void {
    const app = this.#w.app(appId);
    if (!app) return;
    const now = Date.now();
    this.#w.emit(app, lineFrom({ pri: PRI, ts: rfc3339(now), source: 'logplane', dyno: 'api', msg, receivedMs: now }));
  }

  #change(appId: string, by: Principal, msg: () => string): void {
    if (by.keyId === null && !this.#w.adminKey) return;
    this.write(appId, msg());
  }

  addDrain(appId: string, url: string, by: Principal): void {
    this.#change(appId, by, () => auditText.addDrain(this.#w.show(url), by));
  }
  updateDrain(appId: string, id: string, url: string, by: Principal): void {
    this.#change(appId, by, () => auditText.updateDrain(id, this.#w.show(url), by));
  }
  removeDrain(appId: string, token: string, by: Principal): void {
    this.#change(appId, by, () => auditText.removeDrain(token, by));
  }
  createToken(appId: string, name: string, by: Principal): void {
    this.#change(appId, by, () => auditText.createToken(name, by));
  }
  removeToken(appId: string, name: string, by: Principal): void {
    this.#change(appId, by, () => auditText.removeToken(name, by));
  }

  /**
   * What a change of a key (null: none, before a create or after a revoke)
   * did to each app it reaches before or after: added, removed, or its role
   * changed. Always audited, whoever made it. Resolves once every line is written.
   */
  async keyChange(before: KeyRecord | null, after: KeyRecord | null, by: Principal): Promise<void> {
    const everyApp = before?.role === 'admin' || after?.role === 'admin';
    const apps = everyApp ? [...this.#w.apps()].map((a) => a.id) : [...new Set([...(before?.apps ?? []), ...(after?.apps ?? [])])];
    for (let i = 0; i < apps.length; i++) {
      if (i > 0 && i % SLICE === 0) await new Promise<void>((r) => setImmediate(r));
      const app = apps[i]!;
      const was = reachesApp(before, app);
      const now = reachesApp(after, app);
      if (was && !now) this.write(app, auditText.removeKey(before!, by));
      else if (!was && now) this.write(app, auditText.addKey(after!, by));
      else if (was && now && before!.role !== after!.role) this.write(app, auditText.changeKey(after!, by));
    }
  }
}
