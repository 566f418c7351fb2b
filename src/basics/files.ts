// Durable file writes, for the files the data dir keeps (config.json,
// rings.bin): each is written to a temp file, fsynced, renamed over the old
// one, and the directory fsynced, so a crash leaves the old or the new file,
// never a part of one.
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Write data to path (created or truncated, mode 0600) and fsync it. */
export async function writeSynced(path: string, data: string | readonly Buffer[]): Promise<void> {
  const fh = await open(path, 'w', 0o600);
  try {
    if (typeof data === 'string') await fh.writeFile(data);
    else await fh.writev(data as Buffer[]);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory, so a rename in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** True for the error of a file that is not there. */
export const missing = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

/** Remove path; one already gone is fine, any other error is thrown (for the caller to report). */
export async function unlinkIfThere(path: string): Promise<void> {
  await unlink(path).catch((err: unknown) => {
    if (!missing(err)) throw err;
  });
}

/** Replace path with data, atomically (temp file, fsync, rename, directory fsync); the temp file does not stay on a failure. */
export async function replaceFile(path: string, data: string | readonly Buffer[]): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeSynced(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dirname(path));
}
