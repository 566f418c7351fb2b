// routeMessage / route: a scanned syslog message in, cooked lines out (ring
// and sinks), with the cooking rules of SPEC 3.3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { App, TokenEntry, type LineSink } from '../../src/apps.js';
import { ScanError, SyslogHeader, scanSyslog } from '../../src/ingest/syslog.js';
import { MAX_MSG, dynoOf, msgOf, priOf, receivedOf, rfc3339, seqOf, sourceOf, tsOf } from '../../src/line.js';
import { routeMessage } from '../../src/ingest/route-writer.js';
import { route, routeFrom } from '../../src/router.js';
import { lineFrom } from '../../src/line.js';

const TS = '2026-01-02T03:04:05.678901+00:00';
const NOW = Date.UTC(2026, 5, 7, 8, 9, 10, 123);
/** No token to keep out of lines (cook.test.ts checks that rule). */
const NO_TOKENS = { lookup: (): undefined => undefined };

class RecordingSink implements LineSink {
  readonly got: Buffer[] = [];
  offer(rec: Buffer): void {
    this.got.push(rec);
  }
}

function setup(historyLines = 1000): { app: App; entry: TokenEntry; sinks: RecordingSink[] } {
  const app = new App({ id: 'myapp', uuid: 'u', createdAt: '', updatedAt: '', tokens: [], drains: [] }, historyLines);
  const sinks = [new RecordingSink(), new RecordingSink()];
  for (const s of sinks) app.addSink(s);
  return { app, entry: new TokenEntry('t.01234567-89ab-4def-8123-456789abcdef', 'app', app), sinks };
}

/** Scan `msg` (placed inside a bigger buffer full of LFs) and route it. */
function send(entry: TokenEntry, msg: string | Buffer, now = NOW): number {
  const m = typeof msg === 'string' ? Buffer.from(msg, 'latin1') : msg;
  const pre = Buffer.from('9 \n\n\n<1>1 x\n', 'latin1');
  const post = Buffer.from('\n<13>1 - h a p - - junk\n\n', 'latin1');
  const buf = Buffer.concat([pre, m, post]);
  const hdr = new SyslogHeader();
  assert.equal(scanSyslog(buf, pre.length, pre.length + m.length, hdr), ScanError.OK);
  return routeMessage(entry, hdr, buf, now, { value: 0 }, NO_TOKENS);
}

function lines(app: App): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < app.ring.count; i++) out.push(Buffer.from(app.ring.at(i)));
  return out;
}
const msgs = (recs: Buffer[]): string[] => recs.map((r) => msgOf(r).toString('latin1'));

test('one message: source is the token name, dyno is PROCID, ts and PRI as sent', () => {
  const { app, entry, sinks } = setup();
  assert.equal(send(entry, `<190>1 ${TS} myhost heroku-looking-appname web.1 - - hello world`), 1);
  const [r] = lines(app);
  assert.ok(r);
  assert.equal(sourceOf(r), 'app');
  assert.equal(dynoOf(r), 'web.1');
  assert.equal(tsOf(r), TS);
  assert.equal(priOf(r), 190);
  assert.equal(seqOf(r), 1);
  assert.equal(receivedOf(r), NOW);
  assert.equal(msgOf(r).toString(), 'hello world');
  for (const s of sinks) assert.deepEqual(s.got.map((b) => Buffer.from(b)), [r]);
  assert.equal(app.linesIn, 1);
  assert.equal(app.bytesIn, r.length);
});

test('embedded LF: several lines with the same header; CRLF; blank lines kept', () => {
  const { app, entry } = setup();
  assert.equal(send(entry, `<13>1 ${TS} h t.x worker.2 - - first\nsecond\r\nthird\r\n\n`), 3);
  assert.equal(send(entry, `<13>1 ${TS} h t.x worker.2 - - a\n\nb\r\n\r\nc`), 5);
  assert.equal(send(entry, `<13>1 ${TS} h t.x worker.2 - - cr\rinside\r\r\nx`), 2);
  const recs = lines(app);
  assert.deepEqual(msgs(recs), ['first', 'second', 'third', 'a', '', 'b', '', 'c', 'cr\rinside\r', 'x']);
  for (const r of recs) {
    assert.equal(tsOf(r), TS);
    assert.equal(dynoOf(r), 'worker.2');
    assert.equal(sourceOf(r), 'app');
    assert.equal(priOf(r), 13);
  }
});

test('an empty message is one empty line', () => {
  const { app, entry } = setup();
  assert.equal(send(entry, `<13>1 ${TS} h t.x web.1 - -`), 1);
  assert.equal(send(entry, `<13>1 ${TS} h t.x web.1`), 1);
  assert.deepEqual(msgs(lines(app)), ['', '']);
});

test('nil TIMESTAMP becomes the received time', () => {
  const { app, entry } = setup();
  send(entry, '<13>1 - h t.x web.1 - - a\nb', NOW);
  const recs = lines(app);
  assert.equal(recs.length, 2);
  for (const r of recs) assert.equal(tsOf(r), rfc3339(NOW));
  assert.equal(rfc3339(NOW), '2026-06-07T08:09:10.123000+00:00');
});

test('seq strictly increasing across messages; sinks offered every line in order', () => {
  const { app, entry, sinks } = setup(5);
  let n = 0;
  for (let i = 0; i < 20; i++) n += send(entry, `<13>1 ${TS} h t.x web.1 - - m${i}\nm${i}b`);
  assert.equal(n, 40);
  assert.equal(app.seq, 40);
  for (const s of sinks) {
    assert.equal(s.got.length, 40);
    assert.deepEqual(s.got.map(seqOf), Array.from({ length: 40 }, (_, i) => i + 1));
    assert.equal(msgOf(s.got[39]!).toString(), 'm19b');
  }
  // the ring keeps the newest 5
  assert.deepEqual(lines(app).map(seqOf), [36, 37, 38, 39, 40]);
  // route() directly continues the same counter
  route(app, lineFrom({ pri: 172, ts: TS, source: 'heroku', dyno: 'logplex', msg: 'L10' }));
  assert.equal(app.ring.lastSeq, 41);
  assert.equal(sinks[0]!.got.length, 41);
});

test('a sink added or removed takes effect on the next line', () => {
  const { app, entry, sinks } = setup();
  send(entry, `<13>1 ${TS} h t.x web.1 - - a`);
  app.removeSink(sinks[0]!);
  send(entry, `<13>1 ${TS} h t.x web.1 - - b`);
  app.addSink(sinks[0]!);
  app.addSink(sinks[0]!); // idempotent
  send(entry, `<13>1 ${TS} h t.x web.1 - - c`);
  assert.deepEqual(msgs(sinks[0]!.got), ['a', 'c']);
  assert.deepEqual(msgs(sinks[1]!.got), ['a', 'b', 'c']);
});

/** True when b is valid UTF-8 (round-trips through a string). */
const validUtf8 = (b: Buffer): boolean => Buffer.from(b.toString('utf8'), 'utf8').equals(b);

function longMessage(entry: TokenEntry, app: App, body: Buffer): Buffer[] {
  const before = app.ring.count;
  const n = send(entry, Buffer.concat([Buffer.from(`<13>1 ${TS} h t.x web.1 - - `, 'latin1'), body]));
  const recs = lines(app).slice(before);
  assert.equal(recs.length, n);
  return recs.map(msgOf);
}

test('over 10,000 bytes: consecutive lines of at most 10,000 bytes', () => {
  const { app, entry } = setup();
  const body = Buffer.alloc(25_000);
  for (let i = 0; i < body.length; i++) body[i] = 0x41 + (i % 26);
  const parts = longMessage(entry, app, body);
  assert.deepEqual(parts.map((p) => p.length), [10_000, 10_000, 5_000]);
  assert.deepEqual(Buffer.concat(parts), body);
  assert.deepEqual(longMessage(entry, app, body.subarray(0, MAX_MSG)).map((p) => p.length), [10_000]);
  assert.deepEqual(longMessage(entry, app, body.subarray(0, MAX_MSG + 1)).map((p) => p.length), [10_000, 1]);
  assert.deepEqual(longMessage(entry, app, body.subarray(0, 2 * MAX_MSG)).map((p) => p.length), [10_000, 10_000]);
  // with LFs: each LF-free piece is split on its own
  const withLf = Buffer.concat([body.subarray(0, 12_000), Buffer.from('\n'), body.subarray(0, 3), Buffer.from('\r\n'), body.subarray(0, 10_001)]);
  assert.deepEqual(longMessage(entry, app, withLf).map((p) => p.length), [10_000, 2_000, 3, 10_000, 1]);
  // same header on every piece
  for (const r of lines(app)) assert.equal(dynoOf(r), 'web.1');
});

test('the 10,000-byte split never cuts a UTF-8 sequence', () => {
  const { app, entry } = setup(5000);
  for (const ch of ['é', '€', '😀']) {
    for (let pad = 0; pad < 4; pad++) {
      const body = Buffer.from('x'.repeat(pad) + ch.repeat(Math.ceil(31_000 / Buffer.byteLength(ch))), 'utf8');
      const parts = longMessage(entry, app, body);
      assert.deepEqual(Buffer.concat(parts), body, `${ch} pad ${pad}`);
      for (const p of parts) {
        assert.ok(p.length <= MAX_MSG && p.length >= MAX_MSG - 3 || p === parts[parts.length - 1], `${ch} pad ${pad}: ${p.length}`);
        assert.ok(validUtf8(p), `${ch} pad ${pad}: a piece of ${p.length} bytes cuts a sequence`);
      }
    }
  }
});

test('invalid UTF-8 over 10,000 bytes is split and kept byte for byte', () => {
  const { app, entry } = setup();
  for (const fill of [0x80, 0xff, 0xc3]) {
    const body = Buffer.alloc(23_456, fill);
    const parts = longMessage(entry, app, body);
    assert.deepEqual(Buffer.concat(parts), body);
    for (const p of parts) assert.ok(p.length > 0 && p.length <= MAX_MSG);
  }
});

test('bytes after the message in the same chunk are never part of it', () => {
  const { app, entry } = setup();
  const a = Buffer.from(`<13>1 ${TS} h t.x web.1 - - short one`, 'latin1');
  const b = Buffer.from(`<13>1 ${TS} h t.x web.1 - - ${'y'.repeat(700)}`, 'latin1');
  const chunk = Buffer.concat([a, Buffer.from('zz\nzz'), b, Buffer.from('zz\nzz')]);
  const hdr = new SyslogHeader();
  assert.equal(scanSyslog(chunk, 0, a.length, hdr), ScanError.OK);
  assert.equal(routeMessage(entry, hdr, chunk, NOW, { value: 0 }, NO_TOKENS), 1);
  const bs = a.length + 5;
  assert.equal(scanSyslog(chunk, bs, bs + b.length, hdr), ScanError.OK);
  assert.equal(routeMessage(entry, hdr, chunk, NOW, { value: 0 }, NO_TOKENS), 1);
  assert.deepEqual(msgs(lines(app)), ['short one', 'y'.repeat(700)]);
});

/** Lines laid out as a worker's batch ([u32 slot][u32 len][record]...) with junk where the seq goes. */
function batchOf(recs: Buffer[]): { batch: Buffer; view: DataView; pos: number[] } {
  const batch = Buffer.alloc(3 + recs.reduce((n, r) => n + 8 + r.length, 0), 0x5a).subarray(3);
  const pos: number[] = [];
  let p = 0;
  for (const r of recs) {
    batch.writeUInt32LE(1, p);
    batch.writeUInt32LE(r.length, p + 4);
    r.copy(batch, p + 8);
    batch.fill(0xee, p + 8, p + 16);
    pos.push(p + 8);
    p += 8 + r.length;
  }
  return { batch, view: new DataView(batch.buffer, batch.byteOffset, batch.length), pos };
}

test('routeFrom: lines straight from a batch get the next seqs, counters, ring and sinks as route() gives them', () => {
  const { app, sinks } = setup(50);
  const bare = new App({ id: 'bare', uuid: 'u', createdAt: '', updatedAt: '', tokens: [], drains: [] }, 50);
  const recs = Array.from({ length: 30 }, (_, i) => lineFrom({ pri: 13, ts: TS, source: 'app', dyno: 'web.1', msg: `m${i} ${'x'.repeat(i * 9)}`, receivedMs: NOW }));
  const { batch, view, pos } = batchOf(recs);
  const before = Buffer.from(batch);
  route(app, lineFrom({ pri: 13, ts: TS, source: 'app', dyno: 'web.1', msg: 'first' })); // seq 1 through route()
  for (let i = 0; i < recs.length; i++) {
    routeFrom(app, view, pos[i]!, recs[i]!.length, 0);
    routeFrom(bare, view, pos[i]!, recs[i]!.length, 1);
  }
  assert.ok(batch.equals(before), 'the batch is left as it was (it goes back to the worker)');
  /** The records as routed: seqs from firstSeq on. */
  const stamped = (firstSeq: number): Buffer[] =>
    recs.map((r, i) => {
      const w = Buffer.from(r);
      w.writeDoubleLE(firstSeq + i, 0);
      return w;
    });
  assert.equal(app.seq, 31);
  assert.equal(app.linesIn, 31);
  assert.deepEqual(lines(app).slice(1), stamped(2));
  assert.deepEqual(lines(bare), stamped(1));
  assert.equal(bare.seq, 30);
  assert.equal(bare.ring.lastSeq, 30);
  assert.equal(bare.linesIn, 30);
  assert.equal(bare.bytesIn, recs.reduce((n, r) => n + r.length, 0));
  // the console's rate counter counts each line under the class it is given
  const sec = Math.floor(NOW / 1000);
  assert.equal(bare.rates.series(sec).counts.heroku.at(-1), 30);
  assert.equal(bare.rates.series(sec).counts.app.at(-1), 0);
  for (const s of sinks) assert.deepEqual(s.got.slice(1), stamped(2));
  // what a sink was offered is its own: reusing the batch does not change it
  const kept = sinks[0]!.got.slice(1).map((b) => Buffer.from(b));
  batch.fill(0);
  assert.deepEqual(sinks[0]!.got.slice(1), kept);
  assert.ok(kept.every((b, i) => msgOf(b).equals(msgOf(recs[i]!))));
});

test('routeFrom in distributed mode: seqs from the seq clock, given the line\'s receive time', () => {
  const calls: [number, number][] = [];
  const clock = { next: (last: number, receivedMs: number): number => (calls.push([last, receivedMs]), last + 1000) };
  const app = new App({ id: 'dist', uuid: 'u', createdAt: '', updatedAt: '', tokens: [], drains: [] }, 10, clock);
  const recs = [NOW, NOW + 5].map((ms) => lineFrom({ pri: 13, ts: TS, source: 'app', dyno: 'web.1', msg: 'x', receivedMs: ms }));
  const { view, pos } = batchOf(recs);
  routeFrom(app, view, pos[0]!, recs[0]!.length, 0);
  routeFrom(app, view, pos[1]!, recs[1]!.length, 0);
  assert.deepEqual(calls, [[0, NOW], [1000, NOW + 5]]);
  assert.deepEqual(lines(app).map(seqOf), [1000, 2000]);
  assert.equal(app.ring.lastSeq, 2000);
});
