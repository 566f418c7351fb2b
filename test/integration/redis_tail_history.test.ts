// A tail's `num` history in distributed mode is the app's history as of the
// moment the tail subscribed, even when a burst routed right after it pushes
// those lines out of the shared history before the tail could read it back
// (SPEC 5.3 "Nothing is lost silently", SPEC 14 lp.tail). Regression: the
// tail read its history once subscribed and counted `num` back from there,
// so it sent only the burst, without its history and without a gap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createLogplane, type TailEvent } from '../../src/logplane.js';
import type { Server } from '../../src/server.js';
import { startRedis } from '../support/redis.js';
import { tempDir } from '../support/server.js';
import { until } from '../support/wait.js';

type Logplane = Awaited<ReturnType<typeof createLogplane>>;

/**
 * Two instances on a redis-server of their own, app `app` made on a and 20
 * lines of history (h0..h19) published there and seen by b. close() stops
 * everything.
 */
async function twoNodesWithHistory(app: string, prefix: string, extra: { historyLines?: number } = {}): Promise<{ a: Logplane; b: Logplane; close(): Promise<void> }> {
  const redis = await startRedis();
  const dirs = [tempDir(prefix), tempDir(prefix)];
  const opts = { redis: redis.url, http: false, syslog: false, logger: false, apiKey: 'tail-history-admin-key-0123456789', ...extra } as const;
  const [a0, b0] = await Promise.all(dirs.map((dataDir) => createLogplane({ dataDir, ...opts })));
  const a = a0!;
  const b = b0!;
  const close = async (): Promise<void> => {
    await a.close();
    await b.close();
    await redis.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    await a.apps.create(app, { tokens: ['app'] });
    await until('the app reaches the other node', async () => (await b.apps.get(app)) !== null, 10_000);
    for (let i = 0; i < 20; i++) a.publish(app, { source: 'app', dyno: 'web.1', msg: `h${i}` });
    await until('the history is shared', async () => (await b.history(app, { num: 300 })).length === 20, 10_000);
  } catch (err) {
    await close();
    throw err;
  }
  return { a, b, close };
}

test('redis tail num: the history as of subscribing, then every burst line of both nodes in seq order, no gap', { timeout: 60_000 }, async () => {
  // a short history, so the first burst trims the shared history at once (the
  // second stays within it: a follower's catch-up read still finds its lines)
  const { a, b, close } = await twoNodesWithHistory('hist', 'logplane-tailhist-', { historyLines: 300 });
  try {
    const events: TailEvent[] = [];
    const tail = b.tail('hist', { num: 5 });
    const reading = (async () => {
      for await (const ev of tail) events.push(ev);
    })();
    // right after subscribing, in the same tick: more lines than the history holds
    for (let i = 0; i < 400; i++) b.publish('hist', { source: 'app', dyno: 'web.2', msg: `b${i}` });
    await until('the history arrived', () => events.length > 0, 10_000, 5);
    // a learns that the app is listened to (its next appends carry their lines to b's follower)
    a.publish('hist', { source: 'app', dyno: 'web.1', msg: 'a-warm' });
    await until('the tail hears a', () => events.some((e) => e.type === 'line' && e.msg === 'a-warm'), 10_000, 5);
    // then both nodes at once, their seqs interleaved
    for (let i = 400; i < 550; i++) {
      a.publish('hist', { source: 'app', dyno: 'web.1', msg: `a${i}` });
      b.publish('hist', { source: 'app', dyno: 'web.2', msg: `b${i}` });
    }
    const has = (msg: string): boolean => events.some((e) => e.type === 'line' && e.msg === msg);
    await until('the last lines of both nodes', () => has('a549') && has('b549'), 20_000);
    await new Promise((r) => setTimeout(r, 300)); // nothing more (no duplicate, no late gap)
    tail.close();
    await reading;

    const gaps = events.filter((e) => e.type === 'gap');
    assert.deepEqual(gaps, [], 'no gap: nothing was lost');
    const lines = events.flatMap((e) => (e.type === 'line' ? [e] : []));
    assert.deepEqual(lines.slice(0, 5).map((l) => l.msg), ['h15', 'h16', 'h17', 'h18', 'h19'], 'the 5 lines of history when the tail opened');
    const burst = lines.slice(5).map((l) => l.msg);
    assert.equal(burst.length, 701, 'every burst line, once');
    assert.equal(new Set(burst).size, 701);
    for (let k = 1; k < lines.length; k++) assert.ok(lines[k]!.seq > lines[k - 1]!.seq, `seq order at ${k}`);
    const want1 = [...Array.from({ length: 550 }, (_, i) => `b${i}`), ...Array.from({ length: 150 }, (_, i) => `a${i + 400}`), 'a-warm'].sort();
    assert.deepEqual([...burst].sort(), want1);
    assert.deepEqual(burst.filter((m) => m.startsWith('b')), Array.from({ length: 550 }, (_, i) => `b${i}`));
  } finally {
    await close();
  }
});

// Regression: when the catch-up read (the other nodes' lines appended between
// a starting tail's history and its confirmed subscription) failed, the tail
// carried on without those lines and without a gap.
test('redis tail num: a catch-up read that fails is a gap between the history and the live lines', { timeout: 60_000 }, async () => {
  const { a, b, close } = await twoNodesWithHistory('gap', 'logplane-tailgap-');
  try {
    // b's catch-up read fails (as when Redis goes away between the two reads)
    const history = (b as unknown as { server: Server }).server.history;
    const readSplit = history.readSplit!.bind(history);
    let failed = 0;
    history.readSplit = (app) => {
      const split = readSplit(app);
      return {
        ...split,
        after: () => {
          failed++;
          split.cancel();
          return Promise.reject(new Error('Connection is closed.'));
        },
      };
    };

    const events: TailEvent[] = [];
    const tail = b.tail('gap', { num: 5 });
    const reading = (async () => {
      for await (const ev of tail) events.push(ev);
    })();
    // a's lines appended before it learns that b listens: only the catch-up read would find them
    for (let i = 0; i < 10; i++) a.publish('gap', { source: 'app', dyno: 'web.1', msg: `mid${i}` });
    await until('the history arrived', () => events.length > 0, 10_000, 5);
    a.publish('gap', { source: 'app', dyno: 'web.1', msg: 'a-warm' });
    await until('the tail hears a', () => events.some((e) => e.type === 'line' && e.msg === 'a-warm'), 10_000, 5);
    tail.close();
    await reading;

    assert.equal(failed, 1, 'the catch-up read was made, and failed');
    const lines = events.flatMap((e) => (e.type === 'line' ? [e] : []));
    assert.deepEqual(lines.slice(0, 5).map((l) => l.msg), ['h15', 'h16', 'h17', 'h18', 'h19'], 'the history');
    const gaps = events.flatMap((e) => (e.type === 'gap' ? [e] : []));
    assert.equal(gaps.length, 1, 'one gap: what the failed read would have found');
    const gap = gaps[0]!;
    assert.ok(gap.dropped >= 1);
    // right after the history, before any line after it
    const at = events.indexOf(gap);
    assert.deepEqual(events.slice(0, at).filter((e) => e.type === 'line').length, 5, 'the gap follows the history');
    assert.ok(gap.from > lines[4]!.seq, 'the gap starts after the last history line');
    const next = lines[5];
    assert.ok(next !== undefined && gap.to < next.seq, 'and ends before the first line after it');
  } finally {
    await close();
  }
});
