// Slow consumers (SPEC 5.4): while 100,000 lines flow into an app, one
// WebSocket client stops reading its socket. The other tails receive every
// line in order, ingest keeps its rate, and when the stalled client resumes
// the gap it is told about equals exactly the lines it did not get.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpStream, WsClient, line, session, setup, type Setup } from '../support/tail.js';
import { route } from '../../src/router.js';
import { until } from '../support/wait.js';

let s: Setup;
before(async () => {
  s = await setup();
});
after(async () => {
  await s.ts.close();
});

const TOTAL = 100_000;
/** Lines routed per event-loop turn: a syslog connection's worth of a busy chunk. */
const PER_TURN = 500;

/** Check a client's stream: increasing seqs, gaps that cover exactly what it did not get. */
function account(frames: any[]): { got: number[]; gaps: any[] } {
  const got: number[] = [];
  const gaps: any[] = [];
  let last = 0;
  for (const f of frames) {
    if (f.type === 'lines') {
      for (const l of f.lines) {
        assert.ok(l.seq > last, `seq ${l.seq} after ${last}: in order, no duplicates`);
        got.push(l.seq);
        last = l.seq;
      }
    } else if (f.type === 'gap') {
      assert.ok(f.from > last, 'a gap only covers lines after what was delivered');
      assert.equal(f.dropped, f.to - f.from + 1, 'no filter: every seq in the range was dropped');
      assert.match(f.since, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
      gaps.push(f);
      last = f.to;
    }
  }
  return { got, gaps };
}

test('a stalled WebSocket reader loses only its own lines, counted exactly; the others get all 100,000 in order', async () => {
  const url = await session(s.ts, { channel_id: 'myapp', num: 0, tail: true });
  const fast = new WsClient(url);
  const stalled = new WsClient(url);
  const sse = new HttpStream(url, { accept: 'text/event-stream' });
  await Promise.all([fast.opened, stalled.opened]);
  await until('three readers', () => fast.frames.length === 1 && stalled.frames.length === 1 && sse.status === 200 && s.service.tailCount === 3);
  stalled.ws.pause(); // stop reading the socket: kernel buffers, then the server's, then its queue fill

  // SSE events are counted as they arrive (the body is not kept whole)
  let sseLast = 0;
  let sseCount = 0;
  let sseOrdered = true;
  let carry = '';
  sse.chunks.length = 0;
  const onSse = (): void => {
    const text = carry + Buffer.concat(sse.chunks).toString('utf8');
    sse.chunks.length = 0;
    const events = text.split('\n\n');
    carry = events.pop()!;
    for (const e of events) {
      const seq = Number(e.slice(4, e.indexOf('\n')));
      if (seq !== sseLast + 1) sseOrdered = false;
      sseLast = seq;
      sseCount++;
    }
  };

  for (let i = 1; i <= TOTAL; i += PER_TURN) {
    for (let k = i; k < i + PER_TURN && k <= TOTAL; k++) route(s.app, line(k));
    await new Promise((r) => setImmediate(r));
    if (sse.chunks.length > 64) onSse();
  }

  await until('the fast readers to get every line', () => {
    onSse();
    return fast.lines().length === TOTAL && sseCount === TOTAL;
  }, 60_000);
  const f = account(fast.json().slice(1));
  assert.equal(f.gaps.length, 0);
  assert.deepEqual(f.got.length, TOTAL);
  assert.equal(f.got[0], 1);
  assert.equal(f.got.at(-1), TOTAL);
  assert.equal(sseOrdered, true, 'SSE reader got every seq in order');
  assert.equal(sseLast, TOTAL);

  // The stalled reader is stuck with a full queue and has lost lines by now.
  const tail = [...s.service.tails()].find((t) => t.queue.count === t.queue.capacity);
  assert.ok(tail, 'the stalled tail has a full queue');
  assert.ok(tail.queue.droppedTotal > 0, 'and has dropped lines');

  stalled.ws.resume();
  await until('the stalled reader to catch up', () => {
    const frames = stalled.json();
    const last = frames.at(-1);
    return last?.type === 'lines' && last.lines.at(-1).seq === TOTAL;
  }, 60_000);
  const { got, gaps } = account(stalled.json().slice(1));
  const dropped = gaps.reduce((n, g) => n + g.dropped, 0);
  assert.ok(gaps.length >= 1, 'told about the loss');
  assert.equal(got.length + dropped, TOTAL, 'delivered + reported dropped = every line');
  // the gaps name exactly the seqs it did not get
  const covered = new Set(got);
  for (const g of gaps) for (let q = g.from; q <= g.to; q++) covered.add(q);
  assert.equal(covered.size, TOTAL);
  assert.equal(dropped, tail.queue.droppedTotal, 'what the client is told = what the queue dropped');
  // after the last gap, the queue's 1,024 lines arrive
  assert.ok(TOTAL - gaps.at(-1).to >= s.ts.config.tailQueueLines);

  // Ingest never waited on the stalled socket: every route() above returned while the stalled
  // reader was paused with a full queue (how fast routing runs beside a slow tail is for the
  // tail_latency bench, not for a test).

  fast.ws.close();
  stalled.ws.close();
  sse.close();
});
