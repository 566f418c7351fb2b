// OctetFramer (RFC 6587): bytes in, frames out. Every input is replayed whole,
// split at every byte offset, split at every pair of offsets (short inputs),
// fed one byte at a time and in random chunks; all must give the same frames
// and the same error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameError, MAX_FRAME, OctetFramer, type OctetFramerOptions } from '../../src/ingest/framing.js';

interface Outcome {
  frames: string[];
  error: FrameError;
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Feed chunks then end(); after the first error, keep feeding and check the framer stays dead. */
function run(chunks: readonly Buffer[], opts: OctetFramerOptions): Outcome {
  const frames: string[] = [];
  const framer = new OctetFramer((buf, s, e) => frames.push(buf.toString('latin1', s, e)), opts);
  let error: FrameError = FrameError.NONE;
  for (const c of chunks) {
    const r = framer.push(c);
    if (error !== FrameError.NONE) {
      assert.equal(r, error, 'a dead framer keeps returning its error');
    } else if (r !== FrameError.NONE) {
      error = r;
    }
  }
  const before = frames.length;
  const r = framer.end();
  if (error !== FrameError.NONE) {
    assert.equal(r, error, 'end() of a dead framer returns its error');
    assert.equal(frames.length, before, 'a dead framer hands out nothing at end()');
  } else {
    error = r;
  }
  assert.equal(framer.error, error);
  assert.equal(framer.frames, frames.length);
  return { frames, error };
}

function* splits(input: Buffer, pairs: boolean): Generator<Buffer[]> {
  const n = input.length;
  for (let k = 0; k <= n; k++) yield [input.subarray(0, k), input.subarray(k)];
  if (pairs) {
    for (let k = 1; k < n; k++) for (let m = k + 1; m < n; m++) yield [input.subarray(0, k), input.subarray(k, m), input.subarray(m)];
  }
  const bytes: Buffer[] = [];
  for (let k = 0; k < n; k++) bytes.push(input.subarray(k, k + 1));
  yield bytes;
  // a few random chunkings, with empty chunks sprinkled in
  let seed = n * 7919 + 1;
  const rnd = (m: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % m;
  };
  for (let t = 0; t < 8; t++) {
    const out: Buffer[] = [];
    let p = 0;
    while (p < n) {
      const len = rnd(7) === 0 ? 0 : 1 + rnd(Math.max(1, Math.min(n - p, 40)));
      out.push(input.subarray(p, p + len));
      p += len;
    }
    yield out;
  }
}

/** The outcome of the whole input, then assert every split of it gives the same. */
function replay(input: Buffer, opts: OctetFramerOptions): Outcome {
  const whole = run([input], opts);
  const pairs = input.length <= 160;
  for (const chunks of splits(input, pairs)) {
    const got = run(chunks, opts);
    assert.deepEqual(got, whole, `split ${chunks.map((c) => c.length).join('+')} of ${JSON.stringify(input.toString('latin1').slice(0, 80))}`);
  }
  return whole;
}

const octet = (msg: string | Buffer): Buffer => {
  const m = typeof msg === 'string' ? b(msg) : msg;
  return Buffer.concat([b(`${m.length} `), m]);
};

const LF_OPTS: OctetFramerOptions = { allowLfFrames: true, skipSeparators: true };

test('octet-counted frames, split anywhere', () => {
  const cases: Array<[Buffer, string[]]> = [
    [b(''), []],
    [b('5 hello'), ['hello']],
    [b('5 hello11 hello world'), ['hello', 'hello world']],
    [octet('<13>1 - host app web.1 - - line with\nembedded LF\n'), ['<13>1 - host app web.1 - - line with\nembedded LF\n']],
    [Buffer.concat([octet('a'), octet('bc'), octet('def'), octet('x'.repeat(123)), octet('9 9 9 ')]), ['a', 'bc', 'def', 'x'.repeat(123), '9 9 9 ']],
    // a frame whose body looks like another frame header
    [octet('3 abc'), ['3 abc']],
    // `<` inside an octet frame is just a byte
    [octet('<<<\n<'), ['<<<\n<']],
  ];
  for (const opts of [{}, LF_OPTS]) {
    for (const [input, frames] of cases) {
      assert.deepEqual(replay(input, opts), { frames, error: FrameError.NONE });
    }
  }
});

test('binary bytes and multi-digit lengths survive splitting', () => {
  const body = Buffer.alloc(300);
  for (let i = 0; i < body.length; i++) body[i] = (i * 37) & 0xff;
  const input = Buffer.concat([octet(body), octet(body.subarray(0, 10)), octet(body.subarray(5, 105))]);
  const out = replay(input, {});
  assert.equal(out.error, FrameError.NONE);
  assert.deepEqual(out.frames.map((f) => b(f)), [body, body.subarray(0, 10), body.subarray(5, 105)]);
});

test('LF-terminated frames (start with <) mixed with octet-counted', () => {
  const input = b('<13>1 - h a p - - one\n11 <13>1 two!!<14>1 - h a p - - three\r\n<15>four\n5 five!\n<16>six-at-end');
  assert.deepEqual(replay(input, LF_OPTS), {
    frames: ['<13>1 - h a p - - one', '<13>1 two!!', '<14>1 - h a p - - three\r', '<15>four', 'five!', '<16>six-at-end'],
    error: FrameError.NONE,
  });
  // an empty LF frame `<\n` is a one-byte frame
  assert.deepEqual(replay(b('<\n<a\n'), LF_OPTS), { frames: ['<', '<a'], error: FrameError.NONE });
});

test('LF frames are not recognised unless allowed', () => {
  assert.deepEqual(replay(b('<13>1 x\n'), {}), { frames: [], error: FrameError.BAD_START });
  assert.deepEqual(replay(b('3 abc<13>1 x\n'), { skipSeparators: true }), { frames: ['abc'], error: FrameError.BAD_START });
});

test('separators between frames are skipped only when skipSeparators', () => {
  const input = b('\r\n 5 hello\n6 world!\r\n\n  3 abc \n');
  assert.deepEqual(replay(input, { skipSeparators: true }), { frames: ['hello', 'world!', 'abc'], error: FrameError.NONE });
  assert.deepEqual(replay(input, LF_OPTS), { frames: ['hello', 'world!', 'abc'], error: FrameError.NONE });
  assert.deepEqual(replay(input, {}), { frames: [], error: FrameError.BAD_START });
  assert.deepEqual(replay(b('5 hello\n6 world!'), {}), { frames: ['hello'], error: FrameError.BAD_START });
  assert.deepEqual(replay(b('5 hello 6 world!'), { allowLfFrames: true }), { frames: ['hello'], error: FrameError.BAD_START });
  // a tab is not a separator
  assert.deepEqual(replay(b('5 hello\t6 world!'), LF_OPTS), { frames: ['hello'], error: FrameError.BAD_START });
});

test('malformed input: every kind, with the frames before it', () => {
  const cases: Array<[string, string[], FrameError]> = [
    ['x', [], FrameError.BAD_START],
    ['hello world', [], FrameError.BAD_START],
    ['-5 hello', [], FrameError.BAD_START],
    ['5 hello\x00', ['hello'], FrameError.BAD_START],
    ['05 hello', [], FrameError.LEADING_ZERO],
    ['0 ', [], FrameError.LEADING_ZERO],
    ['5 hello0 ', ['hello'], FrameError.LEADING_ZERO],
    ['5hello', [], FrameError.BAD_LENGTH],
    ['5\nhello', [], FrameError.BAD_LENGTH],
    ['12<13>1 x', [], FrameError.BAD_LENGTH],
    ['3 abc4x', ['abc'], FrameError.BAD_LENGTH],
    [`${MAX_FRAME + 1} x`, [], FrameError.TOO_LARGE],
    ['99999999999999999999999999 x', [], FrameError.TOO_LARGE],
    ['10 hello', [], FrameError.TRUNCATED],
    ['5 hello12', ['hello'], FrameError.TRUNCATED],
    ['5 hello3 ', ['hello'], FrameError.TRUNCATED],
    ['7', [], FrameError.TRUNCATED],
  ];
  for (const opts of [{}, LF_OPTS]) {
    for (const [input, frames, error] of cases) {
      assert.deepEqual(replay(b(input), opts), { frames, error }, input);
    }
  }
});

test('frame length limit: 64 KiB accepted, one byte more refused (counted and LF frames)', () => {
  const max = Buffer.alloc(MAX_FRAME, 0x61);
  const ok = Buffer.concat([octet(max), octet('tail')]);
  for (const chunks of [[ok], [ok.subarray(0, 3), ok.subarray(3)], [ok.subarray(0, 40000), ok.subarray(40000)]]) {
    const out = run(chunks, {});
    assert.equal(out.error, FrameError.NONE);
    assert.equal(out.frames.length, 2);
    assert.equal(out.frames[0]!.length, MAX_FRAME);
  }
  const big = Buffer.concat([b(`${MAX_FRAME + 1} `), Buffer.alloc(MAX_FRAME + 1, 0x61)]);
  assert.deepEqual(run([big], {}), { frames: [], error: FrameError.TOO_LARGE });

  // LF frames: MAX_FRAME bytes before the LF are fine, one more is too large,
  // whether the LF is in the same chunk, a later chunk, or never comes.
  const lfOk = Buffer.concat([b('<'), Buffer.alloc(MAX_FRAME - 1, 0x62), b('\n5 after')]);
  for (const chunks of [[lfOk], [lfOk.subarray(0, 1000), lfOk.subarray(1000)], [lfOk.subarray(0, 30000), lfOk.subarray(30000, 60000), lfOk.subarray(60000)]]) {
    const out = run(chunks, LF_OPTS);
    assert.equal(out.error, FrameError.NONE);
    assert.equal(out.frames.length, 2);
    assert.equal(out.frames[0]!.length, MAX_FRAME);
    assert.equal(out.frames[1], 'after');
  }
  const lfBig = Buffer.concat([b('5 first<'), Buffer.alloc(MAX_FRAME, 0x62), b('\n5 after')]);
  for (const chunks of [[lfBig], [lfBig.subarray(0, 9), lfBig.subarray(9)], [lfBig.subarray(0, 30000), lfBig.subarray(30000, 60000), lfBig.subarray(60000)]]) {
    assert.deepEqual(run(chunks, LF_OPTS), { frames: ['first'], error: FrameError.TOO_LARGE });
  }
  const lfNoEnd = Buffer.concat([b('<'), Buffer.alloc(MAX_FRAME + 10, 0x62)]);
  assert.deepEqual(run([lfNoEnd], LF_OPTS), { frames: [], error: FrameError.TOO_LARGE });
  assert.deepEqual(run([lfNoEnd.subarray(0, 100), lfNoEnd.subarray(100)], LF_OPTS), { frames: [], error: FrameError.TOO_LARGE });
});

test('maxFrame option is honoured for both kinds, split anywhere', () => {
  const opts = { ...LF_OPTS, maxFrame: 8 };
  assert.deepEqual(replay(b('8 12345678<2345678\n'), opts), { frames: ['12345678', '<2345678'], error: FrameError.NONE });
  assert.deepEqual(replay(b('9 123456789'), opts), { frames: [], error: FrameError.TOO_LARGE });
  assert.deepEqual(replay(b('1 x<23456789\n'), opts), { frames: ['x'], error: FrameError.TOO_LARGE });
  assert.deepEqual(replay(b('1 x<23456789'), opts), { frames: ['x'], error: FrameError.TOO_LARGE });
});

test('after an error the framer stays dead', () => {
  const frames: string[] = [];
  const f = new OctetFramer((buf, s, e) => frames.push(buf.toString('latin1', s, e)), LF_OPTS);
  assert.equal(f.push(b('3 abc')), FrameError.NONE);
  assert.equal(f.push(b('x3 def')), FrameError.BAD_START);
  assert.equal(f.error, FrameError.BAD_START);
  assert.equal(f.push(b('3 ghi')), FrameError.BAD_START);
  assert.equal(f.push(b('<13>1 x\n')), FrameError.BAD_START);
  assert.equal(f.push(Buffer.alloc(0)), FrameError.BAD_START, 'even an empty chunk reports the error');
  assert.equal(f.end(), FrameError.BAD_START);
  assert.equal(f.idle, false);
  assert.deepEqual(frames, ['abc']);
  assert.equal(f.frames, 1);
});

test('frames handed out whole in one chunk are views into it (no copy)', () => {
  const chunk = b('5 hello5 world');
  const seen: Array<[Buffer, number, number]> = [];
  const f = new OctetFramer((buf, s, e) => seen.push([buf, s, e]));
  f.push(chunk);
  assert.deepEqual(seen, [[chunk, 2, 7], [chunk, 9, 14]]);
  assert.equal(f.idle, true);
  f.push(b('5 he'));
  assert.equal(f.idle, false);
});
