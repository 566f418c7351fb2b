// The session store's quota (src/tail/quota.ts): the counts follow the table
// through every way in and out, and the expiry hints never refuse a session
// a slot has freed for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session, SessionStore, type SessionSpec } from '../../src/tail/session.js';
import { share, SessionLimit, type SessionQuotaOptions } from '../../src/tail/quota.js';

const TTL = 1000;
const QUOTA: SessionQuotaOptions = { perKey: 3, perApp: 6, perNode: 12, adminReservePercent: 25 };

function spec(app: string, keyId: string | null): SessionSpec {
  return { app, num: 0, tail: true, source: null, dyno: null, grep: null, after: null, keyId };
}

/** What admit() must answer, worked out from the live sessions alone. */
function expected(store: SessionStore, s: SessionSpec, now: number): SessionLimit | null {
  const live = [...store.all()].filter((x) => now < x.expiresAt(store.ttlMs));
  const apiKey = s.keyId != null;
  if (apiKey && live.filter((x) => x.spec.keyId === s.keyId).length >= QUOTA.perKey) return SessionLimit.KEY;
  if (live.filter((x) => x.spec.app === s.app).length >= (apiKey ? share(QUOTA.perApp, QUOTA) : QUOTA.perApp)) return SessionLimit.APP;
  if (live.length >= (apiKey ? share(QUOTA.perNode, QUOTA) : QUOTA.perNode)) return SessionLimit.NODE;
  return null;
}

test('random creates, reads, expiries, sweeps, lookups, adoptions and app deletions: admit() answers exactly what the live sessions say, every step', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  let now = 1_000_000;
  const store = new SessionStore({ ttlMs: TTL, clock: { now: () => now }, quota: QUOTA });
  const apps = ['a', 'b', 'c'];
  const keys = ['k1', 'k2', 'k3', 'k4', null];
  const reading: Session[] = [];
  let refusals = 0;
  for (let step = 0; step < 20_000; step++) {
    const s = spec(apps[rand(apps.length)]!, keys[rand(keys.length)]!);
    const op = rand(100);
    if (op < 50) {
      const want = expected(store, s, now);
      const got = store.admit(s);
      assert.equal(got?.limit ?? null, want, `step ${step}`);
      if (got === null) assert.ok(store.create(s));
      else {
        refusals++;
        assert.ok(got.freesAt > now, 'a refusal says when a slot may free, later than now');
      }
    } else if (op < 60) {
      const all = [...store.all()];
      const x = all[rand(all.length + 1)];
      if (x && now < x.expiresAt(TTL)) {
        store.acquire(x);
        reading.push(x);
      }
    } else if (op < 70) {
      const x = reading.splice(rand(reading.length + 1), 1)[0];
      if (x) store.release(x);
    } else if (op < 88) now += rand(TTL / 2);
    else if (op < 91) store.sweep();
    else if (op < 95) {
      const all = [...store.all()];
      const x = all[rand(all.length + 1)];
      if (x) store.get(x.id);
    } else if (op < 98) {
      // a session made on another node, with some of its life used there
      const x = new Session(`remote-${step}`, s, now - rand(TTL));
      const want = expected(store, s, now);
      assert.equal(store.adopt(x)?.limit ?? null, want, `adopt, step ${step}`);
    } else {
      store.dropApp(s.app);
      for (let i = reading.length - 1; i >= 0; i--) if (reading[i]!.spec.app === s.app) reading.splice(i, 1);
    }
  }
  assert.ok(refusals > 1000, `the quotas were reached often (${refusals} refusals)`);
  // everything expires: the whole table frees, and the counts with it
  for (const x of reading) store.release(x);
  now += TTL;
  for (const k of ['k1', 'k2']) for (let i = 0; i < QUOTA.perKey; i++) assert.ok(store.create(spec(k === 'k1' ? 'a' : 'b', k)));
  assert.equal(store.size, 2 * QUOTA.perKey);
});

test('a shorter session life or another clock clears the hints: sessions expired by the change free their slots at once', () => {
  let now = 0;
  const store = new SessionStore({ ttlMs: 10_000, clock: { now: () => now }, quota: QUOTA });
  for (let i = 0; i < 3; i++) assert.ok(store.create(spec('a', 'k')));
  assert.equal(store.admit(spec('a', 'k'))?.limit, SessionLimit.KEY);
  now = 2000;
  store.ttlMs = 1000;
  assert.equal(store.admit(spec('a', 'k')), null);
  for (let i = 0; i < 3; i++) assert.ok(store.create(spec('a', 'k')));
  store.clock = { now: () => 10_000 };
  assert.equal(store.admit(spec('a', 'k')), null);
});

test("the admin key (no key id) has no quota of its own; the app's and the node's whole quota are its", () => {
  const store = new SessionStore({ clock: { now: () => 0 }, quota: QUOTA });
  for (let i = 0; i < QUOTA.perApp; i++) assert.ok(store.create(spec('a', null)));
  assert.equal(store.admit(spec('a', null))?.limit, SessionLimit.APP);
  for (let i = 0; i < QUOTA.perApp; i++) assert.ok(store.create(spec('b', null)));
  assert.equal(store.admit(spec('c', null))?.limit, SessionLimit.NODE);
  assert.equal(store.admit(spec('c', 'k'))?.limit, SessionLimit.NODE);
});
