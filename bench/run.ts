// `npm run bench [-- CASE... [--lines N] [--out FILE]]`: runs every case (or
// the named ones) one after the other, prints a table per case, and writes
// all figures with the machine's description to bench/results/latest.json.
// A new case is one file exporting a BenchCase and one line in `cases` below.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchCase, CaseOptions, CaseResult } from './case.js';
import { cpuProfile } from './cpu_profile.js';
import { httpToRing } from './http_to_ring.js';
import { publishToRing } from './publish_to_ring.js';
import { ringMemory } from './ring_memory.js';
import { runShipper } from './run_shipper.js';
import { apps100k, apps100kRedis, tails10k } from './scale.js';
import { machine } from './support/proc.js';
import { renderTable } from './support/table.js';
import { syslogTcpToRing } from './syslog_tcp_to_ring.js';
import { syslogTcpVsRsyslog } from './syslog_tcp_vs_rsyslog.js';

const cases: readonly BenchCase[] = [syslogTcpToRing, ringMemory, syslogTcpVsRsyslog, httpToRing, cpuProfile, publishToRing, runShipper, tails10k, apps100k, apps100kRedis];

/** The repository root, from dist/bench/run.js. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const USAGE = `usage: npm run bench -- [CASE...] [--lines N] [--rounds N] [--env NAME=VALUE]... [--out FILE]

cases:
${cases.map((c) => `  ${c.name.padEnd(22)} ${c.about}`).join('\n')}

  --lines N           lines per run for cases that take a count (default: the case's own)
  --rounds N          rounds for cases that take turns and report medians (default: the case's own)
  --warmup N          lines handled before the measured window opens (syslog_tcp_vs_rsyslog,
                      syslog_tcp_to_ring, http_to_ring: default 1,500,000, the lines logplane's rings
                      hold; 0 measures the whole run)
  --consumers N       apps given one HTTP drain and one WebSocket tail while the load runs
                      (syslog_tcp_vs_rsyslog and http_to_ring: default 10, as the rsyslog comparison asks; cpu_profile: default 0)
  --env NAME=VALUE    environment of the spawned logplane servers, over the bench's own
                      settings (repeatable), e.g. --env LOGPLANE_INGEST_WORKERS=1
  --out FILE          JSON results (default: bench/results/latest.json)
`;

function parseArgs(argv: readonly string[]): { names: string[]; opts: CaseOptions; out: string } {
  const names: string[] = [];
  let lines: number | null = null;
  let rounds: number | null = null;
  let consumers: number | null = null;
  let warmup: number | null = null;
  const env: Record<string, string> = {};
  let out = join(ROOT, 'bench', 'results', 'latest.json');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (a === '--lines' || a.startsWith('--lines=')) {
      const v = a.includes('=') ? a.slice(8) : argv[++i];
      if (!v || !/^\d+$/.test(v) || Number(v) < 1) fail(`--lines needs a positive whole number (got ${JSON.stringify(v ?? '')})`);
      lines = Number(v);
    } else if (a === '--rounds' || a.startsWith('--rounds=')) {
      const v = a.includes('=') ? a.slice(9) : argv[++i];
      if (!v || !/^\d+$/.test(v) || Number(v) < 1) fail(`--rounds needs a positive whole number (got ${JSON.stringify(v ?? '')})`);
      rounds = Number(v);
    } else if (a === '--warmup' || a.startsWith('--warmup=')) {
      const v = a.includes('=') ? a.slice(9) : argv[++i];
      if (!v || !/^\d+$/.test(v)) fail(`--warmup needs a whole number (got ${JSON.stringify(v ?? '')})`);
      warmup = Number(v);
    } else if (a === '--consumers' || a.startsWith('--consumers=')) {
      const v = a.includes('=') ? a.slice(12) : argv[++i];
      if (!v || !/^\d+$/.test(v) || Number(v) > 1000) fail(`--consumers needs a whole number from 0 to 1000 (got ${JSON.stringify(v ?? '')})`);
      consumers = Number(v);
    } else if (a === '--env' || a.startsWith('--env=')) {
      const v = a.startsWith('--env=') ? a.slice(6) : argv[++i];
      const eq = v ? v.indexOf('=') : -1;
      if (!v || eq < 1) fail(`--env needs NAME=VALUE (got ${JSON.stringify(v ?? '')})`);
      env[v.slice(0, eq)] = v.slice(eq + 1);
    } else if (a === '--out' || a.startsWith('--out=')) {
      const v = a.includes('=') ? a.slice(6) : argv[++i];
      if (!v) fail('--out needs a file name');
      out = resolve(v);
    } else if (a.startsWith('-')) {
      fail(`unknown option ${a}`);
    } else if (!cases.some((c) => c.name === a)) {
      fail(`unknown case ${JSON.stringify(a)}`);
    } else {
      names.push(a);
    }
  }
  return { names, opts: { lines, rounds, warmup, consumers, env }, out };
}

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function commit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const { names, opts, out } = parseArgs(process.argv.slice(2));
  const selected = names.length ? cases.filter((c) => names.includes(c.name)) : cases;
  const m = machine();
  const startedAt = new Date().toISOString();
  process.stdout.write(
    `logplane bench ${commit() ?? ''}  ${startedAt}\n` +
      `${m.nproc} x ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, node ${m.node}, ${m.os}, load ${m.loadavg.map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  const envs = Object.entries(opts.env);
  if (envs.length) process.stdout.write(`server env: ${envs.map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  const results: ({ name: string; about: string; seconds: number } & CaseResult)[] = [];
  let failed = false;
  for (const c of selected) {
    process.stdout.write(`\n== ${c.name}: ${c.about}\n`);
    const t0 = Date.now();
    try {
      const r = await c.run(opts);
      results.push({ name: c.name, about: c.about, seconds: (Date.now() - t0) / 1000, ...r });
      process.stdout.write(`${renderTable(r.columns, r.rows)}\n`);
      for (const t of r.tables ?? []) process.stdout.write(`\n  ${t.title}\n${renderTable(t.columns, t.rows)}\n`);
      for (const n of r.notes) process.stdout.write(`  note: ${n}\n`);
      process.stdout.write(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    } catch (err) {
      failed = true;
      process.stdout.write(`  FAILED: ${(err as Error).message}\n`);
    }
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ startedAt, commit: commit(), machine: m, loadavgAtEnd: loadavg(), options: opts, results }, null, 2)}\n`);
  process.stdout.write(`\nresults: ${out}\n`);
  if (failed) process.exitCode = 1;
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
