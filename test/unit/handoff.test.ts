// The fair hand-off (ingest/handoff.ts) against a fake worker: which input's
// item goes when, bytes in, order out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { FairHandoff, HandoffInput, STREAM_HIGH, STREAM_LOW, TURN_BYTES, WORKER_QUEUE, type HandoffTarget } from '../../src/ingest/handoff.js';
import type { ToWorker } from '../../src/ingest/worker-protocol.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A worker that records what it was sent, as "<input>:<n>" (the input's name rides in the message's c). */
class FakeWorker implements HandoffTarget {
  inflight = 0;
  readonly sent: string[] = [];
  readonly bodies: string[] = [];
  post(m: ToWorker): void {
    this.sent.push(label(m));
  }
  postBody(m: ToWorker): void {
    this.sent.push(label(m));
    this.bodies.push(label(m));
  }
  /** The worker handled everything it holds. */
  handled(h: FairHandoff): void {
    this.inflight = 0;
    h.pump();
  }
}

const names = new Map<number, string>();
function label(m: ToWorker): string {
  if (m.k === 'data') return `${names.get(m.c)}:${m.n}`;
  if (m.k === 'http') return `${names.get(m.id)}:${m.n}`;
  if (m.k === 'end' || m.k === 'close') return `${names.get(m.c)}:${m.k}`;
  return m.k;
}

let nextId = 1;
function item(name: string, n: number, kind: 'data' | 'http' = 'data'): ToWorker {
  const id = nextId++;
  names.set(id, name);
  const b = new ArrayBuffer(0);
  return kind === 'data' ? { k: 'data', c: id, t: 0, b, o: 0, n } : { k: 'http', id, slot: 1, name: 'app', b, o: 0, n, ms: 0 };
}

class FakeSocket {
  paused = false;
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
}
function conn(): { input: HandoffInput; sock: FakeSocket } {
  const sock = new FakeSocket();
  return { input: new HandoffInput(sock as unknown as Socket), sock };
}

describe('fair hand-off', () => {
  it("a quiet app's small body goes before a flooding app's next large body: behind only what the worker holds", () => {
    const w = new FakeWorker();
    const h = new FairHandoff(w);
    const flood = new HandoffInput(null);
    const quiet = new HandoffInput(null);
    for (let i = 0; i < 16; i++) h.send(flood, item('flood', 2 * MiB, 'http'), undefined, 2 * MiB);
    assert.deepEqual(w.sent, ['flood:2097152'], 'one body fills the worker');
    h.send(quiet, item('quiet', 100, 'http'), undefined, 100);
    assert.equal(w.sent.length, 1, 'the quiet body waits for room');
    w.handled(h);
    assert.deepEqual(w.sent.slice(1), ['quiet:100', 'flood:2097152'], 'then goes first');
    assert.equal(h.waiting, 14 * 2 * MiB);
  });

  it('an input alone gets its next item as soon as the worker has room, whatever its size', () => {
    const w = new FakeWorker();
    const h = new FairHandoff(w);
    const flood = new HandoffInput(null);
    for (let i = 0; i < 3; i++) h.send(flood, item('flood', 8 * MiB, 'http'), undefined, 8 * MiB);
    for (let i = 0; i < 2; i++) w.handled(h);
    assert.deepEqual(w.sent, ['flood:8388608', 'flood:8388608', 'flood:8388608']);
    assert.deepEqual(w.bodies, w.sent, 'bodies go by postBody (with the turn)');
  });

  it('two flooding inputs share the worker by bytes: small items pass large ones, each gets TURN_BYTES a turn', () => {
    const w = new FakeWorker();
    const h = new FairHandoff(w);
    const big = new HandoffInput(null);
    const small = conn();
    w.inflight = WORKER_QUEUE; // full: everything waits
    for (let i = 0; i < 4; i++) h.send(big, item('big', 4 * TURN_BYTES, 'http'), undefined, 4 * TURN_BYTES);
    for (let i = 0; i < 12; i++) h.send(small.input, item('small', TURN_BYTES), undefined, TURN_BYTES);
    // one worker's worth at a time
    const order: string[] = [];
    while (h.waiting > 0) {
      w.handled(h);
      order.push(...w.sent.splice(0));
    }
    // four turns make a body's credit: four chunks of the connection go in that time (three before the
    // first body, which had the first turn)
    const s = 'small:65536';
    const B = 'big:262144';
    assert.deepEqual(order.slice(0, 14), [s, s, s, B, s, s, s, s, B, s, s, s, s, B]);
  });

  it('keeps each connection in order, its end and close after its data, and gives one chunk a turn to each', () => {
    const w = new FakeWorker();
    const h = new FairHandoff(w);
    const a = conn();
    const b = conn();
    w.inflight = WORKER_QUEUE;
    for (let i = 0; i < 3; i++) h.send(a.input, item('a', TURN_BYTES), undefined, TURN_BYTES);
    h.send(a.input, item('a', 0, 'data'), undefined, 0);
    h.send(b.input, item('b', TURN_BYTES), undefined, TURN_BYTES);
    w.inflight = 0;
    h.pump();
    assert.deepEqual(w.sent, ['a:65536', 'b:65536', 'a:65536', 'a:65536', 'a:0']);
  });

  it('pauses a connection with more than STREAM_HIGH waiting and resumes it under STREAM_LOW; other connections are not paused', () => {
    const w = new FakeWorker();
    const h = new FairHandoff(w);
    const flood = conn();
    const quiet = conn();
    w.inflight = WORKER_QUEUE;
    let n = 0;
    while (!flood.sock.paused) {
      h.send(flood.input, item('flood', TURN_BYTES), undefined, TURN_BYTES);
      n += TURN_BYTES;
    }
    assert.ok(n > STREAM_HIGH && n <= STREAM_HIGH + TURN_BYTES);
    h.send(quiet.input, item('quiet', 100), undefined, 100);
    assert.equal(quiet.sock.paused, false);
    while (flood.sock.paused) w.handled(h);
    assert.ok(flood.input.heldBytes < STREAM_LOW);
  });

  it('at stop, drops the POST /logs bodies still waiting and leaves the connections their input', () => {
    const w = new FakeWorker();
    const h = new FairHandoff(w);
    const body = new HandoffInput(null);
    const c = conn();
    w.inflight = WORKER_QUEUE;
    h.send(body, item('body', 100, 'http'), undefined, 100);
    h.send(c.input, item('c', 10), undefined, 10);
    assert.deepEqual(h.dropBodies().map(label), ['body:100']);
    h.pump(true);
    assert.deepEqual(w.sent, ['c:10']);
    assert.equal(h.waiting, 0);
  });
});
