// The three ways a request presents a key (SPEC 7, 12): `Basic <key>` (raw,
// as Logplex compares it), `Basic base64(<any>:<key>)` (curl -u), or
// `Bearer <key>` (heroku CLI). The admin key is compared in constant time;
// API keys are looked up by hash (keys.ts). The check runs on request arrival
// for every management route (api/scope.ts). Ingest token auth is in
// ingest/http.ts.
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time string equality (hash both so lengths do not leak). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The candidate keys a request presents, in the three accepted forms. */
export function presentedKeys(header: string | undefined): string[] {
  if (!header) return [];
  const sp = header.indexOf(' ');
  if (sp === -1) return [];
  const scheme = header.slice(0, sp).toLowerCase();
  const value = header.slice(sp + 1).trim();
  if (scheme === 'bearer') return [value];
  if (scheme !== 'basic') return [];
  const out = [value];
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon !== -1) out.push(decoded.slice(colon + 1));
  return out;
}

export function isAdmin(header: string | undefined, key: string | null): boolean {
  if (key === null) return false;
  let ok = false;
  // check every form, no early exit
  for (const k of presentedKeys(header)) ok = safeEqual(k, key) || ok;
  return ok;
}
