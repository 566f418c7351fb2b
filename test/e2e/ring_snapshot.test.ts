// The built server and a damaged rings.bin (SPEC 2: rings saved on a graceful
// stop, restored on start): flipped bytes, a truncated file, garbage, an empty
// file. Each time the server starts, restores what is intact, and warns once,
// naming the file and what it skipped.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/server.js';
import { killAll, spawnServer, type ServerProcess } from '../support/spawn.js';
import { sendSyslog } from '../support/syslog.js';
import { stablePort } from '../support/net.js';
import { until } from '../support/wait.js';
import { api } from '../support/api.js';

const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});


/** The messages in an app's history. */
async function history(srv: ServerProcess, app: string): Promise<string[]> {
  const r = await fetch(`${srv.url}/v3/channels/${app}/logs?num=1000`, { headers: { authorization: srv.auth }, signal: AbortSignal.timeout(10_000) });
  return [...(await r.text()).matchAll(/ - ([a-z]+ line \d+)\n/g)].map((m) => m[1]!);
}

async function lastSeq(srv: ServerProcess, app: string): Promise<number> {
  const r = (await api(srv, 'GET', '/v3/channels?limit=1000')).json;
  return (r.channels as Array<{ channel: string; stats: { last_seq: number } }>).find((c) => c.channel === app)!.stats.last_seq;
}

const lines = (app: string) => Array.from({ length: 5 }, (_, i) => `${app} line ${i}`);

describe('a damaged ring snapshot', () => {
  it('never stops a start: what is intact comes back, one warning names the file and what was skipped', async () => {
    const dataDir = tempDir('logplane-e2e-');
    dirs.push(dataDir);
    const syslogPort = await stablePort();
    const path = join(dataDir, 'rings.bin');

    // two apps with 5 lines each, saved by a graceful stop: "keep" first in the file, then "hurt"
    const a = await spawnServer({ dataDir, syslogPort });
    const tokens: Record<string, string> = {};
    for (const app of ['keep', 'hurt']) tokens[app] = (await api(a, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).json.tokens.app;
    for (const app of ['keep', 'hurt']) {
      await sendSyslog(syslogPort, lines(app).map((m) => `<190>1 2024-01-01T00:00:00Z h ${tokens[app]} web.1 - - ${m}`));
      await until(`${app} lines`, async () => (await history(a, app)).length === 5);
    }
    assert.equal((await a.stop('SIGTERM')).code, 0, a.stderr());
    const saved = readFileSync(path);
    const hurtAt = saved.indexOf('hurt line 2');
    assert.ok(saved.indexOf('keep line 4') < hurtAt, 'keep is saved before hurt');

    const flipped = Buffer.from(saved);
    flipped[hurtAt] = flipped[hurtAt]! ^ 0xff;
    flipped[hurtAt + 1] = flipped[hurtAt + 1]! ^ 0x21;
    const garbage = Buffer.alloc(2048);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
    const cases: Array<{ name: string; bytes: Buffer; keep: number; problem: RegExp; skipped: RegExp }> = [
      { name: 'two flipped bytes in the middle', bytes: flipped, keep: 5, problem: /checksum/, skipped: /skipped 1 app \/ 5 lines, restored 1 app \/ 5 lines/ },
      { name: 'truncated', bytes: saved.subarray(0, hurtAt), keep: 5, problem: /truncated/, skipped: /skipped 1 app \/ 5 lines, restored 1 app \/ 5 lines/ },
      { name: 'pure garbage', bytes: garbage, keep: 0, problem: /not a ring snapshot/, skipped: /skipped all 2048 bytes/ },
      { name: 'empty', bytes: Buffer.alloc(0), keep: 0, problem: /empty/, skipped: /nothing to restore/ },
    ];
    for (const c of cases) {
      writeFileSync(path, c.bytes);
      const s = await spawnServer({ dataDir, syslogPort });
      try {
        assert.deepEqual(await history(s, 'keep'), lines('keep').slice(0, c.keep), `${c.name}: keep`);
        assert.deepEqual(await history(s, 'hurt'), [], `${c.name}: hurt skipped`);
        const warnings = s.stderr().split('\n').filter((l) => l.includes('rings.snapshot_damaged'));
        assert.equal(warnings.length, 1, `${c.name}: one warning\n${s.stderr()}`);
        const w = JSON.parse(warnings[0]!);
        assert.equal(w.file, path, c.name);
        assert.ok(w.msg.includes(path), `${c.name}: the message names the file`);
        assert.match(w.problem, c.problem, c.name);
        assert.match(w.msg, c.skipped, c.name);
        if (c.keep > 0) {
          // the damaged app's seq survived with its block header: new lines continue after it
          assert.equal(await lastSeq(s, 'hurt'), 5, `${c.name}: hurt's seq kept`);
        }
      } finally {
        assert.equal((await s.stop('SIGTERM')).code, 0, s.stderr());
      }
    }
  });
});
