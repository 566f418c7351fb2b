// Drain leases (src/cluster/leases.ts) with many apps: a change of an app
// that touches no drain starts no lease round, and a round does not scan
// every app (with 100,000 apps each create in distributed mode cost a scan
// of all of them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Registry } from '../../src/apps.js';
import { DrainLeases } from '../../src/cluster/leases.js';
import type { NodeRegistry } from '../../src/cluster/nodes.js';
import { silentLog } from '../../src/obs/log.js';
import { MemoryStore } from '../../src/store/memory.js';

test('app changes that touch no drain make the drain leases scan no app', async () => {
  const reg = new Registry(new MemoryStore(), { historyLines: 10 });
  await reg.init();
  await Promise.all(Array.from({ length: 5000 }, (_, i) => reg.ensureApp(`app-${i}`)));
  // no drain anywhere: a round touches neither Redis nor the node list beyond reading it
  const nodes = { id: 'n1', live: ['n1'] } as unknown as NodeRegistry;
  const leases = new DrainLeases({} as Redis, reg, nodes, { ttlMs: 60_000, renewMs: 60_000, log: silentLog() });
  let scans = 0;
  const apps = reg.apps.bind(reg);
  reg.apps = () => {
    scans++;
    return apps();
  };
  leases.start();
  await leases.settle();
  const atStart = scans;
  try {
    for (let i = 0; i < 200; i++) await reg.createToken(`app-${i}`, 'web');
    await reg.ensureApp('app-new');
    await reg.deleteApp('app-7');
    await leases.settle();
    assert.equal(scans - atStart, 0, `${scans - atStart} scans of every app for 202 changes without drains`);
  } finally {
    await leases.releaseAll();
  }
});
