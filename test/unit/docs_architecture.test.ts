// docs/architecture.md (and the README's Architecture section) name only
// files that exist: a newcomer who follows the doc to `src/buffer/ring.ts` or
// `cluster/feed.ts` finds it there. A rename or removal that leaves the doc
// behind fails here, naming the path.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

/** Named on purpose though absent: STYLE.md's name for what is src/cli/serve.ts ("Where this departs"). */
const ABSENT_ON_PURPOSE = new Set(['src/main.ts']);

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(relative(REPO, p) + (e.isDirectory() ? '/' : ''));
    if (e.isDirectory()) out.push(...walk(p));
  }
  return out;
}
const SRC_ENTRIES = walk(join(REPO, 'src'));

/**
 * The paths `text` names that do not exist: every repo path (src/, test/,
 * bench/, scripts/, docs/), and every backticked file or folder name
 * (`ring.ts`, `cluster/feed.ts`, `http1/`), which must be somewhere under src/.
 */
function missingPaths(text: string): string[] {
  const missing = new Set<string>();
  for (const m of text.matchAll(/(?<![\w./-])((?:src|test|bench|scripts|docs)\/[\w./-]*\w)/g)) {
    const p = m[1]!;
    if (!ABSENT_ON_PURPOSE.has(p) && !existsSync(join(REPO, p))) missing.add(p);
  }
  for (const m of text.matchAll(/`([^`\n]+)`/g)) {
    for (const word of m[1]!.split(/[\s(),]+/)) {
      const name = word.replace(/^src\//, '');
      // repo paths other than src/ were checked above
      if (!/^[\w./-]+(\.ts|\/)$/.test(name) || /^(test|bench|scripts|docs)\//.test(word) || ABSENT_ON_PURPOSE.has(word)) continue;
      if (!SRC_ENTRIES.some((e) => e === `src/${name}` || e.endsWith(`/${name}`))) missing.add(word);
    }
  }
  return [...missing];
}

const read = (p: string) => readFileSync(join(REPO, p), 'utf8');
const readme = read('README.md');
const readmeArchitecture = readme.slice(readme.indexOf('## Architecture'), readme.indexOf('\n## ', readme.indexOf('## Architecture') + 1));

test('the check finds a path that does not exist (and passes real ones)', () => {
  assert.deepEqual(missingPaths('`src/buffer/ring.ts`, `cluster/feed.ts`, `http1/`, src/tail, `src/main.ts`'), []);
  const wrong = missingPaths('`src/buffer/rings.ts`, `cluster/fed.ts`, `nowhere.ts`, test/unit/nothing.test.ts');
  assert.deepEqual(wrong.sort(), ['cluster/fed.ts', 'nowhere.ts', 'src/buffer/rings.ts', 'test/unit/nothing.test.ts']);
});

test('docs/architecture.md names only files and folders that exist', () => {
  assert.deepEqual(missingPaths(read('docs/architecture.md')), []);
});

test("the README's Architecture section names only folders that exist, the ring's, the drains' and the tails' among them", () => {
  assert.ok(readmeArchitecture.length > 200, 'README has an Architecture section');
  for (const folder of ['src/buffer', 'src/drains', 'src/tail']) assert.ok(readmeArchitecture.includes(`\`${folder}\``), folder);
  assert.deepEqual(missingPaths(readmeArchitecture), []);
});
