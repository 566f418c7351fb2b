// The paged app list (GET /v3/channels, lp.apps.list) with many apps: pages
// in id order, creates and deletes seen by the next page, and a page does not
// sort every app (with 100,000 apps that sort held the event loop for tens of
// milliseconds on each page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../src/apps.js';
import { MemoryStore } from '../../src/store/memory.js';

/** The lengths of the arrays sorted while fn runs. */
function sortsDuring<T>(fn: () => T): { value: T; sorted: number[] } {
  const sorted: number[] = [];
  const orig = Array.prototype.sort;
  Array.prototype.sort = function (this: unknown[], ...args: Parameters<typeof orig>) {
    sorted.push(this.length);
    return orig.apply(this, args);
  } as typeof orig;
  try {
    return { value: fn(), sorted };
  } finally {
    Array.prototype.sort = orig;
  }
}

test('a page of the app list with 20,000 apps does not sort every app, and sees creates and deletes', async () => {
  const reg = new Registry(new MemoryStore(), { historyLines: 10 });
  await reg.init();
  const n = 20_000;
  // created out of order
  await Promise.all(Array.from({ length: n }, (_, i) => reg.ensureApp(`app-${String((i * 7919) % n).padStart(5, '0')}`)));
  const first = reg.list(null, 100).map((a) => a.id);
  assert.deepEqual(first, Array.from({ length: 100 }, (_, i) => `app-${String(i).padStart(5, '0')}`));
  await reg.ensureApp('app-00050a');
  await reg.deleteApp('app-00060');
  const { value: page, sorted } = sortsDuring(() => reg.list('app-00049', 12).map((a) => a.id));
  assert.deepEqual(page, ['app-00050', 'app-00050a', 'app-00051', 'app-00052', 'app-00053', 'app-00054', 'app-00055', 'app-00056', 'app-00057', 'app-00058', 'app-00059', 'app-00061']);
  assert.ok(sorted.every((len) => len <= 12), `a page sorted arrays of ${sorted.join(', ')} ids`);
  // paging through everything visits each app once, in order
  const all: string[] = [];
  for (let after: string | null = null; ; ) {
    const p: string[] = reg.list(after, 1000).map((a) => a.id);
    if (p.length === 0) break;
    all.push(...p);
    after = p[p.length - 1]!;
  }
  assert.equal(all.length, n);
  assert.deepEqual(all, [...all].sort());
});
