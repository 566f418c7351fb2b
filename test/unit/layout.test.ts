// The folders tell the architecture: imports run one way (ingest -> router
// -> sinks -> basics; api/ and cli/ on top; redis/ and basics/ at the bottom).
// This test reads every import in src/ and fails on a folder that imports a
// folder importing it back, or on an import against the direction.
//
// A node is a folder under src/ (`tail`) or a file directly in src/
// (`router.ts`). Type-only imports count: they are dependencies too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

const SINKS = ['buffer', 'drains', 'tail'];

/**
 * Edges allowed while a move is under way (none now). Each is allowed only
 * while it exists, so the list shrinks to empty rather than hiding a new edge.
 */
const PENDING = new Set<string>([]);

interface Edge {
  from: string;
  to: string;
  file: string;
  spec: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** `tail` for src/tail/hub.ts, `router.ts` for src/router.ts. */
function nodeOf(absPath: string): string {
  const parts = relative(SRC, absPath).split(sep);
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.js$/, '.ts');
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]/g;

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(SRC + sep)) continue;
      const from = nodeOf(file);
      const to = nodeOf(target);
      if (from !== to) out.push({ from, to, file: relative(SRC, file), spec });
    }
  }
  return out;
}

const all = edges();
const live = all.filter((e) => !PENDING.has(`${e.from} -> ${e.to}`));

function describe(list: Edge[]): string {
  return list.map((e) => `  src/${e.file} imports ${e.spec}`).join('\n');
}

test('the import reader sees the imports it should', () => {
  assert.ok(all.some((e) => e.from === 'server.ts' && e.to === 'apps.ts'), 'server.ts -> apps.ts not seen');
  assert.ok(all.some((e) => e.from === 'api' && e.to === 'context.ts'), 'api -> context.ts not seen');
});

test('no folder imports a folder that imports it back (no cycles between folders)', () => {
  const graph = new Map<string, Set<string>>();
  for (const e of live) {
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    graph.get(e.from)!.add(e.to);
  }
  // Tarjan's strongly connected components: any component of more than one node is a cycle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) cycles.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  const detail = cycles.map((c) => {
    const inside = live.filter((e) => c.includes(e.from) && c.includes(e.to));
    return `cycle ${c.join(' <-> ')}:\n${describe(inside)}`;
  });
  assert.deepEqual(detail, [], detail.join('\n'));
});

test('sinks (buffer, drains, tail) never import the router or ingest', () => {
  const bad = live.filter((e) => SINKS.includes(e.from) && (e.to === 'router.ts' || e.to === 'ingest'));
  assert.deepEqual(bad, [], describe(bad));
});

test('sinks never import the in-process sources (emit/, the library entry) or the shipper', () => {
  const bad = live.filter((e) => SINKS.includes(e.from) && (e.to === 'emit' || e.to === 'logplane.ts' || e.to === 'shipper'));
  assert.deepEqual(bad, [], describe(bad));
});

test('emit/ is a source: it imports no API, CLI, library entry or shipper', () => {
  const bad = live.filter((e) => e.from === 'emit' && ['api', 'cli', 'logplane.ts', 'server.ts', 'shipper'].includes(e.to));
  assert.deepEqual(bad, [], describe(bad));
});

test('only cli/ imports the library entry (logplane.ts)', () => {
  const bad = live.filter((e) => e.to === 'logplane.ts' && e.from !== 'cli');
  assert.deepEqual(bad, [], describe(bad));
});

test('shipper/ talks HTTP to a server and imports nothing of the server (only basics/)', () => {
  const bad = live.filter((e) => e.from === 'shipper' && e.to !== 'basics');
  assert.deepEqual(bad, [], describe(bad));
});

test('redis/ imports nothing of ours outside redis/ and basics/', () => {
  const bad = live.filter((e) => e.from === 'redis' && e.to !== 'basics');
  assert.deepEqual(bad, [], describe(bad));
});

test('access/ sits below api/ and cli/, above store/: it imports neither api/, cli/ nor the router', () => {
  const bad = live.filter((e) => e.from === 'access' && (e.to === 'api' || e.to === 'cli' || e.to === 'router.ts' || e.to === 'server.ts' || e.to === 'ingest'));
  assert.deepEqual(bad, [], describe(bad));
});

test('store/ and redis/ know nothing of access/ (keys are records to them)', () => {
  const bad = live.filter((e) => (e.from === 'store' || e.from === 'redis') && e.to === 'access');
  assert.deepEqual(bad, [], describe(bad));
});

test('basics/ imports nothing outside basics/', () => {
  const bad = live.filter((e) => e.from === 'basics');
  assert.deepEqual(bad, [], describe(bad));
});

test("an app's seq is written only by route() (router.ts) and App.restoreSeq (apps.ts)", () => {
  const bad: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const rel = relative(SRC, file);
    if (rel === 'router.ts' || rel === 'apps.ts') continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/\.seq\s*(=(?!=)|\+=|\+\+)|\+\+\s*[\w.]+\.seq\b/.test(line)) bad.push(`  src/${rel}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(bad, [], bad.join('\n'));
});

test('the pending edges still exist (remove them from PENDING once gone)', () => {
  const gone = [...PENDING].filter((p) => !all.some((e) => `${e.from} -> ${e.to}` === p));
  assert.deepEqual(gone, [], `no longer imported, drop from PENDING: ${gone.join(', ')}`);
});
