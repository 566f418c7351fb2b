// The bookkeeping that keeps a node's config copy in step with a shared
// store (src/store/changes.ts): versions heard out of order, a counter that
// went back, and a listener's failed re-read handed again until it works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeListeners, HeardVersions } from '../../src/store/changes.js';
import type { StoreChange } from '../../src/store/store.js';
import { until } from '../support/wait.js';

test('HeardVersions: applied moves only over versions without a hole; a re-read sets it; a counter that went back starts again', () => {
  const v = new HeardVersions();
  assert.equal(v.known, false);
  v.set(10);
  assert.equal(v.known, true);
  v.heard(12); // 11 missing: on its way, or missed
  assert.equal(v.applied, 10);
  v.heard(11);
  assert.equal(v.applied, 12);
  v.heard(12); // again: nothing
  v.heard(15);
  v.set(13); // a re-read after 13 was read: 14 is still missing
  assert.equal(v.applied, 13);
  v.heard(14);
  assert.equal(v.applied, 15);
  v.heard(NaN);
  assert.equal(v.applied, 15);
  v.set(2); // the store lost its data
  assert.equal(v.applied, 2);
  v.heard(3);
  assert.equal(v.applied, 3);
});

test('ChangeListeners: a failed change is handed again until it succeeds, once per change; others are not held', async () => {
  const l = new ChangeListeners();
  const calls: string[] = [];
  let failing = 2;
  l.add(async (c: StoreChange) => {
    const name = c.kind === 'app' ? c.id : c.kind;
    calls.push(name);
    if (name === 'a' && failing-- > 0) throw new Error('read failed');
  });
  l.emit({ kind: 'app', id: 'a' });
  l.emit({ kind: 'keys' });
  await until('a handed until it succeeded', () => calls.filter((x) => x === 'a').length === 3, 5000);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(calls.filter((x) => x === 'a').length, 3);
  assert.equal(calls.filter((x) => x === 'keys').length, 1);
  assert.equal(l.waiting, 0);
  l.close();
});

test('ChangeListeners: retryNow hands a waiting change at once; close drops what waits', async () => {
  const l = new ChangeListeners();
  let n = 0;
  l.add(() => {
    n++;
    throw new Error('down');
  });
  l.emit({ kind: 'apiKey' });
  await until('waiting', () => l.waiting === 1, 10_000);
  l.retryNow();
  assert.equal(n, 2);
  await until('waiting again', () => l.waiting === 1, 10_000);
  l.close();
  assert.equal(l.waiting, 0);
});
