// A stream follower's loss count after a catch-up, against a real Redis: when
// the history was trimmed before the follower read it, the lines of other
// nodes are lost (reported with their exact number) but this node's own lines
// are lost only for a target that did not already get them directly.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisHistory } from '../../src/cluster/history.js';
import { StreamFollower, type FollowTarget } from '../../src/cluster/follow.js';
import { closeClient, commandClient, connectOrThrow } from '../../src/redis/connection.js';
import { defineScripts } from '../../src/redis/scripts.js';
import { appConfig } from '../../src/redis/keys.js';
import { NODE_SLOTS } from '../../src/basics/seq.js';
import { lineFrom, seqOf } from '../../src/line.js';
import { Registry } from '../../src/obs/metrics.js';
import { silentLog } from '../../src/obs/log.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { until } from '../support/wait.js';


const HISTORY = 100;
const OWN = 1;
const OTHER = 2;

interface Writer {
  cmd: Redis;
  history: RedisHistory;
}

describe('stream follower: loss after the history was trimmed', () => {
  let redis: TestRedis;
  const writers: Writer[] = [];

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const w of writers) {
      w.history.close();
      await closeClient(w.cmd);
    }
    await redis?.close();
  });

  async function writer(origin: number, maxPendingLines = 10_000): Promise<Writer> {
    const cmd = commandClient(redis.url, `test-${origin}`);
    cmd.on('error', () => {});
    defineScripts(cmd);
    await connectOrThrow(cmd, 5000);
    // the apps exist (an append to an app without its record is discarded: redis/scripts.ts, APP_GONE)
    for (const app of ['mixed', 'partly-direct', 'noticed']) await cmd.set(appConfig(app), '{}');
    const history = new RedisHistory(cmd, { historyLines: HISTORY, maxPendingLines, chunkLines: 1000, pipelineLines: 50_000, origin: () => origin, nodeId: `follow-loss-${origin}`, log: silentLog(), metrics: new Registry() });
    const w = { cmd, history };
    writers.push(w);
    return w;
  }

  /** Offer lines k in [from, to) stamped by node `origin` (seq k * 256 + origin). */
  function offer(w: Writer, app: string, origin: number, from: number, to: number): void {
    const sink = w.history.sink(app);
    for (let k = from; k < to; k++) sink.offer(lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `k${k}`, seq: k * NODE_SLOTS + origin }));
  }

  /** The same, written and acknowledged. */
  async function write(w: Writer, app: string, origin: number, from: number, to: number): Promise<void> {
    offer(w, app, origin, from, to);
    assert.equal(await w.history.flush(5000), true);
  }

  /** A follower of app from its empty start that keeps what it is handed and the loss it is told of. */
  async function follow(app: string, history: RedisHistory, ownLost: (seq: number) => number): Promise<{ follower: StreamFollower; seqs: number[]; lost: () => number }> {
    let lost = 0;
    const seqs: number[] = [];
    const target: FollowTarget = {
      lines(recs, from) {
        for (let i = from; i < recs.length; i++) seqs.push(seqOf(recs[i]!));
      },
      lost(n) {
        lost += n;
      },
      ownLost,
    };
    const follower = new StreamFollower(app, history, target, silentLog());
    await follower.startAfter(0, Date.now());
    return { follower, seqs, lost: () => lost };
  }

  /**
   * Follow an app from its empty start, then write 150 lines of ours, 60 of
   * another node and 50 more of ours with the follower hearing nothing (its
   * subscription is down), then let it catch up: with 100 lines kept,
   * ordinals 1..160 are gone, 150 of them ours and 10 the other node's.
   */
  async function scenario(app: string, ownLost: (seq: number) => number): Promise<{ lost: number; seqs: number[] }> {
    const own = await writer(OWN);
    const other = await writer(OTHER);
    const { follower, seqs, lost } = await follow(app, own.history, ownLost);
    await write(own, app, OWN, 1, 151);
    await write(other, app, OTHER, 151, 211);
    await write(own, app, OWN, 211, 261);
    follower.onResubscribed();
    await until('caught up', () => follower.live && follower.last === 260, 10_000);
    follower.close();
    return { lost: lost(), seqs };
  }

  test('a catch-up reports exactly the trimmed lines of other nodes, and none of ours the target already had', async () => {
    const { lost, seqs } = await scenario('mixed', () => 0);
    assert.equal(lost, 10, 'the other node\'s 10 trimmed lines, not our 150');
    const expected = [...Array.from({ length: 50 }, (_, i) => (161 + i) * NODE_SLOTS + OTHER), ...Array.from({ length: 50 }, (_, i) => (211 + i) * NODE_SLOTS + OWN)];
    assert.deepEqual(seqs, expected, 'the 100 lines still held, in order');
  });

  test('our own trimmed lines a target did not get are reported as lost, exactly', async () => {
    // as a drain that got only our first 100 lines directly
    const { lost } = await scenario('partly-direct', (seq) => (seq >= 0 && Math.floor(seq / NODE_SLOTS) <= 100 ? 0 : 1));
    assert.equal(lost, 10 + 50, 'the other node\'s 10 and our 50 the target never had');
  });

  test("another node's loss notice trimmed before the catch-up read it counts the lines it announced", async () => {
    const app = 'noticed';
    const own = await writer(OWN);
    const other = await writer(OTHER, 50); // queues at most 50 lines while Redis is away
    const { follower, seqs, lost } = await follow(app, own.history, () => 0);
    // the other node loses Redis with 150 lines to write: 100 dropped, 50 kept
    other.cmd.disconnect();
    await until('other down', () => !other.history.up);
    offer(other, app, OTHER, 1, 151);
    await until('other queue bounded', () => other.history.pendingLines === 50);
    // back: its loss notice (100 lines) is ordinal 1, its 50 lines 2..51; then 100 of ours trim all of that
    await other.cmd.connect();
    assert.equal(await other.history.flush(5000), true);
    await write(own, app, OWN, 151, 251);
    follower.onResubscribed();
    await until('caught up', () => follower.live && follower.last === 151, 10_000);
    follower.close();
    assert.equal(lost(), 150, 'the 100 lines the other node never wrote and its 50 trimmed');
    assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => (151 + i) * NODE_SLOTS + OWN));
  });
});
