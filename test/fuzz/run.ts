// `npm run fuzz -- --minutes N [--seed S]`: every fuzz property, round after
// round with fresh seeds, until N minutes have passed; a failure prints the
// property, the seed and the shrunk counterexample (re-run with --seed) and
// exits 1. The bounded run of the same properties is test/integration/fuzz.test.ts.
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { silentLog } from '../../src/obs/log.js';
import { Server } from '../../src/server.js';
import { postLogsProperty, wsParamsProperty } from './http.js';
import { byteProperties, type FuzzProperty } from './properties.js';

function args(argv: string[]): { minutes: number; seed: number | null } {
  let minutes = 1;
  let seed: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
    if (a.startsWith('--minutes')) minutes = Number(v);
    else if (a.startsWith('--seed')) seed = Number(v);
    else {
      process.stderr.write(`usage: npm run fuzz -- --minutes N [--seed S]\n`);
      process.exit(2);
    }
  }
  if (!(minutes > 0)) {
    process.stderr.write('--minutes needs a positive number\n');
    process.exit(2);
  }
  return { minutes, seed };
}

async function main(): Promise<void> {
  const { minutes, seed } = args(process.argv.slice(2));
  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-fuzz-'));
  const config = loadConfig([], { LOGPLANE_PORT: '0', LOGPLANE_DATA_DIR: dataDir, LOGPLANE_LOG_LEVEL: 'silent', LOGPLANE_SYSLOG_PORT: '0' });
  const srv = await Server.start(config, { log: silentLog() });
  const key = `Bearer ${srv.apiKey}`;
  await fetch(`${srv.url}/v3/channels/fuzz`, { method: 'PUT', headers: { authorization: key, 'content-type': 'application/json' }, body: '{"tokens":["app"]}' });
  const s = (await (await fetch(`${srv.url}/v3/sessions`, { method: 'POST', headers: { authorization: key, 'content-type': 'application/json' }, body: '{"channel_id":"fuzz","tail":true}' })).json()) as { url: string };
  const all: FuzzProperty[] = [...byteProperties, postLogsProperty(srv, 'fuzz'), wsParamsProperty(srv, s.url.split('/').pop()!)];
  const deadline = Date.now() + minutes * 60_000;
  const runs = new Map<string, number>(all.map((p) => [p.name, 0]));
  let round = 0;
  let failed = false;
  try {
    while (Date.now() < deadline && !failed) {
      round++;
      for (const p of all) {
        const roundSeed = seed ?? (Math.random() * 2 ** 31) | 0;
        const numRuns = p.runs * 5;
        const r = await fc.check(p.property as fc.IAsyncProperty<unknown>, { numRuns, seed: roundSeed });
        runs.set(p.name, runs.get(p.name)! + r.numRuns);
        if (r.failed) {
          failed = true;
          process.stdout.write(`FAILED: ${p.name}\n  seed ${r.seed}, path ${r.counterexamplePath}\n  counterexample: ${fc.stringify(r.counterexample)}\n  ${r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance)}\n`);
          break;
        }
        if (Date.now() >= deadline) break;
      }
      process.stdout.write(`round ${round}: ${[...runs.values()].reduce((a, b) => a + b, 0)} inputs so far, ${Math.max(0, Math.round((deadline - Date.now()) / 1000))} s left\n`);
    }
  } finally {
    await srv.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  for (const [name, n] of runs) process.stdout.write(`${String(n).padStart(9)}  ${name}\n`);
  process.exit(failed ? 1 : 0);
}

void main();
