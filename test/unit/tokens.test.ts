// TokenTable: token bytes in (a range inside a bigger buffer, as in a frame),
// the entry out; a token that differs in any one byte, or in length, is not
// found; tokens whose hashes collide (same length, same last 16 bytes) are
// told apart by the compare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { TokenTable, type TokenKey } from '../../src/tokens.js';

class Entry implements TokenKey {
  readonly bytes: Buffer;
  live = true;
  constructor(readonly token: string) {
    this.bytes = Buffer.from(token, 'latin1');
  }
}

/** Look token up from inside a frame-like buffer, at an odd offset, with bytes on both sides. */
function find(t: TokenTable<Entry>, token: string | Buffer, pad = 5): Entry | undefined {
  const tb = typeof token === 'string' ? Buffer.from(token, 'latin1') : token;
  const buf = Buffer.concat([Buffer.from('<190>1 2026 host '.slice(0, pad)), tb, Buffer.from(' web.1 - - msg')]);
  return t.lookup(buf, pad, pad + tb.length);
}

const UUID_TOKEN = 't.0f6b7c7e-2f5d-4a59-9a53-2c1e0d3b8f41';

test('tokens of every length up to 40 bytes are found, and nothing else is', () => {
  const t = new TokenTable<Entry>();
  const tokens: Entry[] = [];
  for (let n = 1; n <= 40; n++) {
    const e = new Entry(UUID_TOKEN.padEnd(40, 'z').slice(0, n));
    tokens.push(e);
    t.add(e);
  }
  assert.equal(t.size, 40);
  for (const e of tokens) {
    for (const pad of [0, 1, 3, 4]) assert.equal(find(t, e.token, pad), e, `${e.token.length} bytes at ${pad}`);
    // every one-byte change, in every position, misses (or finds the token it became)
    for (let i = 0; i < e.bytes.length; i++) {
      const changed = Buffer.from(e.bytes);
      changed[i] = changed[i]! ^ 0x01;
      assert.equal(find(t, changed), undefined, `${e.token} changed at ${i}`);
    }
  }
  assert.equal(find(t, ''), undefined);
  assert.equal(find(t, `${UUID_TOKEN}zzx`), undefined, 'one byte longer than any token');
});

test('1,000 uuid tokens: each finds its own entry', () => {
  const t = new TokenTable<Entry>();
  const entries: Entry[] = [];
  for (let i = 0; i < 1000; i++) {
    const e = new Entry(`t.${randomUUID()}`);
    entries.push(e);
    t.add(e);
  }
  for (const e of entries) assert.equal(find(t, e.token), e);
});

test('same length and same last 16 bytes (same hash): told apart by the compare', () => {
  const t = new TokenTable<Entry>();
  const a = new Entry(`a.${UUID_TOKEN.slice(2)}`);
  const b = new Entry(`b.${UUID_TOKEN.slice(2)}`);
  const c = new Entry(`t.0f6b7c7e-ffff-4a59-9a53-2c1e0d3b8f41`);
  t.add(a);
  t.add(b);
  t.add(c);
  assert.equal(find(t, a.token), a);
  assert.equal(find(t, b.token), b);
  assert.equal(find(t, c.token), c);
  assert.equal(find(t, UUID_TOKEN), undefined);
  t.remove(b.token);
  assert.equal(b.live, false);
  assert.equal(find(t, b.token), undefined);
  assert.equal(find(t, a.token), a);
  assert.equal(find(t, c.token), c);
});

test('add replaces an entry with the same token; remove takes it out and marks it not live', () => {
  const t = new TokenTable<Entry>();
  const first = new Entry(UUID_TOKEN);
  const second = new Entry(UUID_TOKEN);
  t.add(first);
  t.add(second);
  assert.equal(first.live, false);
  assert.equal(t.size, 1);
  assert.equal(find(t, UUID_TOKEN), second);
  assert.equal(t.get(UUID_TOKEN), second);
  t.remove(UUID_TOKEN);
  assert.equal(second.live, false);
  assert.equal(t.size, 0);
  assert.equal(find(t, UUID_TOKEN), undefined);
  t.remove(UUID_TOKEN); // removing twice is harmless
});
