// API keys in tests (SPEC 12): create one with the admin key, and the
// Authorization header that presents it.
import assert from 'node:assert/strict';
import { api, type ApiTarget } from './api.js';

export interface TestKey {
  id: string;
  /** The secret, `lpk_...`. */
  key: string;
  name: string;
  role: string;
  apps: string[];
  /** `Bearer <key>`. */
  auth: string;
}

/** POST /v3/keys with `admin` (a target with the admin key); fails the test unless 201. */
export async function createKey(admin: ApiTarget, name: string, role: string, apps: string[]): Promise<TestKey> {
  const r = await api(admin, 'POST', '/v3/keys', { name, role, apps });
  assert.equal(r.status, 201, `create key ${name}: ${r.text}`);
  return { ...r.json, auth: `Bearer ${r.json.key}` } as TestKey;
}

/** The same server as `target`, with this key. */
export function as(target: { url: string }, key: TestKey | string): ApiTarget {
  return { url: target.url, auth: typeof key === 'string' ? key : key.auth };
}
