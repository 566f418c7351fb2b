// Following an app's stream across a resubscription and own-line accounting,
// driven without Redis: a stand-in subscriber connection (events and a PING
// whose reply the test releases) and a stand-in history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { LineBus } from '../../src/cluster/bus.js';
import { StreamFollower, type FollowTarget } from '../../src/cluster/follow.js';
import type { RedisHistory } from '../../src/cluster/history.js';
import type { HistoryRead } from '../../src/cluster/history-read.js';
import { OwnOrdinals } from '../../src/cluster/own-ordinals.js';
import { makeHeader, ordinalMessage } from '../../src/cluster/batch.js';
import { appChannel } from '../../src/redis/keys.js';
import { Child } from '../../src/obs/metrics.js';
import { silentLog } from '../../src/obs/log.js';

/** A subscriber connection: 'ready' and messages when the test says, PING replies released by the test. */
class FakeSub extends EventEmitter {
  status = 'ready';
  #pings: Array<() => void> = [];
  subscribe(): Promise<number> {
    return Promise.resolve(1);
  }
  unsubscribe(): Promise<number> {
    return Promise.resolve(0);
  }
  ping(): Promise<string> {
    return new Promise((res) => this.#pings.push(() => res('PONG')));
  }
  /** Reply to the PINGs sent so far. */
  pong(): void {
    for (const f of this.#pings.splice(0)) f();
  }
  get pingsSent(): number {
    return this.#pings.length;
  }
  publish(appId: string, first: number, origin: number, recs: Buffer[]): void {
    const channel = Buffer.from(appChannel(appId), 'latin1');
    this.emit('messageBuffer', channel, ordinalMessage(origin, first));
    this.emit('messageBuffer', channel, Buffer.concat([makeHeader(origin, recs), ...recs]));
  }
}

/** An app's stream held in memory: ordinals 1..records.length, the first `trimmed` gone. */
function fakeHistory(records: Buffer[], trimmed = 0): RedisHistory {
  const h = {
    follow() {},
    unfollow() {},
    ownAmong: () => 0,
    isOwn: () => false,
    epochOf: () => 0,
    sawEpoch() {},
    async read(_app: string, from = 0): Promise<HistoryRead> {
      const first = Math.max(from, trimmed + 1);
      return { total: records.length, trimmed, trimmedNotices: [], trimmedSeq: 0, first, records: records.slice(first - 1), epoch: 0, rewindBase: 0, rewindTop: 0 };
    },
  };
  return h as unknown as RedisHistory;
}

function recorder(): { target: FollowTarget; got: string[]; lost: number[] } {
  const got: string[] = [];
  const lost: number[] = [];
  const target: FollowTarget = {
    lines(recs, from) {
      for (let i = from; i < recs.length; i++) got.push(recs[i]!.toString());
    },
    lost: (n) => lost.push(n),
    ownLost: () => 0,
  };
  return { target, got, lost };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), what);
}

test('batches that arrive between a reconnect and its resubscription do not make a new follower skip the lines before them', async () => {
  const stream = ['l1', 'l2', 'l3', 'l4', 'l5', 'l6'].map((s) => Buffer.from(s));
  const sub = new FakeSub();
  const bus = new LineBus(sub as unknown as Redis, silentLog(), new Child(), new Child());
  const r = recorder();
  // a tail started while Redis was away: its follower has no position yet
  const f = new StreamFollower('app', fakeHistory(stream), r.target, silentLog());
  try {
    sub.status = 'reconnecting';
    await bus.watch('app', f);
    // back: ioredis says 'ready', resubscribes, and a batch (ordinals 5, 6) comes before the PING reply
    sub.status = 'ready';
    sub.emit('ready');
    await until('PING sent after the resubscription', () => sub.pingsSent === 1);
    sub.publish('app', 5, 2, stream.slice(4));
    sub.pong();
    await until('follower live at the end of the stream', () => f.live && f.last === 6);
    assert.deepEqual(r.got, ['l1', 'l2', 'l3', 'l4', 'l5', 'l6'], 'every line of the stream, once, in order');
    assert.deepEqual(r.lost, []);
    // later batches go straight through
    sub.publish('app', 7, 2, [Buffer.from('l7')]);
    assert.deepEqual(r.got.slice(6), ['l7']);
  } finally {
    f.close();
    bus.close();
  }
});

test("a node's own lines trimmed before a long-disconnected follower read them are never counted as lost for its tails", () => {
  // 200 lines of history + 300 queued: the bound of own ordinals with seqs
  const own = new OwnOrdinals(500);
  const reader = { last: 100 };
  own.follow('app', reader);
  // the reader's subscription stays away while this node writes 1,000 lines in chunks of 10
  for (let total = 110; total <= 1100; total += 10) {
    const recs = Array.from({ length: 10 }, () => Buffer.alloc(16));
    own.wrote('app', recs, total);
  }
  // its catch-up finds ordinals 101..900 trimmed: all of them this node's
  let visited = 0;
  const n = own.among('app', 101, 900, () => visited++);
  assert.equal(n, 800, 'every trimmed ordinal is known as our own');
  assert.equal(visited, 800);
  assert.equal(own.isOwn('app', 101), true);
});

test('a resubscription while a catch-up read is under way makes the follower read again: a batch missed meanwhile is not left unread once the stream goes quiet', async () => {
  const stream = ['l1', 'l2', 'l3', 'l4', 'l5'].map((s) => Buffer.from(s));
  // the history's reads wait until the test releases them; each sees the stream as it is when released
  let visible = 2;
  const waiting: Array<() => void> = [];
  const history = {
    follow() {},
    unfollow() {},
    ownAmong: () => 0,
    isOwn: () => false,
    epochOf: () => 0,
    sawEpoch() {},
    read(_app: string, from = 0): Promise<HistoryRead> {
      return new Promise((res) =>
        waiting.push(() => {
          const first = Math.max(from, 1);
          res({ total: visible, trimmed: 0, trimmedNotices: [], trimmedSeq: 0, first, records: stream.slice(first - 1, visible), epoch: 0, rewindBase: 0, rewindTop: 0 });
        }),
      );
    },
  } as unknown as RedisHistory;
  const sub = new FakeSub();
  const bus = new LineBus(sub as unknown as Redis, silentLog(), new Child(), new Child());
  const r = recorder();
  const f = new StreamFollower('app', history, r.target, silentLog());
  try {
    await bus.watch('app', f);
    sub.publish('app', 1, 2, stream.slice(0, 1));
    // ordinal 3 comes while 2 was missed: the follower starts reading the history
    sub.publish('app', 3, 2, stream.slice(2, 3));
    await until('a catch-up read is under way', () => waiting.length === 1);
    // the subscription drops and comes back while that read is under way; 4 and 5 were published meanwhile
    sub.emit('ready');
    await until('PING sent', () => sub.pingsSent === 1);
    sub.pong();
    await new Promise((res) => setImmediate(res));
    // the read under way had seen the stream only up to ordinal 2 (then 3 was held)
    waiting.shift()!();
    visible = 5;
    // nothing more is published: the follower must still reach the end of the stream
    await until('a second read', () => waiting.length === 1);
    waiting.shift()!();
    await until('follower live at the end of the stream', () => f.live && f.last === 5);
    assert.deepEqual(r.got, ['l1', 'l2', 'l3', 'l4', 'l5'], 'every line of the stream, once, in order');
    assert.deepEqual(r.lost, []);
  } finally {
    f.close();
    bus.close();
  }
});
