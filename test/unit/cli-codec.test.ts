// The CLI's byte handling: stdin line splitting (send) and history parsing (logs).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { logplexFrames } from '../../src/drains/frame.js';
import { lineFrom } from '../../src/line.js';
import { parseHistory } from '../../src/cli/logs.js';
import { LineSplitter, MAX_MSG } from '../../src/shipper/splitter.js';

function splitAll(chunks: Buffer[]): string[] {
  const out: string[] = [];
  const sp = new LineSplitter((b, s, e) => out.push(b.toString('utf8', s, e)));
  for (const c of chunks) sp.push(c);
  sp.end();
  return out;
}

describe('LineSplitter', () => {
  // a line of exactly MAX_MSG bytes then CR LF: its early piece must not leave an empty line behind
  const input = Buffer.from(`a\r\nbb\n\n- x\n${'\u00e9'.repeat(6000)}\n${'\u00e8'.repeat(5000)}\r\ntail\r`);
  const expected = ['a', 'bb', '', '- x', '\u00e9'.repeat(5000), '\u00e9'.repeat(1000), '\u00e8'.repeat(5000), 'tail'];

  it('gives the same lines whatever the chunking (every split offset)', () => {
    assert.deepEqual(splitAll([input]), expected);
    const crlf = input.indexOf('\r\ntail');
    const offsets = [];
    for (let i = 0; i <= input.length; i += 7) offsets.push(i);
    for (let i = crlf - 3; i <= crlf + 3; i++) offsets.push(i);
    for (const i of offsets) {
      assert.deepEqual(splitAll([input.subarray(0, i), input.subarray(i)]), expected, `split at ${i}`);
    }
  });

  it('never cuts a UTF-8 character and never exceeds MAX_MSG, even without any LF', () => {
    const long = Buffer.from('\u2603'.repeat(9000)); // 27,000 bytes, 3 per character
    const pieces: Buffer[] = [];
    const sp = new LineSplitter((b, s, e) => pieces.push(Buffer.from(b.subarray(s, e))));
    for (let i = 0; i < long.length; i += 4096) sp.push(long.subarray(i, i + 4096));
    sp.end();
    for (const p of pieces) {
      assert.ok(p.length <= MAX_MSG);
      assert.equal(p.length % 3, 0);
    }
    assert.equal(Buffer.concat(pieces).toString(), long.toString());
  });

  it('sends nothing for empty input and no extra line after a final LF', () => {
    assert.deepEqual(splitAll([]), []);
    assert.deepEqual(splitAll([Buffer.from('x\n')]), ['x']);
  });
});

describe('history parsing', () => {
  const recs = [
    lineFrom({ pri: 190, ts: '2024-01-01T00:00:00.000001+00:00', source: 'app', dyno: 'web.1', msg: 'hello  world' }),
    lineFrom({ pri: 13, ts: '2024-01-01T00:00:01Z', source: 'heroku', dyno: 'router', msg: '- [looks like sd] \u2603' }),
    lineFrom({ pri: 0, ts: '2024-01-01T00:00:02Z', source: 'app', dyno: 'run.1', msg: '' }),
  ];

  it('round-trips what the server encodes, split at any byte', () => {
    const body = logplexFrames.encode(recs);
    const lines = parseHistory(body);
    assert.deepEqual(
      lines.map((l) => [l.pri, l.ts, l.source, l.dyno, l.msg.toString()]),
      [
        [190, '2024-01-01T00:00:00.000001+00:00', 'app', 'web.1', 'hello  world'],
        [13, '2024-01-01T00:00:01Z', 'heroku', 'router', '- [looks like sd] \u2603'],
        [0, '2024-01-01T00:00:02Z', 'app', 'run.1', ''],
      ],
    );
  });

  it('rejects a body that is not octet-counted history', () => {
    assert.throws(() => parseHistory(Buffer.from('hello\n')), /cannot be read/);
    assert.throws(() => parseHistory(Buffer.from('5 hello')), /not `<PRI>1/);
    assert.throws(() => parseHistory(Buffer.from('50 <1>1 ts')), /cannot be read/);
  });
});
