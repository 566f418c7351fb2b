// External programs some tests drive (scripts/deps.sh installs them all).
// Outside CI a missing program skips the tests that need it, saying why; in
// CI (CI=true) it is a failure: a skipped test there would hide a broken setup.
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';

export const inCi = process.env.CI === 'true';

/** Where `name` is: on PATH, or in /usr/sbin, /usr/bin, /sbin (where scripts/deps.sh looks too); null when missing. */
export function findTool(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/bin', '/sbin'];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

const reported = new Set<string>();

/**
 * The `skip` option for tests needing a program: false when `present`; else a
 * reason to skip, and in CI also a failing test naming what is missing.
 */
export function needs(name: string, pkg: string, present: boolean = findTool(name) !== null): string | false {
  if (present) return false;
  const why = `${name} is not installed (scripts/deps.sh installs the Debian package ${pkg})`;
  if (inCi && !reported.has(name)) {
    reported.add(name);
    test(`${name} is installed (required in CI)`, () => assert.fail(why));
  }
  return why;
}
