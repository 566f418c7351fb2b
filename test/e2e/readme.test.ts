// The README's ```sh examples run as written, pasted into bash by a user.
//
// Markers (HTML comments on the lines just above a block, invisible when the
// README is rendered; parsed by test/support/readme.ts):
//   <!-- readme-test: skip: REASON -->         not run: installs, long-running servers,
//                                              tools that are not part of logplane
//   <!-- readme-test: interrupt -->            a command that runs until Ctrl-C (a live
//                                              tail): SIGINT once it has printed a line;
//                                              it must end as Ctrl-C ends it (exit 0, or
//                                              the SIGINT status npx passes on) and print
//                                              nothing on stderr
//   <!-- readme-test: arrives APP MESSAGE -->  after the block, APP's history holds a
//                                              line whose message contains MESSAGE
// Every other ```sh block must exit 0 under `bash -e -o pipefail`, in the
// order the README gives them, each in a fresh shell from the clone with
// LOGPLANE_DATA_DIR exported (the server's data dir, as a user's shell would
// have it). A block that sends lines (`send`, `logger`, POST .../logs) must
// say what arrives.
//
// The server listens on the README's defaults (127.0.0.1:8601, syslog 6001)
// inside a loopback-only network namespace, so the fixed ports are free and
// the example drain (logs.example.com) cannot reach out.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { readReadme } from '../support/readme.js';
import type { BlockReport } from '../support/readme-netns.js';
import { runInNetns } from '../support/netns.js';
import { tempDir } from '../support/server.js';
import { REPO } from '../support/spawn.js';

const SENDS = /\blogplane send\b|\blogger\b|\/logs\b/;

test('the README top: what logplane is, the run and test commands, then usage, configuration, architecture', () => {
  const text = readFileSync(join(REPO, 'README.md'), 'utf8');
  const headings = [...text.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
  assert.deepEqual(headings.slice(0, 4), ['Two commands', 'Usage', 'Configuration', 'Architecture']);
  const intro = text.slice(0, text.indexOf('\n## '));
  assert.match(intro, /^# logplane\n\nA real-time log aggregation service/);
  const first = readReadme(REPO)[0]!;
  const commands = first.script.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  assert.deepEqual(commands, ['npm ci && npm start', 'scripts/deps.sh && npm ci && npm test']);
});

test('every README shell block that sends lines says what must arrive', () => {
  const blocks = readReadme(REPO);
  assert.ok(blocks.length >= 5, `found ${blocks.length} sh blocks`);
  for (const b of blocks) {
    if (b.skip === null && SENDS.test(b.script)) assert.ok(b.arrives.length > 0, `README line ${b.line}: a block that sends lines needs an "arrives" marker`);
  }
});

test('the README examples run as written and their lines arrive', { timeout: 240_000 }, async () => {
  const work = tempDir('logplane-readme-');
  try {
    const runner = join(REPO, 'dist/test/support/readme-netns.js');
    const r = await runInNetns(process.execPath, [runner, work], { cwd: REPO, timeoutMs: 200_000 });
    assert.equal(r.code, 0, `runner failed: ${r.stderr}\n${r.stdout}`);
    const reports = JSON.parse(r.stdout.trim().split('\n').pop()!) as BlockReport[];
    const ran = reports.filter((b) => b.skip === null);
    assert.ok(ran.length >= 5, `ran ${ran.length} blocks`);
    for (const b of ran) {
      const where = `README line ${b.line}:\n${b.script}\n--- stdout\n${b.stdout}--- stderr\n${b.stderr}`;
      if (b.interrupted) {
        assert.ok(b.code === 0 || b.signal === 'SIGINT' || b.code === 130, `ended with ${b.code ?? b.signal} after Ctrl-C: ${where}`);
        assert.equal(b.stderr, '', `stderr after Ctrl-C: ${where}`);
        assert.notEqual(b.stdout, '', where);
      } else {
        assert.equal(b.code, 0, `exit ${b.code ?? b.signal}: ${where}`);
      }
      assert.deepEqual(b.missing, [], `lines did not arrive: ${where}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
