// `logplane serve` owns its process, so it holds V8's heap headroom
// (basics/heap-tuner.ts): it says so in its log at start, with the growing
// percent it set, and LOGPLANE_HEAP_HEADROOM_MB=0 leaves V8's own factor.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, it } from 'node:test';
import { tempDir } from '../support/server.js';
import { killAll, spawnServer } from '../support/spawn.js';
import { until } from '../support/wait.js';

const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function tunedLine(env: Record<string, string>): Promise<{ headroomMb: number; growingPercent: number }> {
  const d = tempDir('lp-heap-');
  dirs.push(d);
  const srv = await spawnServer({ dataDir: d, env: { LOGPLANE_LOG_LEVEL: 'info', ...env } });
  try {
    const line = await until('the heap.tuned log line', () => (srv.stdout() + srv.stderr()).split('\n').find((l) => l.includes('"at":"heap.tuned"')) ?? null);
    return JSON.parse(line) as { headroomMb: number; growingPercent: number };
  } finally {
    await srv.stop();
  }
}

it('serve sets the growing percent for its small heap and logs it', async () => {
  const t = await tunedLine({});
  assert.equal(t.headroomMb, 96);
  // a fresh server's heap is tens of MB: the percent is well above V8's own factors
  assert.ok(t.growingPercent >= 100 && t.growingPercent <= 400, JSON.stringify(t));
});

it('LOGPLANE_HEAP_HEADROOM_MB=0 leaves V8 alone', async () => {
  const t = await tunedLine({ LOGPLANE_HEAP_HEADROOM_MB: '0' });
  assert.deepEqual(t, { ...t, headroomMb: 0, growingPercent: 0 });
});
