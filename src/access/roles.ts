// What each role may do (SPEC 12). A route declares the permission it needs
// and where its app comes from (api/scope.ts); `allows` answers for a caller.
//   viewer     reads its apps: app info, history, sessions and tails, drain list and status
//   developer  also adds, changes and removes drains and creates tokens of its apps
//   admin      everything: apps, keys, every app (the admin key, or a key with role admin)

export const ROLES = ['viewer', 'developer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a route needs. `admin` routes take no app (apps, keys). */
export const PERMISSIONS = ['read', 'drains', 'tokens', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  viewer: new Set<Permission>(['read']),
  developer: new Set<Permission>(['read', 'drains', 'tokens']),
  admin: new Set<Permission>(PERMISSIONS),
};

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/** Who made a request: the admin key, or an API key. */
export interface Principal {
  /** The API key's id; null for the admin key. */
  readonly keyId: string | null;
  /** Shown in audit lines: the key's name, `admin` for the admin key. */
  readonly name: string;
  readonly role: Role;
  /** The apps the key reaches (every app for role admin). */
  readonly apps: ReadonlySet<string>;
}

export const ADMIN: Principal = Object.freeze({ keyId: null, name: 'admin', role: 'admin', apps: new Set<string>() });

/** Whether a role grants a permission, whatever the app. */
export function grants(role: Role, perm: Permission): boolean {
  return GRANTS[role].has(perm);
}

/** Whether `who` may do `perm` on `app` (null: a route without an app). */
export function allows(who: Principal, perm: Permission, app: string | null): boolean {
  if (who.role === 'admin') return true;
  if (!grants(who.role, perm)) return false;
  return app === null || who.apps.has(app);
}

/** Whether `who` reaches `app` at all (lists, sessions). */
export function reaches(who: Principal, app: string): boolean {
  return who.role === 'admin' || who.apps.has(app);
}
