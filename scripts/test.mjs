// Runs every compiled test file under dist/test with node's test runner.
// Usage: node scripts/test.mjs [unit|integration|e2e ...]
//
// Before running, compiled files whose source is gone (dist/test/x.js of a
// deleted or moved test/x.ts) are removed, so a deleted test never runs from a
// stale build. The whole run is bounded (LOGPLANE_TEST_BUDGET_S, default 900 s):
// past it the run is stopped and the message says which bound was hit.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const walk = (dir, keep, out = []) => {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, keep, out);
    else if (keep(name)) out.push(p);
  }
  return out;
};

// dist/<tree>/a/b.js (and its .d.ts/.map) belongs to <tree>/a/b.ts; drop the orphans.
let removed = 0;
for (const tree of ['test', 'src', 'bench']) {
  for (const p of walk(join('dist', tree), (n) => /\.(js|d\.ts|js\.map|d\.ts\.map)$/.test(n))) {
    const rel = relative('dist', p).replace(/(\.d)?\.ts\.map$|\.js\.map$|\.d\.ts$|\.js$/, '');
    if (!existsSync(`${rel}.ts`) && !existsSync(`${rel}.mts`)) {
      rmSync(p);
      removed++;
    }
  }
}
if (removed) console.error(`removed ${removed} compiled file(s) whose source no longer exists`);

const roots = process.argv.slice(2).length ? process.argv.slice(2).map((d) => join('dist/test', d)) : ['dist/test'];
const files = roots.flatMap((r) => walk(r, (n) => n.endsWith('.test.js')));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const budgetS = Number(process.env.LOGPLANE_TEST_BUDGET_S ?? 900);
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files], { stdio: 'inherit', detached: true });
let timedOut = false;
const timer = setTimeout(() => {
  timedOut = true;
  console.error(`\nnpm test: the whole suite did not finish within ${budgetS} s (LOGPLANE_TEST_BUDGET_S); stopping it. A test is hanging or the machine is far slower than usual.`);
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {}
  setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }, 5000).unref();
}, budgetS * 1000);
// the child runs in its own process group (so a stop reaches every test process): pass Ctrl-C on
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { try { process.kill(-child.pid, sig); } catch {} });
child.on('exit', (code, signal) => {
  clearTimeout(timer);
  process.exit(timedOut ? 124 : (code ?? 1));
});
