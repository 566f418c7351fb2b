// LineRates: lines per second by source class over the last 5 minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineRates, RATE_WINDOW_S, RateSlab, sourceClassOfName } from '../../src/buffer/rates.js';
import { lineFrom } from '../../src/line.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const S0 = T0 / 1000;

function rec(source: string, receivedMs: number): Buffer {
  return lineFrom({ pri: 190, ts: '2026-01-01T12:00:00Z', source, dyno: 'web.1', msg: 'hello', receivedMs });
}

test('lines are counted per second in the source classes app, heroku and other', () => {
  const r = new LineRates();
  for (const [src, n] of [['app', 3], ['heroku', 2], ['build', 1], ['ap', 1], ['herokU', 1]] as const) {
    for (let i = 0; i < n; i++) r.count(rec(src, T0 + 500), T0 + 500);
  }
  r.count(rec('app', T0 + 1500), T0 + 1500);
  const s = r.series(S0 + 1);
  assert.equal(s.start, S0 + 1 - RATE_WINDOW_S + 1);
  assert.equal(s.counts.app.length, RATE_WINDOW_S);
  assert.deepEqual(s.counts.app.slice(-2), [3, 1]);
  assert.deepEqual(s.counts.heroku.slice(-2), [2, 0]);
  assert.deepEqual(s.counts.other.slice(-2), [3, 0]);
});

test("a line of an ingest batch, counted by its token's class (worked out by the worker), lands where a routed one does", () => {
  const r = new LineRates();
  for (const name of ['heroku', 'app', 'deploy', 'hero', 'ap', 'heroku2', 'App']) {
    r.countClass(sourceClassOfName(Buffer.from(name)), T0);
    r.count(rec(name, T0), T0);
  }
  const s = r.series(S0);
  assert.deepEqual([s.counts.app.at(-1), s.counts.heroku.at(-1), s.counts.other.at(-1)], [2, 2, 10]);
});

test('seconds older than the window are forgotten, and a bucket is cleared before it is reused', () => {
  const r = new LineRates();
  r.count(rec('app', T0), T0);
  r.count(rec('app', T0), T0);
  assert.equal(r.series(S0 + RATE_WINDOW_S - 1).counts.app[0], 2, 'still in the window');
  assert.equal(r.series(S0 + RATE_WINDOW_S).counts.app.reduce((a, b) => a + b, 0), 0, 'gone from the window');
  // the same bucket, one window later
  r.count(rec('app', T0 + RATE_WINDOW_S * 1000), T0 + RATE_WINDOW_S * 1000);
  assert.deepEqual(r.series(S0 + RATE_WINDOW_S).counts.app.filter((n) => n > 0), [1]);
  // a line from before the window is not counted
  r.count(rec('app', T0 - 1000), T0 - 1000);
  assert.equal(r.series(S0 + RATE_WINDOW_S).counts.app.reduce((a, b) => a + b, 0), 1);
});

test('an app whose lines all came in one second holds no window array; its next second makes one, and the series is the same either way', () => {
  const r = new LineRates();
  for (let i = 0; i < 7; i++) r.count(rec(i < 5 ? 'app' : 'heroku', T0 + i), T0 + i);
  assert.equal(r.memoryBytes, 0, 'no window yet');
  let s = r.series(S0 + 2);
  assert.deepEqual([s.counts.app.slice(-3), s.counts.heroku.slice(-3), s.counts.other.slice(-3)], [[5, 0, 0], [2, 0, 0], [0, 0, 0]]);
  assert.equal(r.series(S0 + RATE_WINDOW_S).counts.app.reduce((a, b) => a + b, 0), 0, 'out of the window later');
  // a line of the next second: the window is made, the first second kept
  r.count(rec('deploy', T0 + 1000), T0 + 1000);
  assert.equal(r.memoryBytes, RATE_WINDOW_S * 3 * 4);
  s = r.series(S0 + 1);
  assert.deepEqual([s.counts.app.slice(-2), s.counts.heroku.slice(-2), s.counts.other.slice(-2)], [[5, 0], [2, 0], [0, 1]]);
  // a late line of the first second, once there is a window
  r.count(rec('app', T0 + 10), T0 + 10);
  assert.deepEqual(r.series(S0 + 1).counts.app.slice(-2), [6, 0]);
  // a line after the whole window went by quiet: the window array goes; the series holds that line alone
  r.count(rec('app', T0 + 1000 + RATE_WINDOW_S * 1000), T0 + 1000 + RATE_WINDOW_S * 1000);
  assert.equal(r.memoryBytes, 0);
  s = r.series(S0 + 1 + RATE_WINDOW_S);
  assert.deepEqual([s.counts.app.reduce((a, b) => a + b, 0), s.counts.app.at(-1), s.counts.other.reduce((a, b) => a + b, 0)], [1, 1, 0]);
  // a late line as the second line ever (no window yet): counted in its own second
  const q = new LineRates();
  q.count(rec('app', T0 + 5000), T0 + 5000);
  q.count(rec('app', T0), T0);
  assert.deepEqual(q.series(S0 + 5).counts.app.slice(-6), [1, 0, 0, 0, 0, 1]);
});

test('windows come from a shared slab: given back after 5 quiet minutes or when the app is deleted, reused zeroed by another app', () => {
  const slab = new RateSlab();
  const a = new LineRates(slab);
  const b = new LineRates(slab);
  a.count(rec('app', T0), T0);
  a.count(rec('app', T0 + 1000), T0 + 1000);
  for (let i = 0; i < 5; i++) a.count(rec('heroku', T0 + 2000), T0 + 2000);
  assert.equal(slab.inUse, 1);
  // a's next line comes after the whole window went by quiet: its window goes back
  const later = T0 + 2000 + RATE_WINDOW_S * 1000;
  a.count(rec('app', later), later);
  assert.equal(slab.inUse, 0);
  // b takes that window: it starts with nothing in it
  b.count(rec('other', T0 + 10_000), T0 + 10_000);
  b.count(rec('other', T0 + 11_000), T0 + 11_000);
  assert.equal(slab.inUse, 1);
  const sb = b.series(S0 + 11);
  assert.deepEqual([sb.counts.app.reduce((x, y) => x + y, 0), sb.counts.heroku.reduce((x, y) => x + y, 0), sb.counts.other.reduce((x, y) => x + y, 0)], [0, 0, 2]);
  // a's series is its own still
  assert.deepEqual(a.series(Math.floor(later / 1000)).counts.app.reduce((x, y) => x + y, 0), 1);
  // b is deleted: its window goes back, and a line routed to it late counts nowhere
  b.clear();
  assert.equal(slab.inUse, 0);
  b.count(rec('app', T0 + 12_000), T0 + 12_000);
  b.count(rec('app', T0 + 13_000), T0 + 13_000);
  assert.equal(slab.inUse, 0);
  assert.equal(b.series(S0 + 13).counts.app.reduce((x, y) => x + y, 0), 0);
  // many apps at once: one block per 256 windows
  const many = Array.from({ length: 600 }, () => new LineRates(slab));
  for (const r of many) {
    r.count(rec('app', T0), T0);
    r.count(rec('app', T0 + 1000), T0 + 1000);
  }
  assert.equal(slab.inUse, 600);
  assert.ok(many.every((r) => r.series(S0 + 1).counts.app.slice(-2).join() === '1,1'));
});

test("an app quiet for the whole window gives its window back at the node's sweep, without a line of its own; its chart stays all zero and it counts again from its next line", async () => {
  const slab = new RateSlab();
  const quiet = new LineRates(slab);
  const busy = new LineRates(slab);
  for (const r of [quiet, busy]) {
    r.count(rec('app', T0), T0);
    r.count(rec('app', T0 + 1000), T0 + 1000);
  }
  assert.equal(slab.inUse, 2);
  const late = T0 + 1000 + (RATE_WINDOW_S - 1) * 1000;
  busy.count(rec('app', late), late);
  // one second short of the whole window: kept (its last line is still on the chart)
  assert.equal(quiet.releaseIfQuiet(Math.floor(late / 1000)), false);
  assert.equal(quiet.series(Math.floor(late / 1000)).counts.app[0], 1);
  const now = Math.floor(late / 1000) + 1;
  assert.equal(quiet.releaseIfQuiet(now), true);
  assert.equal(busy.releaseIfQuiet(now), false);
  assert.equal(slab.inUse, 1);
  assert.equal(quiet.memoryBytes, 0);
  assert.equal(quiet.series(now).counts.app.reduce((x, y) => x + y, 0), 0);
  assert.equal(quiet.releaseIfQuiet(now + 60), false, 'nothing left to give');
  const again = (now + 10) * 1000;
  quiet.count(rec('heroku', again), again);
  quiet.count(rec('heroku', again + 1000), again + 1000);
  assert.equal(slab.inUse, 2);
  assert.deepEqual(quiet.series(now + 11).counts.heroku.slice(-2), [1, 1]);
  assert.equal(quiet.series(now + 11).counts.app.reduce((x, y) => x + y, 0), 0);

  // the registry's sweep over every app (server.ts runs it once a minute)
  const { Registry } = await import('../../src/apps.js');
  const { MemoryStore } = await import('../../src/store/memory.js');
  const reg = new Registry(new MemoryStore(), { historyLines: 10 });
  await reg.init();
  const apps = await Promise.all(['a', 'b', 'c'].map(async (id) => (await reg.putApp(id, ['app'])).app));
  for (const a of apps) {
    a.rates.count(rec('app', T0), T0);
    a.rates.count(rec('app', T0 + 1000), T0 + 1000);
  }
  apps[2]!.rates.count(rec('app', late), late);
  assert.equal(reg.sweepRates(S0 + 100), 0);
  assert.equal(reg.sweepRates(now), 2);
  assert.deepEqual(apps.map((a) => a.rates.memoryBytes > 0), [false, false, true]);
});

test('read() copies the seconds series() shows, with and without a window, and says whether any count is not 0', () => {
  for (const spread of [false, true]) {
    const r = new LineRates();
    assert.equal(r.newest, -1);
    for (let i = 0; i < 3; i++) r.count(rec('app', T0 + 100), T0 + 100);
    r.count(rec('heroku', T0 + 200), T0 + 200);
    if (spread) r.count(rec('deploy', T0 + 2100), T0 + 2100);
    const now = S0 + 2;
    const s = r.series(now);
    const out: number[] = [];
    assert.equal(r.read(S0 - 3, 6, out), true);
    const want: number[] = [];
    for (let sec = S0 - 3; sec < S0 + 3; sec++) {
      const i = sec - s.start;
      want.push(s.counts.app[i] ?? 0, s.counts.heroku[i] ?? 0, s.counts.other[i] ?? 0);
    }
    assert.deepEqual(out, want);
    assert.deepEqual(out.slice(9, 12), [3, 1, 0]);
    assert.equal(r.newest, spread ? S0 + 2 : S0);
    assert.equal(r.read(S0 + 10, 2, out), false);
  }
});
