// SHA-256 of a secret, as the stores keep it (API keys, and the admin key in
// Redis: SPEC 12), and its constant-time check. A single unsalted hash is
// enough for secrets with at least 128 bits of entropy (access/keys.ts says
// why); the admin key is one of those unless an operator sets a weak
// LOGPLANE_API_KEY (config.ts asks for 16 characters at least).
import { createHash, timingSafeEqual } from 'node:crypto';

/** Hex SHA-256 of a secret (UTF-8). */
export function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** True when sha256Hex(secret) is hexHash, compared in constant time. */
export function matchesHash(secret: string, hexHash: string): boolean {
  const want = Buffer.from(hexHash, 'hex');
  const got = createHash('sha256').update(secret, 'utf8').digest();
  return want.length === got.length && timingSafeEqual(want, got);
}
