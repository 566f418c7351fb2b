// A real small tmpfs, for what only a real file system shows: a full disk,
// a read-only remount. Mounting needs root (CI runs as root): tests using it
// skip elsewhere with ROOT_SKIP. Every mount is undone by unmount().
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const isRoot = process.getuid?.() === 0;

/** The `skip` option of a test that mounts: a reason when not root, else false. */
export const ROOT_SKIP: string | false = isRoot ? false : 'needs root to mount a tmpfs (CI runs as root)';

export interface Tmpfs {
  dir: string;
  /** Remount read-only (`ro: true`) or writable again. */
  remount(ro: boolean): void;
  unmount(): void;
}

/** Mount a tmpfs of `size` (mount's syntax: '1m') on a new temp dir. */
export function mountTmpfs(size: string, prefix = 'logplane-tmpfs-'): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  return {
    dir,
    remount: (ro) => execFileSync('mount', ['-o', `remount,${ro ? 'ro' : 'rw'}`, dir]),
    unmount: () => {
      try {
        execFileSync('umount', [dir]);
      } catch {
        execFileSync('umount', ['-l', dir]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Write to `path` until the filesystem has not one byte left. */
export function fillFileSystem(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (let chunk = 64 * 1024; chunk >= 1; ) {
      try {
        writeSync(fd, Buffer.alloc(chunk, 0x61));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        chunk = Math.floor(chunk / 2);
      }
    }
  } finally {
    closeSync(fd);
  }
}
