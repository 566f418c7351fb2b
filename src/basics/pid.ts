// Is a process there? Used by the data dir's lock (store/dir-lock.ts) and by
// the CLI reading server.json (cli/runfile.ts).

/** True when a process with this pid exists (signal 0 probe; EPERM: it exists, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
