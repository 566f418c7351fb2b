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
import { pidAlive } from '../basics/pid.js';
import { DataDirInUseError } from '../errors.js';

export const LOCK_FILE = 'lock';

/** How long a start waits for a holder that is stopping (its graceful stop is bounded at 10 s by `serve`). */
export const LOCK_WAIT_MS = 15_000;
const POLL_MS = 50;
/** A lock file still empty or half written this long after it was seen is stale (its writer died between create and write). */
const UNREADABLE_MS = 1_000;

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

function writeFd(fd: number, info: LockInfo): void {
  writeSync(fd, `${JSON.stringify(info)}\n`);
  fsyncSync(fd);
  closeSync(fd);
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
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, LOCK_FILE);
    const info: LockInfo = { pid: process.pid, token: randomBytes(12).toString('hex'), startedAt: new Date().toISOString(), proc: procStart(process.pid), state: 'running' };
    const waitUntil = Date.now() + (opts.waitMs ?? LOCK_WAIT_MS);
    let unreadableSince = 0;
    let told = false;
    for (;;) {
      try {
        writeFd(openSync(path, 'wx', 0o600), info);
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
      // stale: removed only if it is still the one judged (another start may have replaced it)
      opts.onStale?.(held?.pid ?? null);
      removeIf(path, held);
    }
  }

  /** Mark the lock `stopping`: a new start on this data dir waits for us instead of being refused. */
  stopping(): void {
    if (this.#released || this.#info.state === 'stopping') return;
    this.#info = { ...this.#info, state: 'stopping' };
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      writeFd(openSync(tmp, 'w', 0o600), this.#info);
      // only over our own lock (rename replaces it atomically; the file never goes missing)
      if (readLock(this.path)?.token === this.#info.token) renameSync(tmp, this.path);
      else unlinkSync(tmp);
    } catch {
      // the lock still says running: a new start is refused until we are gone, nothing worse
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

function removeIf(path: string, expected: LockInfo | null): void {
  const cur = readLock(path);
  if (expected === null ? cur !== null : cur?.token !== expected.token) return;
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
