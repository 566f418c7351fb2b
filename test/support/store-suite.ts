// One behavioural suite for every ConfigStore backend (memory, file, Redis):
// the same assertions, several implementations.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ConflictError } from '../../src/errors.js';
import type { AppRecord, ConfigStore, KeyRecord, StoreChange } from '../../src/store/store.js';
import { until } from './wait.js';
import { sha256Hex } from '../../src/basics/digest.js';
import type { StoreSnapshot } from '../../src/store/store.js';

export interface StoreBackend {
  /** A store over a fresh, empty backend. */
  fresh(): Promise<ConfigStore>;
  /** A second store over the same backend as `s` (a restart, or another node); null when the backend is per-instance. */
  reopen: ((s: ConfigStore) => Promise<ConfigStore>) | null;
  /** Whether another instance's writes are reported through onChange (shared backends). */
  notifies: boolean;
  /** Whether the store keeps only the admin key's hash (Redis: SPEC 12), not the key. */
  hashesAdminKey?: boolean;
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

/** A record as compared in assertions: without the rev the store sets on every write. */
function bare(r: AppRecord | null): Omit<AppRecord, 'rev'> | null {
  if (r === null) return null;
  const { rev: _rev, ...rest } = r;
  return rest;
}

/** An update() callback that adds one token named `name` (creating the app when missing). */
function addToken(id: string, name: string) {
  return (cur: AppRecord | null) => {
    const base = cur ?? record(id, { tokens: [] });
    return { next: { ...base, tokens: [...base.tokens, { token: `t.${randomUUID()}`, name, createdAt: 'x' }] }, result: name };
  };
}


export function storeSuite(name: string, backend: StoreBackend): void {
  /** The snapshot holds this admin key: itself, or (a store that keeps hashes) only its SHA-256. */
  const assertAdminKey = (snap: StoreSnapshot, key: string) => {
    if (backend.hashesAdminKey) {
      assert.equal(snap.apiKey, null, 'the key itself is not kept');
      assert.equal(snap.apiKeyHash, sha256Hex(key));
    } else assert.equal(snap.apiKey, key);
  };
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
    /** The store whose changes are `seen` hears other's from now on (its subscription confirmed): other makes an app, and it is told. */
    const hearing = async (seen: StoreChange[], other: ConfigStore) => {
      await other.putApp(record('probe'));
      await until('the other instance heard', () => seen.some((c) => c.kind === 'app' && c.id === 'probe'));
      seen.length = 0;
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
      assert.deepEqual(bare(await s.getApp('one')), a);
      const b = { ...a, updatedAt: 'later', tokens: [...a.tokens, { token: `t.${randomUUID()}`, name: 'heroku', createdAt: 'x' }] };
      await s.putApp(b);
      assert.deepEqual(bare(await s.getApp('one')), b);
      assert.deepEqual((await s.load()).apps.map(bare), [b]);
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
      assertAdminKey(await s.load(), 'k'.repeat(20));
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
      assertAdminKey(snap, 'durable-key-0123456789');
      assert.deepEqual(snap.apps.map(bare), [a]);
    });

    test('update: each write sets the next rev; a callback that changes nothing writes nothing', async () => {
      const s = await fresh();
      await s.load();
      const first = await s.update('revs', addToken('revs', 'app'));
      assert.equal(first.record?.rev, 1);
      assert.equal((await s.update('revs', addToken('revs', 'web'))).record?.rev, 2);
      const same = await s.update('revs', (cur) => ({ next: undefined, result: cur?.tokens.length }));
      assert.equal(same.result, 2);
      assert.equal(same.record?.rev, 2);
      assert.equal((await s.getApp('revs'))?.rev, 2);
    });

    test('update: a callback that throws changes nothing and its error reaches the caller', async () => {
      const s = await fresh();
      await s.load();
      await s.update('refused', addToken('refused', 'app'));
      const before = await s.getApp('refused');
      await assert.rejects(
        s.update('refused', () => {
          throw new ConflictError('already exists');
        }),
        ConflictError,
      );
      assert.deepEqual(await s.getApp('refused'), before);
    });

    test('update: concurrent changes of one app all land (none overwrites another)', async () => {
      const s = await fresh();
      await s.load();
      // shared backends: half the writers on a second instance (another node)
      const other = backend.notifies ? await reopen(s) : s;
      await s.update('race', addToken('race', 'app'));
      const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
      const done = await Promise.all(names.map((n, i) => (i % 2 ? other : s).update('race', addToken('race', n))));
      assert.deepEqual(done.map((d) => d.result), names);
      const got = (await s.getApp('race'))!;
      assert.deepEqual(got.tokens.map((t) => t.name).sort(), ['app', ...names].sort());
      assert.equal(got.rev, 21);
    });

    test('update: concurrent creates of one app create it once, and every caller sees that one', async () => {
      const s = await fresh();
      await s.load();
      const other = backend.notifies ? await reopen(s) : s;
      const create = (cur: AppRecord | null) => (cur ? { next: undefined, result: false } : { next: record('once'), result: true });
      const done = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : s).update('once', create)));
      assert.equal(done.filter((d) => d.result).length, 1, 'exactly one created it');
      const stored = (await s.getApp('once'))!;
      for (const d of done) assert.deepEqual(d.record, stored);
    });

    test('update: deleting returns null; deleting a missing app writes nothing', async () => {
      const s = await fresh();
      await s.load();
      await s.update('gone', addToken('gone', 'app'));
      const del = await s.update('gone', () => ({ next: null, result: 'deleted' }));
      assert.deepEqual(del, { record: null, result: 'deleted' });
      assert.equal(await s.getApp('gone'), null);
      assert.deepEqual(await s.update('gone', () => ({ next: null, result: 'again' })), { record: null, result: 'again' });
      assert.deepEqual((await s.load()).apps, []);
    });

    test("another instance's changes are reported, our own are not", { skip: !backend.notifies }, async () => {
      const s = await fresh();
      await s.load();
      const seen: StoreChange[] = [];
      s.onChange((c) => seen.push(c));
      const other = await reopen(s);
      await other.load();
      await hearing(seen, other);
      await s.putApp(record('mine'));
      await other.putApp(record('theirs'));
      await until('theirs reported', () => seen.some((c) => c.kind === 'app' && c.id === 'theirs'));
      await other.deleteApp('theirs');
      await other.setApiKey('other-key-0123456789');
      await until('delete and key reported', () => seen.filter((c) => c.kind === 'app' && c.id === 'theirs').length === 2 && seen.some((c) => c.kind === 'apiKey'));
      assert.ok(!seen.some((c) => c.kind === 'app' && c.id === 'mine'), 'own change not reported');
      assert.equal(await s.getApp('theirs'), null);
    });

    test('API key records: put, replace, delete; kept across a reopen; apps untouched', async () => {
      const s = await fresh();
      await s.load();
      await s.putApp(record('withkeys'));
      const now = new Date().toISOString();
      const k: KeyRecord = { id: 'k_0123456789abcdef', hash: 'ab'.repeat(32), name: 'ci', role: 'viewer', apps: ['withkeys'], createdAt: now, updatedAt: now };
      await s.putKey(k);
      await s.putKey({ ...k, id: 'k_fedcba9876543210', name: 'other' });
      await s.putKey({ ...k, role: 'developer' });
      const sorted = (l: KeyRecord[]) => [...l].sort((a, b) => (a.id < b.id ? -1 : 1));
      assert.deepEqual(sorted(await s.getKeys()).map((r) => [r.id, r.role]), [['k_0123456789abcdef', 'developer'], ['k_fedcba9876543210', 'viewer']]);
      assert.equal(await s.deleteKey('k_fedcba9876543210'), true);
      assert.equal(await s.deleteKey('k_fedcba9876543210'), false);
      assert.deepEqual(await s.getKeys(), [{ ...k, role: 'developer' }]);
      assert.deepEqual((await s.load()).keys, [{ ...k, role: 'developer' }]);
      if (backend.reopen) {
        const r = await reopen(s);
        const snap = await r.load();
        assert.deepEqual(snap.keys, [{ ...k, role: 'developer' }]);
        assert.deepEqual(snap.apps.map((a) => a.id), ['withkeys']);
      }
    });

    test('updateKey: a read-modify-write of the stored record (none: null; undefined writes nothing; a throw changes nothing)', async () => {
      const s = await fresh();
      await s.load();
      const now = new Date().toISOString();
      const k: KeyRecord = { id: 'k_2222222222222222', hash: 'ef'.repeat(32), name: 'u', role: 'viewer', apps: ['a', 'b'], createdAt: now, updatedAt: now };
      assert.deepEqual(await s.updateKey(k.id, (cur) => (cur === null ? undefined : { ...cur, apps: [] })), { before: null, after: null }, 'a missing key is not created by a change');
      assert.deepEqual(await s.getKeys(), []);
      assert.deepEqual(await s.updateKey(k.id, () => k), { before: null, after: k });
      await assert.rejects(s.updateKey(k.id, () => {
        throw new ConflictError('no');
      }), ConflictError);
      assert.deepEqual(await s.updateKey(k.id, () => undefined), { before: k, after: k });
      const narrowed = await s.updateKey(k.id, (cur) => ({ ...cur!, apps: cur!.apps.filter((a) => a !== 'a') }));
      assert.deepEqual(narrowed, { before: k, after: { ...k, apps: ['b'] } });
      assert.deepEqual(await s.getKeys(), [{ ...k, apps: ['b'] }]);
      assert.deepEqual(await s.updateKey(k.id, () => null), { before: { ...k, apps: ['b'] }, after: null });
      assert.deepEqual(await s.getKeys(), []);
      if (backend.reopen) assert.deepEqual((await (await reopen(s)).load()).keys, []);
    });

    test('updateKey: concurrent changes of one key from two instances all land; none writes a revoked key back', { skip: !backend.notifies }, async () => {
      const s = await fresh();
      await s.load();
      const other = await reopen(s);
      await other.load();
      const now = new Date().toISOString();
      const k: KeyRecord = { id: 'k_3333333333333333', hash: '01'.repeat(32), name: 'c', role: 'viewer', apps: [], createdAt: now, updatedAt: now };
      await s.putKey(k);
      const apps = Array.from({ length: 20 }, (_, i) => `app${String(i).padStart(2, '0')}`);
      await Promise.all(apps.map((a, i) => (i % 2 ? s : other).updateKey(k.id, (cur) => (cur ? { ...cur, apps: [...cur.apps, a].sort() } : undefined))));
      assert.deepEqual((await s.getKeys())[0]?.apps, apps);
      await other.updateKey(k.id, () => null);
      // s changes what it reads: nothing, so nothing is written
      assert.deepEqual(await s.updateKey(k.id, (cur) => (cur ? { ...cur, role: 'developer' } : undefined)), { before: null, after: null });
      assert.deepEqual(await s.getKeys(), []);
    });

    test('createKey: a new key unless its id or name is stored; creates of one name at once (two instances): one lands', async () => {
      const s = await fresh();
      await s.load();
      const other = backend.notifies ? await reopen(s) : s; // two nodes on a shared store; a data dir has one writer
      if (other !== s) await other.load();
      const now = new Date().toISOString();
      const k = (i: number, name: string): KeyRecord => ({ id: `k_${String(i).padStart(16, '0')}`, hash: 'aa'.repeat(32), name, role: 'viewer', apps: [], createdAt: now, updatedAt: now });
      assert.equal(await s.createKey(k(1, 'one')), null);
      assert.equal(await s.createKey(k(1, 'two')), 'id');
      assert.equal(await s.createKey(k(2, 'one')), 'name');
      const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? s : other).createKey(k(10 + i, 'same'))));
      assert.deepEqual(rs.filter((r) => r === null).length, 1, JSON.stringify(rs));
      assert.deepEqual((await s.getKeys()).map((r) => r.name).sort(), ['one', 'same']);
    });

    test('deleting an app takes it out of every key (a later app of that id is no key’s)', async () => {
      const s = await fresh();
      await s.load();
      await s.putApp(record('gone'));
      const now = new Date().toISOString();
      const k: KeyRecord = { id: 'k_4444444444444444', hash: '02'.repeat(32), name: 'd', role: 'viewer', apps: ['gone', 'kept'], createdAt: now, updatedAt: now };
      await s.putKey(k);
      await s.putKey({ ...k, id: 'k_5555555555555555', name: 'e', apps: ['kept'] });
      await s.deleteApp('gone');
      assert.deepEqual((await s.getKeys()).map((r) => r.apps), [['kept'], ['kept']]);
      if (backend.reopen) assert.deepEqual(((await (await reopen(s)).load()).keys ?? []).map((r) => r.apps), [['kept'], ['kept']]);
    });

    test("another instance's key changes are reported as `keys`", { skip: !backend.notifies }, async () => {
      const s = await fresh();
      await s.load();
      const seen: StoreChange[] = [];
      s.onChange((c) => seen.push(c));
      const other = await reopen(s);
      await other.load();
      await hearing(seen, other);
      const now = new Date().toISOString();
      await other.putKey({ id: 'k_1111111111111111', hash: 'cd'.repeat(32), name: 'n', role: 'viewer', apps: [], createdAt: now, updatedAt: now });
      await until('put reported', () => seen.filter((c) => c.kind === 'keys').length === 1);
      await other.deleteKey('k_1111111111111111');
      await until('delete reported', () => seen.filter((c) => c.kind === 'keys').length === 2);
    });
  });
}
