// An app deleted and re-created under the same name is another app (its
// record's uuid, the incarnation, differs). A node that hears of both changes
// as one (distributed mode: it re-reads the app once, after both landed)
// must still let the old app go, as a delete would: its tails end, its
// sessions are forgotten, its ring is not the new app's history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, type App } from '../../src/apps.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { StoreChange } from '../../src/store/store.js';
import { line, push } from '../support/tail.js';

/** One store shared by two registries (two nodes); the test tells each node of a change when it likes. */
class SharedStore extends MemoryStore {
  readonly listeners: Array<(c: StoreChange) => unknown> = [];
  override onChange(listener: (c: StoreChange) => unknown): void {
    this.listeners.push(listener);
  }
}

test('a node that hears of a delete and a re-create as one change lets the old app go (appDeleted) and installs a new, empty one', async () => {
  const store = new SharedStore();
  const a = new Registry(store, { historyLines: 10 });
  const b = new Registry(store, { historyLines: 10 });
  await a.init();
  await b.init();
  const hearB = store.listeners[1]!;

  await a.putApp('x', ['app']);
  await hearB({ kind: 'app', id: 'x' });
  const old = b.get('x')!;
  push(old, 1, 3, (i) => line(i, { msg: `old ${i}` }));

  await a.deleteApp('x');
  await a.putApp('x', ['app']);
  const deleted: App[] = [];
  b.on('appDeleted', (app: App) => deleted.push(app));
  await hearB({ kind: 'app', id: 'x' });

  assert.deepEqual(deleted, [old], 'the old app is let go');
  const now = b.get('x')!;
  assert.notEqual(now, old);
  assert.equal(now.record.uuid, a.get('x')!.record.uuid);
  assert.notEqual(now.record.uuid, old.record.uuid);
  assert.equal(now.ring.count, 0, "none of the old app's lines");
  // the new app's token works on b, the old one is gone
  assert.equal(b.tokens.size, 1);
});
