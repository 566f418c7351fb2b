// access/: the throttle with an injected clock, key hashing and lookup, roles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, isLoopbackAddress } from '../../src/access/throttle.js';
import { KEY_SECRET, KeyRing, hashSecret, newKey } from '../../src/access/keys.js';
import { allows } from '../../src/access/roles.js';
import { MemoryStore } from '../../src/store/memory.js';
import { Audit } from '../../src/access/audit.js';
import { ADMIN } from '../../src/access/roles.js';
import type { App } from '../../src/apps.js';
import { msgOf } from '../../src/line.js';
import type { KeyRecord } from '../../src/store/store.js';

test('throttle: the limit-th failure closes the address until the window ends; Retry-After counts down', () => {
  let now = 1_000_000;
  const t = new AuthThrottle({ limit: 3, windowMs: 60_000, clock: { now: () => now } });
  t.fail('10.0.0.1');
  t.fail('10.0.0.1');
  assert.equal(t.retryAfter('10.0.0.1'), 0);
  t.fail('10.0.0.1');
  assert.equal(t.retryAfter('10.0.0.1'), 60);
  assert.equal(t.retryAfter('10.0.0.2'), 0);
  now += 59_001;
  assert.equal(t.retryAfter('10.0.0.1'), 1);
  now += 999;
  assert.equal(t.retryAfter('10.0.0.1'), 0);
  assert.equal(t.size, 0);
});

test('throttle: failures spread over more than a window never close an address', () => {
  let now = 0;
  const t = new AuthThrottle({ limit: 3, windowMs: 1000, clock: { now: () => now } });
  for (let i = 0; i < 100; i++) {
    t.fail('a');
    now += 400;
    assert.equal(t.retryAfter('a'), 0, `failure ${i}`);
  }
});

test('throttle: exempt addresses and limit 0 are never throttled; memory stays bounded', () => {
  const off = new AuthThrottle({ limit: 0 });
  for (let i = 0; i < 50; i++) off.fail('x');
  assert.equal(off.retryAfter('x'), 0);
  const ex = new AuthThrottle({ limit: 1, exempt: isLoopbackAddress });
  ex.fail('127.0.0.1');
  ex.fail('::1');
  ex.fail('::ffff:127.0.0.1');
  assert.equal(ex.size, 0);
  const small = new AuthThrottle({ limit: 1, maxAddresses: 100 });
  for (let i = 0; i < 10_000; i++) small.fail(`10.0.${i >> 8}.${i & 255}`);
  assert.ok(small.size <= 100, String(small.size));
});

test('keys: 256-bit secrets in the SPEC shape; only the SHA-256 is stored; lookup by any presented form', async () => {
  const { id, secret } = newKey();
  assert.match(id, /^k_[0-9a-f]{16}$/);
  assert.match(secret, KEY_SECRET);
  assert.equal(Buffer.from(secret.slice(4), 'base64url').length, 32);
  const store = new MemoryStore();
  const ring = new KeyRing(store, (a) => a === 'a');
  await ring.init();
  const { record, secret: s } = await ring.create({ name: 'n', role: 'viewer', apps: ['a'] });
  const stored = JSON.stringify(await store.load());
  assert.ok(!stored.includes(s) && !stored.includes(s.slice(4)), 'the secret is in the store');
  assert.ok(stored.includes(hashSecret(s)));
  assert.equal(ring.authenticate(['nope', s])?.keyId, record.id);
  // one character changed (not the last with a fixed letter: the last of 43 base64url characters
  // holds 4 bits, so it is `A` in 1 of 16 secrets and the "wrong" key was the key)
  const wrong = `${s.slice(0, 10)}${s[10] === 'x' ? 'y' : 'x'}${s.slice(11)}`;
  assert.notEqual(wrong, s);
  assert.equal(ring.authenticate([wrong]), null);
  assert.equal(ring.authenticate([]), null);
  await ring.revoke(record.id);
  assert.equal(ring.authenticate([s]), null);
});

test('roles: viewer reads, developer also changes drains and tokens, admin everything; never outside the apps', () => {
  const p = (role: 'viewer' | 'developer' | 'admin') => ({ keyId: 'k', name: 'n', role, apps: new Set(['a']) });
  assert.equal(allows(p('viewer'), 'read', 'a'), true);
  assert.equal(allows(p('viewer'), 'drains', 'a'), false);
  assert.equal(allows(p('viewer'), 'read', 'b'), false);
  assert.equal(allows(p('developer'), 'drains', 'a'), true);
  assert.equal(allows(p('developer'), 'tokens', 'a'), true);
  assert.equal(allows(p('developer'), 'drains', 'b'), false);
  assert.equal(allows(p('developer'), 'admin', null), false);
  assert.equal(allows(p('admin'), 'admin', null), true);
  assert.equal(allows(p('admin'), 'drains', 'b'), true);
});

test('audit: a key raised to admin is one line in every app, thousands of apps included, without holding the event loop', async () => {
  const apps = new Map(Array.from({ length: 2500 }, (_, i) => [`app${i}`, { id: `app${i}` } as App]));
  const lines = new Map<string, string[]>();
  const audit = new Audit({
    app: (id) => apps.get(id),
    apps: () => apps.values(),
    emit: (app, rec) => lines.set(app.id, [...(lines.get(app.id) ?? []), msgOf(rec).toString('utf8')]),
    show: (u) => u,
    adminKey: true,
  });
  const now = new Date().toISOString();
  const viewer: KeyRecord = { id: 'k_0000000000000001', hash: '00'.repeat(32), name: 'esc', role: 'viewer', apps: ['app7'], createdAt: now, updatedAt: now };
  let turned = false;
  setImmediate(() => (turned = true));
  const done = audit.keyChange(viewer, { ...viewer, role: 'admin', apps: [] }, ADMIN);
  await done;
  assert.ok(turned, 'the event loop turned while the lines were written');
  assert.equal(lines.size, 2500);
  assert.deepEqual(lines.get('app7'), ['Change key esc to admin by admin']);
  assert.deepEqual(lines.get('app8'), ['Add key esc (admin) by admin']);
  lines.clear();
  await audit.keyChange({ ...viewer, role: 'admin', apps: [] }, { ...viewer, apps: ['app8'] }, ADMIN);
  assert.equal(lines.size, 2500);
  assert.deepEqual(lines.get('app8'), ['Change key esc to viewer by admin']);
  assert.deepEqual(lines.get('app9'), ['Remove key esc by admin']);
});
