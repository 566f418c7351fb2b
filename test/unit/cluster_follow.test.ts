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

/** A record whose seq field is seq (what the follower compares), then its text. */
function rec(seq: number, text: string): Buffer {
  const b = Buffer.alloc(8 + text.length);
  b.writeDoubleLE(seq, 0);
  b.write(text, 8, 'latin1');
  return b;
}

/** An app's stream in Redis as the test sets it: records of ordinals 1..n, of an epoch that began after base (top: the last ordinal of the one before). */
class EpochHistory {
  records: Buffer[] = [];
  epoch = 0;
  base = 0;
  top = 0;
  floor: { epoch: number; total: number } = { epoch: 0, total: 0 };
  follow(): void {}
  unfollow(): void {}
  ownAmong(): number {
    return 0;
  }
  isOwn(): boolean {
    return false;
  }
  sawEpoch(_app: string, epoch: number, total: number): void {
    if (epoch > this.floor.epoch || (epoch === this.floor.epoch && total > this.floor.total)) this.floor = { epoch, total };
  }
  async read(_app: string, from = 0): Promise<HistoryRead> {
    const first = Math.max(from, 1);
    return { total: this.records.length, trimmed: 0, trimmedNotices: [], trimmedSeq: 0, first, records: this.records.slice(first - 1), epoch: this.epoch, rewindBase: this.base, rewindTop: this.top };
  }
}

function textRecorder(): { target: FollowTarget; got: string[]; lost: number[]; rebased: Array<[number, number | null]> } {
  const got: string[] = [];
  const lost: number[] = [];
  const rebased: Array<[number, number | null]> = [];
  const target: FollowTarget = {
    lines(recs, from) {
      for (let i = from; i < recs.length; i++) got.push(recs[i]!.toString('latin1', 8));
    },
    lost: (n) => lost.push(n),
    ownLost: () => 0,
    rebased: (epoch, base) => rebased.push([epoch, base]),
  };
  return { target, got, lost, rebased };
}

const E1 = 1_714_000_000_000_000;
const E2 = E1 + 5_000_000;
const old = Array.from({ length: 150 }, (_, i) => rec(1000 + i, `old-${i + 1}`));
const fresh = Array.from({ length: 20 }, (_, i) => rec(5000 + i, `new-${i + 1}`));
const texts = (recs: Buffer[]): string[] => recs.map((r) => r.toString('latin1', 8));

/** A follower of a history holding `old` (of epoch `epoch`, none when null), with a recorder of what it hands on. */
function epochFollower(epoch: number | null): { h: EpochHistory; r: ReturnType<typeof textRecorder>; f: StreamFollower } {
  const h = new EpochHistory();
  h.records = old.slice();
  if (epoch !== null) h.epoch = epoch;
  const r = textRecorder();
  return { h, r, f: new StreamFollower('app', h as unknown as RedisHistory, r.target, silentLog()) };
}

test('a stream Redis rewound (a new epoch begins at an ordinal the follower passed): the new lines are handed, not skipped as a re-send; what the follower never got of the lost ones is reported lost', async () => {
  const { h, r, f } = epochFollower(E1);
  try {
    f.onBatch(old.slice(0, 120), 1, 1, E1);
    assert.equal(f.last, 120);
    assert.equal(f.epoch, E1);
    // Redis lost ordinals 51..150 (a failover to a replica that lagged); the follower had 1..120; an append began epoch E2 after 50
    h.records = [...old.slice(0, 50), ...fresh];
    h.epoch = E2;
    h.base = 50;
    h.top = 150;
    f.onBatch(fresh.slice(0, 10), 51, 2, E2);
    await until('caught up', () => f.live && r.got.length === 140);
    // the next batch of the new epoch, and a re-send of one already handed: each line once
    f.onBatch(fresh.slice(10, 20), 61, 2);
    f.onBatch(fresh.slice(5, 10), 56, 2);
    assert.deepEqual(r.got, [...texts(old.slice(0, 120)), ...texts(fresh)]);
    assert.deepEqual(r.lost, [30], 'ordinals 121..150 of the epoch before: never got, gone');
    assert.deepEqual(r.rebased.at(-1), [E2, 50]);
    assert.equal(f.epoch, E2);
    assert.equal(f.last, 70);
  } finally {
    f.close();
  }
});

test('a follower that never learned its epoch catches up after a rewind: the record at its last ordinal is not the one it handed, so it re-bases; when it is, it only adopts the epoch', async () => {
  for (const rewound of [true, false]) {
    const { h, r, f } = epochFollower(null);
    try {
      f.onBatch(old.slice(0, 150), 1, 1);
      assert.equal(f.epoch, 0);
      if (rewound) {
        // the subscription was down across the failover: no epoch message came, the catch-up reads the new epoch
        h.records = [...old.slice(0, 50), ...fresh];
        h.base = 50;
        h.top = 150;
      } else {
        // an app written before epochs: its first append of this release began one, after 150, losing nothing
        h.records = [...old, ...fresh];
        h.base = 150;
        h.top = 150;
      }
      h.epoch = E2;
      f.onResubscribed();
      await until('caught up', () => f.live && r.got.length === 170);
      await new Promise((res) => setTimeout(res, 10));
      assert.deepEqual(r.got, [...texts(old), ...texts(fresh)], rewound ? 'the new lines after the ones handed' : 'no line twice');
      assert.deepEqual(r.lost, [], 'the follower had every line the history lost');
      assert.deepEqual(r.rebased, [[E2, rewound ? 50 : null]]);
      assert.equal(f.last, rewound ? 70 : 170);
    } finally {
      f.close();
    }
  }
});

test('a follower whose stream went back before any append began a new epoch keeps its place and makes the floor the node sends with its appends', async () => {
  const { h, r, f } = epochFollower(E1);
  try {
    f.onBatch(old.slice(0, 150), 1, 1, E1);
    h.records = old.slice(0, 50);
    f.onResubscribed();
    await until('caught up', () => f.live);
    assert.equal(f.last, 150);
    assert.deepEqual(h.floor, { epoch: E1, total: 150 }, "this node's next append finds the total below 150 in E1 and begins a new epoch");
    assert.deepEqual(r.lost, []);
  } finally {
    f.close();
  }
});
