// A distributed-mode tail while it starts (tail.ts startFrom, service.ts
// open): every line of another node it should have had is delivered or
// counted in a gap (SPEC 5.3 "Nothing is lost silently"), with a fake app,
// sink, hub order and history source; no Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../src/apps.js';
import type { Context } from '../../src/context.js';
import type { HistorySource, HistorySplit, HistoryView as SourceView } from '../../src/history/source.js';
import { lineFrom, seqOf } from '../../src/line.js';
import { LineFilter } from '../../src/line-filter.js';
import { Registry as MetricRegistry } from '../../src/obs/metrics.js';
import type { Gap } from '../../src/tail/encode.js';
import { TailHub } from '../../src/tail/hub.js';
import { TailService, type TailCluster } from '../../src/tail/service.js';
import { Session, type SessionSpec } from '../../src/tail/session.js';
import { Tail, type TailSink } from '../../src/tail/tail.js';
import { estimateMissing, type StartHistory } from '../../src/tail/start.js';
import { SEQ_EPOCH_MS, SEQ_PER_MS } from '../../src/basics/seq.js';

const NOW = 1_700_000_000_000;
const clock = { now: () => NOW };

function rec(seq: number, msg = `m${seq}`): Buffer {
  return lineFrom({ pri: 190, ts: '2024-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg, seq, receivedMs: NOW });
}

function fakeApp(): App {
  return { id: 'app1', seq: 0, addSink() {}, removeSink() {}, restoreSeq() {} } as unknown as App;
}

type Ev = { type: 'line'; seq: number } | ({ type: 'gap' } & Gap) | { type: 'hello' } | { type: 'finish' };

function recordingSink(events: Ev[]): TailSink {
  return {
    transport: 'lib',
    buffered: () => 0,
    onDrain() {},
    hello: () => events.push({ type: 'hello' }),
    writeLines(recs, from, to) {
      for (let i = from; i < to; i++) events.push({ type: 'line', seq: seqOf(recs[i]!) });
    },
    writeGap: (gap) => events.push({ type: 'gap', ...gap }),
    finish: () => events.push({ type: 'finish' }),
    close() {},
  };
}

function spec(over: Partial<SessionSpec> = {}): SessionSpec {
  return { app: 'app1', num: 100, tail: true, source: null, dyno: null, grep: null, after: null, ...over };
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function startingTail(over: Partial<SessionSpec> = {}, after: number | null = null): { tail: Tail; hub: TailHub; events: Ev[]; history: ReturnType<typeof deferred<StartHistory>> } {
  const app = fakeApp();
  const events: Ev[] = [];
  const s = spec(over);
  const tail = new Tail(new Session('s1', s, NOW), app, recordingSink(events), new LineFilter(s), { queueLines: 100, maxBufferedBytes: 1 << 20, clock });
  const hub = new TailHub(app); // no ordering: every line counts as settled
  const history = deferred<StartHistory>();
  tail.startFrom(hub, after, history.promise);
  return { tail, hub, events, history };
}

test('a loss reported while the tail starts, past what its catch-up read covered, is a gap with its exact count', async () => {
  const { tail, hub, events, history } = startingTail();
  // the stream follower reports lines of another node it cannot deliver: 3 at ordinal 50 (after the catch-up read's 30)
  hub.reportLoss(3, NOW - 5, 50);
  tail.deliver([rec(700)], 1);
  history.resolve({ lines: [rec(100), rec(200)], trimmedSeq: 0, complete: true, through: 20, newer: { lines: [rec(300)], lost: 0, since: NOW, through: 30, complete: true } });
  await tick();
  tail.close();
  assert.deepEqual(events, [
    { type: 'hello' },
    { type: 'line', seq: 100 },
    { type: 'line', seq: 200 },
    { type: 'gap', dropped: 3, since: NOW - 5, from: 201, to: 299 },
    { type: 'line', seq: 300 },
    { type: 'line', seq: 700 },
  ]);
  assert.equal(tail.lateTotal, 3);
});

test('a loss reported while the tail starts that its catch-up read already counted is counted once', async () => {
  const { tail, hub, events, history } = startingTail();
  // ordinal 25: within (20, 30], which the catch-up read covered and counted (lost: 2)
  hub.reportLoss(2, NOW - 5, 25);
  // ordinal 15: before the view's newest record, covered by the history itself
  hub.reportLoss(4, NOW - 9, 15);
  history.resolve({ lines: [rec(100)], trimmedSeq: 0, complete: true, through: 20, newer: { lines: [rec(300)], lost: 2, since: NOW, through: 30, complete: true } });
  await tick();
  // once started, a loss goes out at once
  hub.reportLoss(1, NOW, 40);
  tail.close();
  assert.deepEqual(events, [
    { type: 'hello' },
    { type: 'line', seq: 100 },
    { type: 'gap', dropped: 2, since: NOW, from: 101, to: 299 },
    { type: 'line', seq: 300 },
    { type: 'gap', dropped: 1, since: NOW, from: 301, to: 301 },
  ]);
});

test('a failed catch-up read is a gap between the history and the live lines, its count estimated from the history', async () => {
  const { tail, events, history } = startingTail();
  tail.deliver([rec(100)], 1);
  const lines = [rec(10), rec(20), rec(30), rec(40)];
  history.resolve({ lines, trimmedSeq: 0, complete: true, through: 4, newer: { lines: [], lost: 0, since: NOW - 1, through: 4, complete: false } });
  await tick();
  tail.close();
  const dropped = estimateMissing(lines, 40, 100);
  assert.equal(dropped, 6, 'one line per 10 seqs over 41..99');
  assert.deepEqual(events, [
    { type: 'hello' },
    { type: 'line', seq: 10 },
    { type: 'line', seq: 20 },
    { type: 'line', seq: 30 },
    { type: 'line', seq: 40 },
    { type: 'gap', dropped, since: NOW - 1, from: 41, to: 99 },
    { type: 'line', seq: 100 },
  ]);
});

test('a failed catch-up read with no line after the history yet is a gap of at least one line', async () => {
  const { tail, events, history } = startingTail();
  history.resolve({ lines: [rec(10)], trimmedSeq: 0, complete: true, through: 1, newer: { lines: [], lost: 0, since: NOW, through: 1, complete: false } });
  await tick();
  tail.close();
  assert.deepEqual(events, [{ type: 'hello' }, { type: 'line', seq: 10 }, { type: 'gap', dropped: 1, since: NOW, from: 11, to: 11 }]);
});

test('tail service: when the catch-up read fails, the tail says so with a gap (was: carried on without those lines)', async () => {
  const app = fakeApp();
  const ctx = {
    config: { tailQueueLines: 100 },
    log: { error() {}, warn() {}, info() {} },
    metrics: { registry: new MetricRegistry() },
    registry: { on() {}, get: () => app },
  } as unknown as Context;
  const cluster: TailCluster = {
    order: { bound: () => Infinity, windowMs: 4 },
    watch: () => Promise.resolve(),
    unwatch() {},
    sessionCreated: () => Promise.resolve(),
    sessionTouched() {},
    findSession: () => Promise.resolve(null),
    sessionsEnded() {},
  };
  let afterCalls = 0;
  const view: SourceView = { lines: [rec(10), rec(20)], trimmedSeq: 0, complete: true, through: 2 };
  const history: HistorySource = {
    local: false,
    read: () => Promise.resolve(view),
    readSplit(): HistorySplit {
      return {
        view: Promise.resolve(view),
        after: () => {
          afterCalls++;
          return Promise.reject(new Error('Connection is closed.'));
        },
        cancel() {},
      };
    },
  };
  const service = new TailService(ctx, { history, cluster }, { clock });
  try {
    const events: Ev[] = [];
    const s = spec();
    const tail = service.open(new Session('s2', s, NOW), app, recordingSink(events), null);
    for (let i = 0; i < 5 && !events.some((e) => e.type === 'gap'); i++) await tick();
    tail.close();
    assert.equal(afterCalls, 1);
    assert.deepEqual(events, [
      { type: 'hello' },
      { type: 'line', seq: 10 },
      { type: 'line', seq: 20 },
      { type: 'gap', dropped: 1, since: NOW, from: 21, to: 21 },
    ]);
  } finally {
    await service.close();
  }
});

// distributed seqs: (ms since the seq epoch) x SEQ_PER_MS + node; `ms` relative to a moment well past the epoch
const T0 = SEQ_EPOCH_MS + 1_000_000_000;
const seqAt = (ms: number, node: number): number => (T0 + ms - SEQ_EPOCH_MS) * SEQ_PER_MS + node;

test('a live-only tail (num 0) whose catch-up read fails: the gap is estimated from the history\'s newest line on, not from seq 0', async () => {
  const { tail, events, history } = startingTail({ num: 0 });
  // the history: 10 lines of node 1, one a second, the newest 11 s before the first live line
  const lines = Array.from({ length: 10 }, (_, i) => rec(seqAt(-20_000 + i * 1000, 1)));
  tail.deliver([rec(seqAt(0, 2))], 1);
  history.resolve({ lines, trimmedSeq: 0, complete: true, through: 10, newer: { lines: [], lost: 0, since: NOW, through: 10, complete: false } });
  await tick();
  tail.close();
  const gap = events.find((e) => e.type === 'gap') as Gap | undefined;
  assert.ok(gap, JSON.stringify(events));
  // ~1 line a second over the ~11 s between the history's newest line and the live line (was ~2e14 seqs' worth)
  assert.ok(gap.dropped >= 1 && gap.dropped <= 20, `dropped ${gap.dropped}`);
  assert.equal(gap.from, seqOf(lines[9]!) + 1);
});

test('a resumed tail (after=X): a catch-up line at or below X is not sent, and counted as a line that came too late (was: not counted)', async () => {
  const X = seqAt(-5_000, 1);
  const { tail, events, history } = startingTail({ num: 0 }, X);
  const lines = [rec(seqAt(-8_000, 1)), rec(X), rec(seqAt(-4_000, 1))];
  // node 2's line stamped before X, appended to Redis only after the view was read (after the line of X: the reader never had it)
  const late = rec(seqAt(-6_000, 2));
  const fresh = rec(seqAt(-3_000, 2));
  history.resolve({ lines, trimmedSeq: 0, complete: true, through: 3, newer: { lines: [late, fresh], lost: 0, since: NOW, through: 5, complete: true } });
  await tick();
  // and node 3's, stamped before X, arriving live: the live path's count
  const live = rec(seqAt(-5_500, 3));
  tail.deliver([live], 1);
  tail.close();
  assert.deepEqual(events.slice(1), [
    { type: 'line', seq: seqOf(lines[2]!) },
    { type: 'gap', dropped: 1, since: NOW, from: seqOf(late), to: seqOf(late) },
    { type: 'line', seq: seqOf(fresh) },
    { type: 'gap', dropped: 1, since: NOW, from: seqOf(live), to: seqOf(live) },
  ]);
  assert.equal(tail.lateTotal, 2);
});

test('a loss reported after the start for an ordinal the catch-up read already counted is not counted again', async () => {
  const { tail, hub, events, history } = startingTail();
  history.resolve({ lines: [rec(seqAt(-1000, 1))], trimmedSeq: 0, complete: true, through: 20, newer: { lines: [], lost: 2, since: NOW, through: 30, complete: true } });
  await tick();
  // the follower's report for ordinal 25 arrives after the start (pub/sub raced the catch-up read's reply): counted by that read
  hub.reportLoss(2, NOW, 25);
  // one past what the read covered: a loss of its own
  hub.reportLoss(3, NOW, 31);
  tail.close();
  assert.equal(tail.lateTotal, 5);
  assert.deepEqual(events.filter((e) => e.type === 'gap').map((e) => (e as Gap).dropped), [2, 3]);
});

test('loss notices in the history: a gap at each one\'s place with its count, also among lines that came after the history; none before the window', async () => {
  const { tail, events, history } = startingTail({ num: 3 });
  history.resolve({
    lines: [rec(100), rec(200), rec(300), rec(400)],
    trimmedSeq: 0,
    complete: true,
    through: 4,
    // before 200 (the window's first line: older than every line asked for), before 400, after 400
    losses: [{ at: 1, n: 9, since: NOW - 50 }, { at: 3, n: 2, since: NOW - 40 }, { at: 4, n: 1, since: NOW - 30 }],
    newer: { lines: [rec(350)], lost: 0, since: NOW, through: 5, complete: true },
  });
  await tick();
  tail.close();
  // from = to = the seq after the line sent before the gap, as the live path reports a notice
  assert.deepEqual(events, [
    { type: 'hello' },
    { type: 'line', seq: 200 },
    { type: 'line', seq: 300 },
    { type: 'line', seq: 350 },
    { type: 'gap', dropped: 2, since: NOW - 40, from: 351, to: 351 },
    { type: 'line', seq: 400 },
    { type: 'gap', dropped: 1, since: NOW - 30, from: 401, to: 401 },
  ]);
});

test('loss notices in the history of a session without tail', async () => {
  const { tail, events, history } = startingTail({ num: 2, tail: false });
  history.resolve({ lines: [rec(100), rec(200), rec(300)], trimmedSeq: 0, complete: true, through: 3, losses: [{ at: 2, n: 4, since: NOW - 9 }, { at: 3, n: 1, since: NOW - 8 }] });
  await tick();
  tail.close();
  assert.deepEqual(events, [
    { type: 'hello' },
    { type: 'line', seq: 200 },
    { type: 'gap', dropped: 4, since: NOW - 9, from: 201, to: 201 },
    { type: 'line', seq: 300 },
    { type: 'gap', dropped: 1, since: NOW - 8, from: 301, to: 301 },
    { type: 'finish' },
  ]);
});

test('a resume: the losses the read kept are all reported, one at the first line after the resume point right after it', async () => {
  // the read (MergedHistory, resume 200) kept the notices appended after the line it resumes from: placed at 2 (before 300, the first line after 200) or later
  const losses = [{ at: 2, n: 7, since: NOW - 50 }, { at: 3, n: 2, since: NOW - 40 }];
  for (const t of [true, false]) {
    const { tail, events, history } = startingTail({ num: 0, tail: t }, 200);
    history.resolve({ lines: [rec(100), rec(200), rec(300), rec(400)], trimmedSeq: 0, complete: true, through: 4, losses });
    await tick();
    tail.close();
    assert.deepEqual(events.filter((e) => e.type !== 'finish'), [
      { type: 'hello' },
      { type: 'gap', dropped: 7, since: NOW - 50, from: 201, to: 201 },
      { type: 'line', seq: 300 },
      { type: 'gap', dropped: 2, since: NOW - 40, from: 301, to: 301 },
      { type: 'line', seq: 400 },
    ]);
  }
  // the resume point is no line's (a gap's seq): the first gap goes after it, not after the line before it
  const { tail, events, history } = startingTail({ num: 0, tail: false }, 250);
  history.resolve({ lines: [rec(100), rec(200), rec(300)], trimmedSeq: 0, complete: true, through: 3, losses: [{ at: 2, n: 7, since: NOW - 50 }] });
  await tick();
  tail.close();
  assert.deepEqual(events, [{ type: 'hello' }, { type: 'gap', dropped: 7, since: NOW - 50, from: 251, to: 251 }, { type: 'line', seq: 300 }, { type: 'finish' }]);
});

test('a resume\'s late lines: one gap of those the filter matches, their count and seqs, at the first line after the resume point, after the notices there', async () => {
  const worker = (seq: number): Buffer => lineFrom({ pri: 190, ts: '2024-05-01T12:00:00Z', source: 'app', dyno: 'worker.1', msg: `w${seq}`, seq, receivedMs: NOW - 99 });
  // appended after the line of seq 200 with older seqs (MergedHistory.read, resume 200): 150 and 170 are web lines, 160 a worker's
  const late = [rec(150), worker(160), rec(170)];
  for (const t of [true, false]) {
    const { tail, events, history } = startingTail({ num: 0, tail: t, dyno: 'web' }, 200);
    history.resolve({ lines: [rec(100), rec(150), worker(160), rec(170), rec(200), rec(300)], trimmedSeq: 0, complete: true, through: 6, losses: [{ at: 5, n: 4, since: NOW - 50 }, { at: 5, n: 3, since: NOW - 99, late }] });
    await tick();
    tail.close();
    // since: when it counted them, as the live path counts lines that came too late
    assert.deepEqual(events.filter((e) => e.type !== 'finish'), [
      { type: 'hello' },
      { type: 'gap', dropped: 4, since: NOW - 50, from: 201, to: 201 },
      { type: 'gap', dropped: 2, since: NOW, from: 150, to: 170 },
      { type: 'line', seq: 300 },
    ]);
    assert.equal(tail.resumeLateTotal, 2);
    assert.equal(tail.lateTotal, 0);
  }
  // none of them matches: no gap
  const { tail, events, history } = startingTail({ num: 0, tail: false, dyno: 'web' }, 200);
  history.resolve({ lines: [rec(100), worker(160), rec(200)], trimmedSeq: 0, complete: true, through: 3, losses: [{ at: 3, n: 1, since: NOW - 99, late: [worker(160)] }] });
  await tick();
  tail.close();
  assert.deepEqual(events, [{ type: 'hello' }, { type: 'finish' }]);
  assert.equal(tail.resumeLateTotal, 0);
});

test('a resume whose line may have been trimmed: the late lines\' gap is a lower bound, also with none held (then placed as a notice)', async () => {
  const { tail, events, history } = startingTail({ num: 0, tail: false }, 250);
  history.resolve({ lines: [rec(240), rec(300)], trimmedSeq: 260, complete: true, through: 2, losses: [{ at: 1, n: 1, since: NOW - 9, late: [rec(240)], lowerBound: true }] });
  await tick();
  tail.close();
  assert.deepEqual(events.filter((e) => e.type === 'gap' && e.from === 240), [{ type: 'gap', dropped: 1, since: NOW, from: 240, to: 240, lowerBound: true }]);
  const none = startingTail({ num: 0, tail: false }, 250);
  none.history.resolve({ lines: [rec(300)], trimmedSeq: 260, complete: true, through: 1, losses: [{ at: 0, n: 0, since: 0, late: [], lowerBound: true }] });
  await tick();
  none.tail.close();
  // (the first gap: the lines above the resume point that were trimmed, estimated)
  assert.deepEqual(none.events.slice(2), [{ type: 'gap', dropped: 0, since: NOW, from: 251, to: 251, lowerBound: true }, { type: 'line', seq: 300 }, { type: 'finish' }]);
  assert.equal(none.tail.resumeLateTotal, 0);
});

test('a history without the other nodes\' lines (Redis unreachable), num 0: a lower-bound gap before the live lines; what the stream later says is counted above the floor only', async () => {
  const { tail, hub, events, history } = startingTail({ num: 0 });
  tail.deliver([rec(500)], 1);
  history.resolve({ lines: [rec(100)], trimmedSeq: 0, complete: false });
  await tick();
  assert.deepEqual(events, [{ type: 'hello' }, { type: 'gap', dropped: 0, since: NOW, from: 101, to: 499, lowerBound: true }, { type: 'line', seq: 500 }]);
  events.length = 0;
  // Redis back: a loss notice whose node's next line (90) is at or below the floor (100) was not asked for; one above it was
  hub.reportLoss(3, NOW - 1, 7, 90);
  hub.reportLoss(2, NOW - 1, 8, 600);
  // the stream was read from its oldest record: lines up to seq 150 were trimmed unread (above the floor): a lower bound
  hub.reportUnread(150);
  // said once
  hub.reportUnread(160);
  tail.close();
  assert.deepEqual(events, [
    { type: 'gap', dropped: 2, since: NOW - 1, from: 501, to: 501 },
    { type: 'gap', dropped: 0, since: NOW, from: 501, to: 501, lowerBound: true },
  ]);
});

test('a history without the other nodes\' lines: nothing trimmed above the floor, no second gap', async () => {
  const { tail, hub, events, history } = startingTail({ num: 2 });
  history.resolve({ lines: [rec(100), rec(200), rec(300)], trimmedSeq: 0, complete: false });
  await tick();
  hub.reportUnread(199);
  tail.close();
  // a full window: from its first line; to the head (the fake app's 0: the window's first line)
  assert.deepEqual(events, [
    { type: 'hello' },
    { type: 'line', seq: 200 },
    { type: 'line', seq: 300 },
    { type: 'gap', dropped: 0, since: NOW, from: 200, to: 200, lowerBound: true },
  ]);
});
