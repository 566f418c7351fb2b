// The admin key of a node in distributed mode, kept in its data dir (SPEC 12:
// "the admin key stays readable by the local CLI in the data dir (mode
// 0600)"; Redis keeps only its SHA-256). A node that makes the key (the first
// node, started without LOGPLANE_API_KEY) saves it here, so that it knows
// the key again after a restart and copies it into server.json for the
// local CLI; a node started without LOGPLANE_API_KEY takes it from here when
// its hash is the one in Redis. Other nodes get it from LOGPLANE_API_KEY
// (docs/operations.md, "The admin key in distributed mode").
import { mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeSynced } from '../basics/files.js';

export const ADMIN_KEY_FILE = 'admin-key.json';

export function adminKeyPath(dataDir: string): string {
  return join(dataDir, ADMIN_KEY_FILE);
}

/** The key saved in this data dir, or null (none, or unreadable). */
export async function readAdminKey(dataDir: string): Promise<string | null> {
  try {
    const data = JSON.parse(await readFile(adminKeyPath(dataDir), 'utf8')) as { apiKey?: unknown };
    return typeof data.apiKey === 'string' && data.apiKey !== '' ? data.apiKey : null;
  } catch {
    return null;
  }
}

/** Save the key (mode 0600, in a data dir of mode 0700; temp file, fsync, rename). */
export async function saveAdminKey(dataDir: string, key: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = adminKeyPath(dataDir);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeSynced(tmp, `${JSON.stringify({ version: 1, apiKey: key })}\n`);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dataDir).catch(() => {});
}
