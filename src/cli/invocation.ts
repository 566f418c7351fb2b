// Where this CLI lives and how a user's shell can run it: the package root
// and version (`logplane --version`), and the command prefix the start
// message prints so that its suggestions run as printed.
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `logplane` bin script (dist/src/cli/logplane.js), symlinks resolved. */
export function cliScript(): string {
  const p = fileURLToPath(new URL('./logplane.js', import.meta.url));
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

interface Pkg {
  root: string;
  version: string;
}

let pkg: Pkg | null | undefined;

/** The nearest package.json named logplane above this file, or null. */
function findPackage(): Pkg | null {
  if (pkg !== undefined) return pkg;
  let dir = dirname(cliScript());
  for (let i = 0; i < 6; i++) {
    try {
      const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (p.name === 'logplane' && typeof p.version === 'string') return (pkg = { root: dir, version: p.version });
    } catch {
      // not here; go up
    }
    dir = dirname(dir);
  }
  return (pkg = null);
}

export function packageVersion(): string {
  return findPackage()?.version ?? '0.0.0';
}

/** A word the shell takes as is, else single-quoted. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function realpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** True when `logplane` on PATH is this very script (npm install -g / npm link). */
function onPath(env: NodeJS.ProcessEnv, script: string): boolean {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'logplane');
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    // the first one on PATH is what the shell runs
    return realpath(candidate) === script;
  }
  return false;
}

/**
 * How to run this CLI from `cwd` in a shell with `env`: `logplane` when that
 * is on PATH and is this install, `npx logplane` inside the clone (npx finds a
 * package's own bin), else `node <path of the script>`.
 */
export function cliCommand(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const script = cliScript();
  if (onPath(env, script)) return 'logplane';
  const root = findPackage()?.root;
  const here = realpath(cwd);
  if (root !== undefined) {
    const r = realpath(root);
    if (here === r || here.startsWith(r + sep)) return 'npx logplane';
  }
  return `node ${shellQuote(script)}`;
}
