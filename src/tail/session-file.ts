// Sessions outlive a graceful restart in embedded mode (distributed mode keeps
// them in Redis): on stop, after every tail has been ended (so each session's
// last reader left at the stop), the sessions still alive are written to
// <data dir>/sessions.json; on start they are read back with their times, so a
// client that reconnects within the session's life (360 s after its last
// reader left) finds its session and resumes after the last seq it saw
// (server.ts then forgets those the config no longer admits: TailService.
// dropUnreadable). The file is removed once read: a later crash restores
// nothing stale. A damaged or unreadable file is skipped with a warning; a
// save that fails (even the removal of an old file when there is nothing to
// save) throws, for the stop to log. Sessions are capabilities, so the file
// is mode 0600 like config.json.
import { readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { missing, syncDir, unlinkIfThere, writeSynced } from '../basics/files.js';
import type { Log } from '../obs/log.js';
import type { SessionSpec, SessionStore } from './session.js';

export const SESSIONS_FILE = 'sessions.json';

interface SavedSession {
  id: string;
  spec: SessionSpec;
  createdAt: number;
  leftAt: number;
}

/** Write every live session; returns how many. */
export async function saveSessions(dataDir: string, store: SessionStore): Promise<number> {
  const now = store.clock.now();
  const out: SavedSession[] = [];
  for (const s of store.all()) {
    if (now >= s.expiresAt(store.ttlMs)) continue;
    out.push({ id: s.id, spec: s.spec, createdAt: s.createdAt, leftAt: s.readers > 0 ? now : s.leftAt });
  }
  const path = join(dataDir, SESSIONS_FILE);
  if (out.length === 0) {
    // none to save; an old file that stayed would be restored by the next start
    await unlinkIfThere(path);
    return 0;
  }
  const tmp = `${path}.tmp`;
  try {
    await writeSynced(tmp, JSON.stringify({ version: 1, sessions: out }));
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dataDir);
  return out.length;
}

function valid(x: unknown): x is SavedSession {
  const s = x as SavedSession;
  return typeof s === 'object' && s !== null && typeof s.id === 'string' && /^[0-9a-f-]{36}$/.test(s.id) && typeof s.createdAt === 'number' && typeof s.leftAt === 'number' && typeof s.spec === 'object' && s.spec !== null && typeof s.spec.app === 'string' && (s.spec.appUuid === undefined || typeof s.spec.appUuid === 'string');
}

/** Read back what saveSessions wrote (the expired ones are skipped) and remove the file; returns how many were restored. */
export async function loadSessions(dataDir: string, store: SessionStore, log: Log): Promise<number> {
  const path = join(dataDir, SESSIONS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    // no file is the rule (no sessions saved, or a crash); one that cannot be read is worth a word
    if (!missing(err)) log.warn({ at: 'sessions.file_unreadable', path, err: (err as Error).message }, 'saved sessions could not be read; skipped');
    return 0;
  }
  let restored = 0;
  try {
    const doc = JSON.parse(text) as { version?: number; sessions?: unknown[] };
    for (const s of doc.sessions ?? []) if (valid(s) && store.restore(s.id, s.spec, s.createdAt, s.leftAt)) restored++;
  } catch (err) {
    log.warn({ at: 'sessions.file_damaged', err: (err as Error).message }, 'saved sessions could not be read; skipped');
  }
  await unlink(path).catch(() => {});
  return restored;
}
