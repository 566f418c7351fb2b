// Bytes in, values out: the tail encoders, filters, queue and session clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineFrom, setSeq, viewOf } from '../../src/line.js';
import { textLine } from '../../src/drains/frame.js';
import {
  ByteWriter, gapFrame, helloFrame, l11Line, writeJsonLine, writeLinesFrame, writeSseEvent, writeTextLine, writeTextLineUtf8,
} from '../../src/tail/encode.js';
import { LineFilter } from '../../src/line-filter.js';
import { linesFrame } from '../../src/tail/ws.js';
import { TailQueue } from '../../src/tail/queue.js';
import { SessionStore, type SessionSpec } from '../../src/tail/session.js';

function rec(msg: string | Buffer, over: Partial<{ source: string; dyno: string; ts: string; seq: number; pri: number }> = {}): Buffer {
  return lineFrom({ pri: over.pri ?? 190, ts: over.ts ?? '2024-05-01T12:00:00Z', source: over.source ?? 'app', dyno: over.dyno ?? 'web.1', msg, seq: over.seq ?? 1 });
}

const take = (f: (w: ByteWriter) => void): Buffer => {
  const w = new ByteWriter(16);
  f(w);
  return w.take();
};

/** A small deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 0x100000000;
  };
}

test('JSON line: exact keys and order, same bytes as JSON.stringify of the decoded view', () => {
  const r = rec('hello "world" \\ tab\there', { seq: 42, pri: 13 });
  assert.equal(
    take((w) => writeJsonLine(w, r)).toString(),
    '{"seq":42,"ts":"2024-05-01T12:00:00Z","source":"app","dyno":"web.1","pri":13,"msg":"hello \\"world\\" \\\\ tab\\there"}',
  );
  // big seqs (past 2^32) keep every digit
  const big = rec('x', { seq: 2 ** 40 + 7 });
  assert.equal(JSON.parse(take((w) => writeJsonLine(w, big)).toString()).seq, 2 ** 40 + 7);
});

test('JSON line: random bytes (controls, quotes, invalid UTF-8) match JSON.stringify(viewOf) byte for byte', () => {
  const rand = rng(7);
  const alphabet = [0x00, 0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f, 0x20, 0x22, 0x41, 0x5c, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xa9, 0xe0, 0xa0, 0xed, 0x9f, 0xa0, 0xef, 0xbb, 0xbf, 0xf0, 0x90, 0x8d, 0x88, 0xf4, 0x8f, 0xf5, 0xff];
  for (let n = 0; n < 3000; n++) {
    const len = Math.floor(rand() * 24);
    const msg = Buffer.alloc(len);
    for (let i = 0; i < len; i++) msg[i] = rand() < 0.7 ? alphabet[Math.floor(rand() * alphabet.length)]! : Math.floor(rand() * 256);
    const r = rec(msg, { seq: n + 1, dyno: rand() < 0.1 ? 'w\u00e9b.1' : 'web.1' });
    const got = take((w) => writeJsonLine(w, r));
    assert.equal(got.toString('utf8'), JSON.stringify(viewOf(r)), `bytes ${msg.toString('hex')}`);
    // and the output itself is valid UTF-8
    assert.equal(Buffer.from(got.toString('utf8'), 'utf8').equals(got), true);
  }
});

test('lines frame wraps lines in {"type":"lines","lines":[...]}', () => {
  const a = rec('a', { seq: 1 });
  const b = rec('b', { seq: 2, dyno: 'router', source: 'heroku' });
  const out = take((w) => writeLinesFrame(w, [a, b], 0, 2)).toString();
  assert.equal(
    out,
    '{"type":"lines","lines":[{"seq":1,"ts":"2024-05-01T12:00:00Z","source":"app","dyno":"web.1","pri":190,"msg":"a"},{"seq":2,"ts":"2024-05-01T12:00:00Z","source":"heroku","dyno":"router","pri":190,"msg":"b"}]}',
  );
  assert.deepEqual(JSON.parse(out).lines, [viewOf(a), viewOf(b)]);
});

test('text line: `TS source[dyno]: msg`, raw bytes, same as the drains textLine()', () => {
  const msg = Buffer.from([0x68, 0x69, 0xff, 0x0d, 0x21]);
  const r = rec(msg);
  const got = take((w) => writeTextLine(w, r));
  assert.deepEqual(got, textLine(r));
  assert.deepEqual(got, Buffer.concat([Buffer.from('2024-05-01T12:00:00Z app[web.1]: '), msg]));
  // the WebSocket text variant repairs invalid UTF-8 only
  assert.equal(take((w) => writeTextLineUtf8(w, r)).toString('utf8'), '2024-05-01T12:00:00Z app[web.1]: hi\ufffd\r!');
});

test('SSE event: id, data, blank line; an embedded CR/LF continues on another data field', () => {
  assert.equal(take((w) => writeSseEvent(w, rec('plain é', { seq: 9 }))).toString(), 'id: 9\ndata: 2024-05-01T12:00:00Z app[web.1]: plain é\n\n');
  assert.equal(take((w) => writeSseEvent(w, rec('a\rb\r\nc', { seq: 10 }))).toString(), 'id: 10\ndata: 2024-05-01T12:00:00Z app[web.1]: a\ndata: b\ndata: c\n\n');
});

test('control frames and the L11 line', () => {
  assert.equal(helloFrame('myapp', 12), '{"type":"hello","app":"myapp","head":12}');
  const gap = { dropped: 5, since: Date.UTC(2024, 0, 2, 3, 4, 5, 678), from: 10, to: 14 };
  assert.equal(gapFrame(gap), '{"type":"gap","dropped":5,"since":"2024-01-02T03:04:05.678000+00:00","from":10,"to":14}');
  assert.equal(
    l11Line(gap, Date.UTC(2024, 0, 2, 3, 5, 0, 1)),
    '2024-01-02T03:05:00.001000+00:00 heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 5 messages since 2024-01-02T03:04:05.678000+00:00.',
  );
});

test('a gap whose count is a lower bound: one field added to the frame, "at least" / "an unknown number of" in the L11 line', () => {
  const since = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
  const now = Date.UTC(2024, 0, 2, 3, 5, 0, 1);
  const unknown = { dropped: 0, since, from: 10, to: 14, lowerBound: true };
  assert.equal(gapFrame(unknown), '{"type":"gap","dropped":0,"since":"2024-01-02T03:04:05.678000+00:00","from":10,"to":14,"lower_bound":true}');
  assert.equal(l11Line(unknown, now), '2024-01-02T03:05:00.001000+00:00 heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped an unknown number of messages since 2024-01-02T03:04:05.678000+00:00.');
  assert.equal(l11Line({ ...unknown, dropped: 7 }, now), '2024-01-02T03:05:00.001000+00:00 heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped at least 7 messages since 2024-01-02T03:04:05.678000+00:00.');
  assert.equal(gapFrame({ ...unknown, lowerBound: false }), '{"type":"gap","dropped":0,"since":"2024-01-02T03:04:05.678000+00:00","from":10,"to":14}');
});

test('tail queue: a loss of unknown size noted while blocked is a gap of its own, and makes a gap it joins a lower bound', () => {
  const q = new TailQueue(3);
  q.noteLoss(0, 20, 20, 500, true);
  assert.deepEqual(q.takeGap(), { dropped: 0, since: 500, from: 20, to: 20, lowerBound: true });
  assert.equal(q.takeGap(), null);
  q.noteLoss(0, 20, 20, 500, true);
  q.noteLoss(4, 30, 33, 600);
  assert.deepEqual(q.takeGap(), { dropped: 4, since: 500, from: 20, to: 33, lowerBound: true });
  q.noteLoss(4, 30, 33, 600);
  assert.deepEqual(q.takeGap(), { dropped: 4, since: 600, from: 30, to: 33 });
});

test('filters: source exact, dyno equal or prefix followed by a dot, grep substring of the message', () => {
  const f = (spec: Partial<{ source: string; dyno: string; grep: string }>) => new LineFilter({ source: null, dyno: null, grep: null, ...spec });
  const web1 = rec('GET /index', { dyno: 'web.1' });
  const webhook = rec('GET /hook', { dyno: 'webhook.1' });
  const web = rec('x', { dyno: 'web' });
  const router = rec('at=info', { source: 'heroku', dyno: 'router' });
  assert.equal(f({}).matches(web1), true);
  assert.equal(f({ dyno: 'web' }).matches(web1), true);
  assert.equal(f({ dyno: 'web' }).matches(web), true);
  assert.equal(f({ dyno: 'web' }).matches(webhook), false);
  assert.equal(f({ dyno: 'web.1' }).matches(web1), true);
  assert.equal(f({ dyno: 'web.1' }).matches(rec('x', { dyno: 'web.10' })), false);
  assert.equal(f({ dyno: 'we' }).matches(web1), false);
  assert.equal(f({ source: 'app' }).matches(web1), true);
  assert.equal(f({ source: 'app' }).matches(router), false);
  assert.equal(f({ source: 'ap' }).matches(web1), false);
  assert.equal(f({ source: 'heroku', dyno: 'router' }).matches(router), true);
  assert.equal(f({ grep: 'index' }).matches(web1), true);
  assert.equal(f({ grep: 'index' }).matches(webhook), false);
  // grep looks at the message only, not the header
  assert.equal(f({ grep: 'web' }).matches(web1), false);
});

test('tail queue: drops the oldest when full and counts exactly, with the seq range and first drop time', () => {
  const q = new TailQueue(3);
  const recs = Array.from({ length: 8 }, (_, i) => {
    const r = rec(`m${i + 1}`);
    setSeq(r, i + 1);
    return r;
  });
  for (let i = 0; i < 8; i++) q.push(recs[i]!, 1000 + i);
  assert.equal(q.count, 3);
  assert.deepEqual(q.takeGap(), { dropped: 5, since: 1003, from: 1, to: 5 });
  assert.equal(q.takeGap(), null);
  const out: Buffer[] = [];
  q.shiftInto(out, 2);
  assert.deepEqual(out.map((r) => viewOf(r).seq), [6, 7]);
  q.shiftInto(out, 10);
  assert.deepEqual(out.map((r) => viewOf(r).seq), [8]);
  assert.equal(q.count, 0);
  assert.equal(q.droppedTotal, 5);
});

test('session store: 360 s after creation, forever while read, 360 s after the last reader left', () => {
  let now = 1_000_000;
  const store = new SessionStore({ clock: { now: () => now } });
  const spec: SessionSpec = { app: 'a', num: 100, tail: true, source: null, dyno: null, grep: null, after: null };
  const s = store.create(spec)!;
  assert.match(s.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  now += 359_999;
  assert.equal(store.get(s.id), s);
  store.acquire(s);
  now += 10_000_000;
  assert.equal(store.get(s.id), s, 'alive while read');
  store.acquire(s);
  store.release(s);
  now += 500_000;
  assert.equal(store.get(s.id), s, 'one reader still reading');
  store.release(s);
  now += 359_999;
  assert.equal(store.get(s.id), s, 'reopen within 360 s of the last reader leaving');
  now += 1;
  assert.equal(store.get(s.id), undefined);
  assert.equal(store.size, 0);
  // never read: gone 360 s after creation; sweep forgets it
  const t = store.create(spec)!;
  now += 360_000;
  assert.equal(store.sweep(), 1);
  assert.equal(store.get(t.id), undefined);
});

test('linesFrame: viewers given the same lines share one frame; any other lines get their own, right one', () => {
  const lines = Array.from({ length: 8 }, (_, i) => rec(`line ${i}`, { seq: i + 1 }));
  const expect = (recs: Buffer[], from: number, to: number): Buffer => take((w) => writeLinesFrame(w, recs, from, to));

  const a = linesFrame(lines, 0, 8);
  assert.deepEqual(a, expect(lines, 0, 8));
  // a second tail of the app handed the same lines: the very same bytes, not encoded again
  const b = linesFrame([...lines], 0, 8);
  assert.equal(b, a);

  // a filtered viewer: same length, same first and last line, another line in the middle
  const filtered = [lines[0]!, lines[1]!, lines[2]!, lines[3]!, lines[4]!, lines[5]!, rec('other', { seq: 99 }), lines[7]!];
  const c = linesFrame(filtered, 0, 8);
  assert.notEqual(c, a);
  assert.deepEqual(c, expect(filtered, 0, 8));
  assert.match(c.toString('utf8'), /"msg":"other"/);

  // equal bytes in another Buffer are encoded again (identity, not content, decides), with the same result
  const copies = lines.map((l) => Buffer.from(l));
  const d = linesFrame(copies, 0, 8);
  assert.notEqual(d, c);
  assert.deepEqual(d, a);

  // a window of a longer list
  const e = linesFrame(lines, 2, 5);
  assert.deepEqual(e, expect(lines, 2, 5));
  assert.equal(JSON.parse(e.toString('utf8')).lines.length, 3);
  assert.equal(linesFrame(lines.slice(2, 5), 0, 3), e);
  // fewer lines than the memo: not shared
  assert.deepEqual(linesFrame(lines, 2, 4), expect(lines, 2, 4));
});
