// One behavioural suite for every ConfigStore backend (memory, file, Redis):
// the same assertions, several implementations.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AppRecord, ConfigStore, StoreChange } from '../../src/store/store.js';

export interface StoreBackend {
  /** A store over a fresh, empty backend. */
  fresh(): Promise<ConfigStore>;
  /** A second store over the same backend as `s` (a restart, or another node); null when the backend is per-instance. */
  reopen: ((s: ConfigStore) => Promise<ConfigStore>) | null;
  /** Whether another instance's writes are reported through onChange (shared backends). */
  notifies: boolean;
  cleanup?(): Promise<void>;
}

function record(id: string, over: Partial<AppRecord> = {}): AppRecord {
  const now = new Date().toISOString();
  return {
    id,
    uuid: randomUUID(),
    createdAt: now,
    updatedAt: now,
    tokens: [{ token: `t.${randomUUID()}`, name: 'app', createdAt: now }],
    drains: [],
    ...over,
  };
}

async function until(what: string, fn: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function storeSuite(name: string, backend: StoreBackend): void {
  describe(`ConfigStore: ${name}`, () => {
    const open: ConfigStore[] = [];
    const fresh = async () => {
      const s = await backend.fresh();
      open.push(s);
      return s;
    };
    const reopen = async (s: ConfigStore) => {
      const r = await backend.reopen!(s);
      open.push(r);
      return r;
    };
    after(async () => {
      for (const s of open) await s.close();
      await backend.cleanup?.();
    });

    test('starts empty', async () => {
      const s = await fresh();
      const snap = await s.load();
      assert.equal(snap.apiKey, null);
      assert.deepEqual(snap.apps, []);
      assert.equal(await s.getApp('nope'), null);
    });

    test('put, get, replace, delete one app', async () => {
      const s = await fresh();
      await s.load();
      const a = record('one', { drains: [{ id: randomUUID(), token: `d.${randomUUID()}`, url: 'https://example.com/x?y=1', createdAt: 'c', updatedAt: 'u' }] });
      await s.putApp(a);
      assert.deepEqual(await s.getApp('one'), a);
      const b = { ...a, updatedAt: 'later', tokens: [...a.tokens, { token: `t.${randomUUID()}`, name: 'heroku', createdAt: 'x' }] };
      await s.putApp(b);
      assert.deepEqual(await s.getApp('one'), b);
      assert.deepEqual((await s.load()).apps, [b]);
      await s.deleteApp('one');
      assert.equal(await s.getApp('one'), null);
      assert.deepEqual((await s.load()).apps, []);
    });

    test('returned records are copies', async () => {
      const s = await fresh();
      await s.load();
      const a = record('copy');
      await s.putApp(a);
      a.tokens.push({ token: 't.x', name: 'mutated', createdAt: 'x' });
      const got = (await s.getApp('copy'))!;
      assert.equal(got.tokens.length, 1);
      got.tokens.length = 0;
      assert.equal((await s.getApp('copy'))!.tokens.length, 1);
    });

    test('the admin key', async () => {
      const s = await fresh();
      await s.load();
      await s.setApiKey('k'.repeat(20));
      assert.equal((await s.load()).apiKey, 'k'.repeat(20));
    });

    test('many apps load in full', async () => {
      const s = await fresh();
      await s.load();
      const ids = Array.from({ length: 1200 }, (_, i) => `many-${i}`);
      await Promise.all(ids.map((id) => s.putApp(record(id))));
      const snap = await s.load();
      assert.deepEqual(snap.apps.map((a) => a.id).sort(), ids.slice().sort());
    });

    test('what is written survives a reopen (restart or another node)', { skip: backend.reopen === null }, async () => {
      const s = await fresh();
      await s.load();
      const a = record('durable');
      await s.putApp(a);
      await s.setApiKey('durable-key-0123456789');
      const r = await reopen(s);
      const snap = await r.load();
      assert.equal(snap.apiKey, 'durable-key-0123456789');
      assert.deepEqual(snap.apps, [a]);
    });

    test("another instance's changes are reported, our own are not", { skip: !backend.notifies }, async () => {
      const s = await fresh();
      await s.load();
      const seen: StoreChange[] = [];
      s.onChange((c) => seen.push(c));
      const other = await reopen(s);
      await other.load();
      await new Promise((r) => setTimeout(r, 50)); // subscription confirmed
      await s.putApp(record('mine'));
      await other.putApp(record('theirs'));
      await until('theirs reported', () => seen.some((c) => c.kind === 'app' && c.id === 'theirs'));
      await other.deleteApp('theirs');
      await other.setApiKey('other-key-0123456789');
      await until('delete and key reported', () => seen.filter((c) => c.kind === 'app' && c.id === 'theirs').length === 2 && seen.some((c) => c.kind === 'apiKey'));
      assert.ok(!seen.some((c) => c.kind === 'app' && c.id === 'mine'), 'own change not reported');
      assert.equal(await s.getApp('theirs'), null);
    });
  });
}
