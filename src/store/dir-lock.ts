// <data dir>/lock: one server per data dir (embedded mode). Two servers on
// one data dir would overwrite each other's config.json, rings.bin and
// sessions.json, so the second start is refused. Node has no flock without a
// native addon, so the lock is a file created with O_EXCL (as Postgres'
// postmaster.pid): {pid, token, start, state}, removed at a clean stop. A
// lock left by a process that died (SIGKILL, crash, reboot) is stale and
// taken over; see docs/operations.md#one-server-per-data-dir.
//
// A graceful restart may start the new process while the old one still
// stops (it saves rings and sessions at the end): the old one marks its lock
// `stopping` when its stop begins, and a new start waits for a stopping
// holder to finish (at most waitMs) instead of being refused.
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, closeSync, fsyncSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { missing } from '../basics/files.js';
import { pidAlive } from '../basics/pid.js';
import { DataDirInUseError } from '../errors.js';

export const LOCK_FILE = 'lock';

/** How long a start waits for a holder that is stopping (`serve` bounds its graceful stop at 12 s with the defaults: server.ts stopBoundMs). */
export const LOCK_WAIT_MS = 15_000;
const POLL_MS = 50;
/** A lock file still empty or half written this long after it was seen is stale (its writer died between create and write). */
const UNREADABLE_MS = 1_000;
/** Stale locks one start removes before giving up: one is the rule, more means something keeps recreating it. */
const MAX_TAKEOVERS = 3;

interface LockInfo {
  pid: number;
  /** Random per start: a lock is only removed by the start that made it. */
  token: string;
  startedAt: string;
  /** Linux: the holder's boot id and start time (in clock ticks since boot), to tell a reused pid; null elsewhere. */
  proc: string | null;
  state: 'running' | 'stopping';
}

/** "<boot id>:<start time>" of a process (Linux /proc), or null where /proc is not there. */
function procStart(pid: number): string | null {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22 (starttime), counted after the command name's closing paren (the name may hold spaces)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${boot}:${fields[19]}`;
  } catch {
    return null;
  }
}

/** Tokens of the locks this process holds (two servers in one process: createLogplane twice). */
const heldHere = new Set<string>();

/** True when the process that wrote this lock still runs. */
function holderAlive(info: LockInfo): boolean {
  // our own pid: held by a server in this process, else left by an earlier run with the same pid (a container's pid 1)
  if (info.pid === process.pid) return heldHere.has(info.token);
  if (!pidAlive(info.pid)) return false;
  // the pid runs: it is the holder unless /proc says that pid was started since (reused) or on another boot
  if (info.proc === null) return true;
  const now = procStart(info.pid);
  return now === null || now === info.proc;
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    if (typeof v.pid !== 'number' || typeof v.token !== 'string') return null;
    return { pid: v.pid, token: v.token, startedAt: String(v.startedAt ?? ''), proc: typeof v.proc === 'string' ? v.proc : null, state: v.state === 'stopping' ? 'stopping' : 'running' };
  } catch {
    return null;
  }
}

/**
 * Create path (`flag`: 'wx' for the lock itself, 'w' for a temp file) holding
 * info, fsynced. On a failed write (a full disk) the fd is closed and the
 * file this call created is removed, so no empty lock or temp file stays.
 */
function writeLockFile(path: string, flag: 'w' | 'wx', info: LockInfo): void {
  const fd = openSync(path, flag, 0o600);
  let written = false;
  try {
    writeSync(fd, `${JSON.stringify(info)}\n`);
    fsyncSync(fd);
    written = true;
  } finally {
    closeSync(fd);
    // the write's error is the one to report, not a failure to clean up after it
    if (!written) unlinkQuietly(path);
  }
}

/** Best-effort removal of a file this process made, on a path that already failed. */
function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone, or as unwritable as the write that failed: nothing more to do
  }
}

/** Remove path; a file already gone is fine, any other error is thrown (the sync twin of basics/files.ts unlinkIfThere). */
function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!missing(err)) throw err;
  }
}

/** Make the data dir; one that exists as something else than a directory is named as such, not as mkdir's EEXIST. */
function makeDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new Error(`data dir ${dir} is not a directory`);
    throw err;
  }
}

export class DataDirLock {
  readonly path: string;
  #info: LockInfo;
  #released = false;

  private constructor(path: string, info: LockInfo) {
    this.path = path;
    this.#info = info;
  }

  /**
   * Take the data dir's lock: created when absent, taken over when stale,
   * waited for while its holder stops; else DataDirInUseError.
   */
  static async acquire(dataDir: string, opts: { waitMs?: number; onWait?: (holderPid: number) => void; onStale?: (holderPid: number | null) => void } = {}): Promise<DataDirLock> {
    const dir = resolve(dataDir);
    makeDataDir(dir);
    const path = join(dir, LOCK_FILE);
    const info: LockInfo = { pid: process.pid, token: randomBytes(12).toString('hex'), startedAt: new Date().toISOString(), proc: procStart(process.pid), state: 'running' };
    const waitUntil = Date.now() + (opts.waitMs ?? LOCK_WAIT_MS);
    let unreadableSince = 0;
    let told = false;
    let takeovers = 0;
    for (;;) {
      try {
        writeLockFile(path, 'wx', info);
        heldHere.add(info.token);
        return new DataDirLock(path, info);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create the data dir's lock ${path}: ${(err as Error).message}`);
      }
      const held = readLock(path);
      if (held === null) {
        // being written by a start this very moment, or left half written by one that died
        unreadableSince ||= Date.now();
        if (Date.now() - unreadableSince < UNREADABLE_MS) {
          await sleep(POLL_MS);
          continue;
        }
      } else if (holderAlive(held)) {
        unreadableSince = 0;
        if (held.state !== 'stopping' || Date.now() >= waitUntil) throw new DataDirInUseError(dir, held.pid, held.state === 'stopping');
        if (!told) opts.onWait?.(held.pid);
        told = true;
        await sleep(POLL_MS);
        continue;
      }
      // stale: removed only if it is still the one judged (another start may have replaced it).
      // A lock that cannot be removed (read-only file system, a directory) stops the start: the
      // loop would spin otherwise. Bounded too for a stale lock that keeps coming back.
      if (++takeovers > MAX_TAKEOVERS) throw new Error(`cannot take over the data dir's stale lock ${path}: still there after ${MAX_TAKEOVERS} take-overs`);
      if (removeIf(path, held)) opts.onStale?.(held?.pid ?? null);
    }
  }

  /** Mark the lock `stopping`: a new start on this data dir waits for us instead of being refused. */
  stopping(): void {
    if (this.#released || this.#info.state === 'stopping') return;
    this.#info = { ...this.#info, state: 'stopping' };
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      writeLockFile(tmp, 'w', this.#info);
      // only over our own lock (rename replaces it atomically; the file never goes missing)
      if (readLock(this.path)?.token === this.#info.token) renameSync(tmp, this.path);
      else unlinkSync(tmp);
    } catch {
      // the lock still says running: a new start is refused until we are gone, nothing worse;
      // the temp file is not left behind (a failed rename)
      unlinkQuietly(tmp);
    }
  }

  /** Remove the lock if it is still ours. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    heldHere.delete(this.#info.token);
    removeIf(this.path, this.#info);
  }
}

/**
 * Remove the lock if it is still `expected` (null: still unreadable); true when it is gone.
 * Only a lock already gone is fine: any other error (EROFS, EISDIR, EACCES) is thrown naming the path.
 */
function removeIf(path: string, expected: LockInfo | null): boolean {
  const cur = readLock(path);
  if (expected === null ? cur !== null : cur?.token !== expected.token) return false;
  try {
    unlinkIfThere(path);
  } catch (err) {
    throw new Error(`cannot remove the data dir's lock ${path}: ${(err as Error).message}`);
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
