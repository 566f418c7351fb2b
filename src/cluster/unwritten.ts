// Lines a node stopped without writing to Redis (SPEC 9: "what could not be
// written is counted and reported"). A graceful stop waits for Redis within
// its bound (history.ts flush); what is still unwritten then is saved in the
// node's data dir, as counts per app (never the lines: the data dir holds no
// user content in distributed mode), and the node's next start in Redis mode
// appends a loss notice (L10 for drains, a gap for tails, Logplane-Dropped
// for history reads) for each app. docs/reliability.md, "A stop while Redis
// is unreachable", says why counts and not the lines.
//
// <data dir>/unwritten/<node id>.json, one file per stopped node (several
// nodes may share a data dir: node ids are unique), written atomically (temp
// file, fsync, rename, fsync of the directory): a crash or a full disk
// leaves the previous state or the whole new file, never a part of one. A
// start claims the files of nodes that are not live (renamed to its own id,
// so two nodes starting together never both announce one), appends the
// notices, and removes the claimed files once the notices are in Redis. If
// it stops before that, its own stop saves them again (they are still
// unwritten) and removes the claimed files.
import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { syncDir, writeSynced } from '../basics/files.js';
import type { Loss } from './losses.js';

export const UNWRITTEN_DIR = 'unwritten';

/** Most apps one file keeps (the ones with the most lines); the rest are only counted in the stop's error log. */
export const MAX_SAVED_APPS = 10_000;

/** Largest count a loss notice carries (u32). */
const MAX_N = 0xffff_ffff;

interface SavedFile {
  version: 1;
  /** The node that stopped. */
  node: string;
  /** When it stopped (ISO). */
  at: string;
  /** Per app id: lines unwritten and the received time (ms) of the oldest. */
  apps: Record<string, { n: number; since: number }>;
}

/** A saved loss, as read back. */
export interface SavedLoss {
  app: string;
  n: number;
  since: number;
}

export function unwrittenDir(dataDir: string): string {
  return join(dataDir, UNWRITTEN_DIR);
}

/**
 * Save what this node leaves unwritten (replacing its own file). Returns the
 * apps and lines saved (at most MAX_SAVED_APPS apps). Throws when the write
 * fails (full disk, no data dir): nothing of it is left behind to be read.
 */
export async function saveUnwritten(dataDir: string, nodeId: string, lost: ReadonlyMap<string, Loss>): Promise<{ apps: number; lines: number; path: string }> {
  const entries = [...lost].filter(([, l]) => l.n > 0).sort((a, b) => b[1].n - a[1].n).slice(0, MAX_SAVED_APPS);
  const apps: SavedFile['apps'] = {};
  let lines = 0;
  for (const [app, l] of entries) {
    const n = Math.min(l.n, MAX_N);
    apps[app] = { n, since: Number.isFinite(l.since) ? l.since : Date.now() };
    lines += n;
  }
  const dir = unwrittenDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${nodeId}.json`);
  const tmp = join(dir, `.${nodeId}.${randomBytes(4).toString('hex')}.tmp`);
  const file: SavedFile = { version: 1, node: nodeId, at: new Date().toISOString(), apps };
  try {
    await writeSynced(tmp, `${JSON.stringify(file)}\n`);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dir).catch(() => {});
  return { apps: entries.length, lines, path };
}

/** Remove a file (a claimed one once announced, or this node's own when nothing is left). */
export async function removeSaved(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

/**
 * Claim the saved files of stopped nodes (not live, not this one): each is
 * renamed to `<nodeId>.<random>.claimed` (a rename is atomic: of two nodes
 * starting together, one gets it) and read. Files that do not parse are
 * claimed too and reported as bad (they hold counts only: nothing to lose
 * but the count). Left-over temp files of a write that never finished are
 * removed.
 */
export async function claimSaved(dataDir: string, nodeId: string, live: (id: string) => boolean): Promise<{ losses: SavedLoss[]; claimed: string[]; bad: number }> {
  const dir = unwrittenDir(dataDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { losses: [], claimed: [], bad: 0 };
  }
  const losses: SavedLoss[] = [];
  const claimed: string[] = [];
  let bad = 0;
  for (const name of names) {
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      // a write that never finished (crash, full disk): the owner's rename never happened
      const owner = name.slice(1).split('.')[0] ?? '';
      if (owner !== nodeId && !live(owner)) await unlink(join(dir, name)).catch(() => {});
      continue;
    }
    if (!name.endsWith('.json') && !name.endsWith('.claimed')) continue;
    const owner = name.split('.')[0] ?? '';
    if (owner === '' || owner === nodeId || live(owner)) continue;
    const mine = join(dir, `${nodeId}.${randomBytes(4).toString('hex')}.claimed`);
    try {
      await rename(join(dir, name), mine);
    } catch {
      continue; // another node claimed it first
    }
    claimed.push(mine);
    const read = await readSaved(mine);
    if (read === null) bad++;
    else losses.push(...read);
  }
  if (claimed.length > 0) await syncDir(dir).catch(() => {});
  return { losses, claimed, bad };
}

async function readSaved(path: string): Promise<SavedLoss[] | null> {
  let data: Partial<SavedFile>;
  try {
    data = JSON.parse(await readFile(path, 'utf8')) as Partial<SavedFile>;
  } catch {
    return null;
  }
  if (data.version !== 1 || typeof data.apps !== 'object' || data.apps === null) return null;
  const out: SavedLoss[] = [];
  for (const [app, v] of Object.entries(data.apps)) {
    const n = (v as { n?: unknown }).n;
    const since = (v as { since?: unknown }).since;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_N) return null;
    if (typeof since !== 'number' || !Number.isFinite(since)) return null;
    out.push({ app, n, since });
  }
  return out;
}
