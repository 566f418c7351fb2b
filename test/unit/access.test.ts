// access/: the throttle with an injected clock, key hashing and lookup, roles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, clientKey, isLoopbackAddress } from '../../src/access/throttle.js';
import { attackSchedules, mostInAWindow } from '../support/throttle.js';
import { KEY_SECRET, KeyRing, hashSecret, newKey } from '../../src/access/keys.js';
import { allows } from '../../src/access/roles.js';
import { MemoryStore } from '../../src/store/memory.js';
import { Audit } from '../../src/access/audit.js';
import { ADMIN } from '../../src/access/roles.js';
import type { App } from '../../src/apps.js';
import { msgOf } from '../../src/line.js';
import type { KeyRecord } from '../../src/store/store.js';

test('throttle: the limit-th failure closes the address until it leaves the window (60 to 61 s later); Retry-After counts down', () => {
  let now = 1_000_500; // half way into a 1 s slot
  const t = new AuthThrottle({ limit: 3, windowMs: 60_000, clock: { now: () => now } });
  t.fail('10.0.0.1');
  t.fail('10.0.0.1');
  assert.equal(t.retryAfter('10.0.0.1'), 0);
  t.fail('10.0.0.1');
  // counted in slot 1000, which leaves the window when slot 1060 ends: at 1_061_000
  assert.equal(t.retryAfter('10.0.0.1'), 61);
  assert.equal(t.retryAfter('10.0.0.2'), 0);
  now = 1_059_600;
  assert.equal(t.retryAfter('10.0.0.1'), 2);
  now = 1_060_999;
  assert.equal(t.retryAfter('10.0.0.1'), 1);
  now = 1_061_000;
  assert.equal(t.retryAfter('10.0.0.1'), 0);
  assert.equal(t.size, 0);
});

test('throttle: an IPv6 client is counted by its /64 (cycling its own addresses gains nothing), an IPv4-mapped one as IPv4', () => {
  assert.equal(clientKey('203.0.113.9'), '203.0.113.9');
  assert.equal(clientKey('::ffff:203.0.113.9'), '203.0.113.9');
  assert.equal(clientKey('2001:db8:0:1:aaaa:bbbb:cccc:dddd'), '2001:db8:0:1::/64');
  assert.equal(clientKey('2001:DB8:0:1::1'), '2001:db8:0:1::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(clientKey('::1.2.3.4'), '0:0:0:0::/64');
  let now = 0;
  const t = new AuthThrottle({ limit: 3, windowMs: 60_000, clock: { now: () => now } });
  for (let i = 1; i <= 3; i++) t.fail(`2001:db8:0:1::${i.toString(16)}`);
  assert.ok(t.retryAfter('2001:db8:0:1:ffff:ffff:ffff:ffff') > 0);
  assert.equal(t.retryAfter('2001:db8:0:2::1'), 0);
  t.fail('::ffff:10.1.1.1');
  t.fail('10.1.1.1');
  t.fail('::ffff:10.1.1.1');
  assert.ok(t.retryAfter('10.1.1.1') > 0);
});

test('throttle: the wait ends when enough failures have left the window, not when all have', () => {
  let now = 0;
  const t = new AuthThrottle({ limit: 3, windowMs: 60_000, clock: { now: () => now } });
  t.fail('a'); // slot 0: leaves at 61 s
  now = 30_000;
  t.fail('a');
  t.fail('a'); // slot 30: leaves at 91 s
  assert.equal(t.retryAfter('a'), 31);
  now = 61_000;
  assert.equal(t.retryAfter('a'), 0, 'the first failure left: 2 in the window, one more may come');
  t.fail('a');
  assert.equal(t.retryAfter('a'), 30);
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

test('throttle: never more than `limit` failures let through in any window, across a window edge included', async () => {
  for (const at of attackSchedules()) {
    let now = 0;
    const t = new AuthThrottle({ limit: 20, windowMs: 60_000, clock: { now: () => now } });
    const { admitted, most } = await mostInAWindow([t], at, (ms) => (now = ms), 60_000);
    assert.ok(most <= 20, `${most} failures let through in one window`);
    assert.ok(admitted.length >= 20, 'the first 20 are let through');
  }
  // the reviewer's case: 1 failure, 19 more just before a minute from it, then a burst: 1 more, not 20
  let now = 0;
  const t = new AuthThrottle({ limit: 20, windowMs: 60_000, clock: { now: () => now } });
  const { admitted } = await mostInAWindow([t], attackSchedules()[0]!, (ms) => (now = ms), 60_000);
  assert.equal(admitted.filter((ms) => ms >= 65_000 && ms < 66_500).length, 1);
});

test('throttle: exempt addresses and limit 0 are never throttled; memory stays bounded', async () => {
  const off = new AuthThrottle({ limit: 0 });
  for (let i = 0; i < 50; i++) off.fail('x');
  assert.equal(off.retryAfter('x'), 0);
  const ex = new AuthThrottle({ limit: 1, exempt: isLoopbackAddress });
  for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) for (let i = 0; i < 3; i++) assert.equal(await ex.admit(a, false), 0);
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
