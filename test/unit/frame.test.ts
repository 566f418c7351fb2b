// Wire encoders: cooked lines in, exact bytes out. Expected bytes are built
// here from the original fields, independently of the encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logplexFrames, syslogDrainEncoder, textLine } from '../../src/drains/frame.js';
import { lineFrom } from '../../src/line.js';

interface Fields {
  pri: number;
  ts: string;
  source: string;
  dyno: string;
  msg: Buffer;
}

const TS = '2026-01-02T03:04:05.678901+00:00';
const f = (msg: string | Buffer, more: Partial<Fields> = {}): Fields => ({
  pri: 190,
  ts: TS,
  source: 'app',
  dyno: 'web.1',
  msg: typeof msg === 'string' ? Buffer.from(msg, 'utf8') : msg,
  ...more,
});
const rec = (x: Fields, seq = 1): Buffer => lineFrom({ ...x, seq });

/** `LEN SP <PRI>1 TS<host>SOURCE SP DYNO SP <nil>MSG LF`, LEN counting every byte after the SP. */
function frame(x: Fields, host: string, nil: string): Buffer {
  const body = Buffer.concat([Buffer.from(`<${x.pri}>1 ${x.ts}${host}${x.source} ${x.dyno} ${nil}`, 'utf8'), x.msg, Buffer.from('\n')]);
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}
const logplex = (x: Fields): Buffer => frame(x, ' host ', '- ');

test('logplexFrames: one frame, byte-exact, LEN counts the LF', () => {
  const out = logplexFrames.encode([rec(f('hello'))]);
  assert.equal(out.toString('latin1'), `63 <190>1 ${TS} host app web.1 - hello\n`);
  assert.equal(Buffer.byteLength(`<190>1 ${TS} host app web.1 - hello\n`), 63);
});

test('logplexFrames: several frames, subsets, empty input', () => {
  const xs = [f('one'), f('two', { source: 'heroku', dyno: 'router', pri: 158 }), f('', { pri: 0 }), f('four', { pri: 7, ts: '-' })];
  const recs = xs.map((x, i) => rec(x, i + 1));
  assert.deepEqual(logplexFrames.encode(recs), Buffer.concat(xs.map(logplex)));
  assert.deepEqual(logplexFrames.encode(recs, 1, 3), Buffer.concat([logplex(xs[1]!), logplex(xs[2]!)]));
  assert.equal(logplexFrames.encode([]).length, 0);
  assert.equal(logplexFrames.encode(recs, 2, 2).length, 0);
  assert.ok(logplexFrames.encode([recs[2]!]).toString('latin1').startsWith('56 <0>1 '));
});

test('LEN is right across digit boundaries and PRI widths', () => {
  for (const pri of [0, 9, 10, 99, 100, 191]) {
    for (let n = 0; n <= 10_000; n += n < 1100 ? 1 : 997) {
      const x = f(Buffer.alloc(n, 0x61), { pri });
      const r = rec(x);
      const want = logplex(x);
      assert.equal(logplexFrames.frameLength(r), want.length);
      const got = logplexFrames.encode([r]);
      if (!got.equals(want)) assert.fail(`pri ${pri}, ${n}-byte message: ${got.subarray(0, 60).toString('latin1')}`);
    }
  }
});

test('every field length, around the short-copy threshold and up to the 255-byte maximum', () => {
  const enc = syslogDrainEncoder('d.01234567-89ab-4def-8123-456789abcdef');
  for (const n of [1, 2, 31, 32, 33, 63, 64, 65, 127, 255]) {
    const name = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(8).slice(0, n);
    for (const x of [f('m', { source: name }), f('m', { dyno: name }), f(name, { source: name, dyno: name }), f('m', { ts: `2026-01-02T03:04:05.${'1'.repeat(Math.min(n, 200))}Z` })]) {
      assert.deepEqual(logplexFrames.encode([rec(x)]), logplex(x), `${n}-byte field`);
      assert.deepEqual(enc.encode([rec(x)]), frame(x, ' d.01234567-89ab-4def-8123-456789abcdef ', '- - '), `${n}-byte field, syslog`);
    }
  }
});

test('write() at an offset into a bigger buffer returns the end', () => {
  const x = f('hello');
  const want = logplex(x);
  const out = Buffer.alloc(want.length + 10, 0x7e);
  const end = logplexFrames.write(rec(x), out, 4);
  assert.equal(end, 4 + want.length);
  assert.deepEqual(out.subarray(4, end), want);
  assert.equal(out.toString('latin1', 0, 4), '~~~~');
  assert.equal(out.toString('latin1', end), '~~~~~~');
});

test('syslogDrainEncoder: drain token as HOSTNAME, nil MSGID and SD', () => {
  const enc = syslogDrainEncoder('d.01234567-89ab-4def-8123-456789abcdef');
  const xs = [f('hello'), f('second line', { source: 'heroku', dyno: 'logplex', pri: 172 })];
  const out = enc.encode(xs.map((x) => rec(x)));
  assert.deepEqual(out, Buffer.concat(xs.map((x) => frame(x, ' d.01234567-89ab-4def-8123-456789abcdef ', '- - '))));
  assert.equal(
    out.toString('latin1', 0, out.indexOf(0x0a) + 1),
    `99 <190>1 ${TS} d.01234567-89ab-4def-8123-456789abcdef app web.1 - - hello\n`,
  );
  for (let i = 0; i < xs.length; i++) assert.equal(enc.frameLength(rec(xs[i]!)), frame(xs[i]!, ' d.01234567-89ab-4def-8123-456789abcdef ', '- - ').length);
});

test('textLine: Heroku display format, no newline', () => {
  assert.equal(textLine(rec(f('hello'))).toString('latin1'), `${TS} app[web.1]: hello`);
  assert.equal(textLine(rec(f('', { source: 'heroku', dyno: 'router' }))).toString('latin1'), `${TS} heroku[router]: `);
  assert.equal(textLine(rec(f('x', { dyno: '' }))).toString('latin1'), `${TS} app[]: x`);
});

test('multi-byte UTF-8 and invalid UTF-8 are kept as sent, LEN in bytes', () => {
  const utf8 = Buffer.from('héllo ☃ 😀 日本', 'utf8');
  const invalid = Buffer.from([0x66, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x00, 0x0d, 0xf0, 0x9f, 0x98]);
  for (const msg of [utf8, invalid, Buffer.concat([invalid, utf8])]) {
    const x = f(msg, { dyno: 'wörker.1' });
    const r = rec(x);
    assert.deepEqual(logplexFrames.encode([r]), logplex(x));
    const enc = syslogDrainEncoder('d.x');
    assert.deepEqual(enc.encode([r]), frame(x, ' d.x ', '- - '));
    assert.deepEqual(textLine(r), Buffer.concat([Buffer.from(`${TS} app[wörker.1]: `, 'utf8'), msg]));
  }
  // LEN counts bytes, not characters
  const snow = logplexFrames.encode([rec(f('☃'))]).toString('utf8');
  assert.ok(snow.startsWith(`61 <190>1 ${TS} host app web.1 - ☃\n`), snow);
});
