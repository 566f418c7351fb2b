// Audit lines (SPEC 12): a change of an app's configuration (tokens, drains,
// key scope) is also a line in that app's own stream, as Heroku does with
// `app[api]`: source `logplane`, dyno `api`, message
// `<Verb> <object> by <key name>`. Drain URLs are shown as drains/url.ts
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
import type { App } from '../apps.js';
import { lineFrom, rfc3339 } from '../line.js';
import type { KeyRecord } from '../store/store.js';
import type { Principal } from './roles.js';

/** local7.info, as Heroku's own lines. */
const PRI = 190;

/** The audit messages. `shown` is a drain URL with its credentials redacted. */
export const auditText = {
  addDrain: (shown: string, by: Principal) => `Add drain ${shown} by ${by.name}`,
  updateDrain: (token: string, shown: string, by: Principal) => `Update drain ${token} to ${shown} by ${by.name}`,
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
  updateDrain(appId: string, token: string, url: string, by: Principal): void {
    this.#change(appId, by, () => auditText.updateDrain(token, this.#w.show(url), by));
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

  /** What a change of a key did to each app: added, removed, or its role changed (always audited). */
  keyChange(before: KeyRecord | null, after: KeyRecord | null, by: Principal): void {
    const was = new Set(before?.apps ?? []);
    const now = new Set(after?.apps ?? []);
    for (const a of was) if (!now.has(a)) this.write(a, auditText.removeKey(before!, by));
    for (const a of now) {
      if (!was.has(a)) this.write(a, auditText.addKey(after!, by));
      else if (before!.role !== after!.role) this.write(a, auditText.changeKey(after!, by));
    }
  }
}
