// scanSyslog (RFC 5424 header scan): bytes in, offsets out. Every case is also
// scanned from inside a bigger buffer at an offset, with bytes around it that
// would change the answer if the scanner looked past its range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScanError, SyslogHeader, scanSyslog } from '../../src/ingest/syslog.js';

interface Fields {
  pri: number;
  ts: string;
  host: string;
  app: string;
  proc: string;
  msg: string;
}
type Result = { err: ScanError; f?: Fields };

const hdr = new SyslogHeader();

function fieldsOf(buf: Buffer, h: SyslogHeader): Fields {
  const s = (a: number, b: number): string => buf.toString('latin1', a, b);
  return { pri: h.pri, ts: s(h.tsStart, h.tsEnd), host: s(h.hostStart, h.hostEnd), app: s(h.appStart, h.appEnd), proc: s(h.procStart, h.procEnd), msg: s(h.msgStart, h.msgEnd) };
}

const PREFIXES = ['', '<13>1 ', '5 <99>1 x y z w ', '\n\r[a@1 b="c"] '];
const SUFFIXES = ['', ' more', '\n', '"]] [x@1 k="v"] tail', '\xef\xbb\xbf'];

/** Scan alone, then at an offset inside bigger buffers; all must agree. */
function scan(input: string | Buffer): Result {
  const msg = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const err = scanSyslog(msg, 0, msg.length, hdr);
  const whole: Result = err === ScanError.OK ? { err, f: fieldsOf(msg, hdr) } : { err };
  for (const pre of PREFIXES) {
    for (const suf of SUFFIXES) {
      const p = Buffer.from(pre, 'latin1');
      const buf = Buffer.concat([p, msg, Buffer.from(suf, 'latin1')]);
      const e2 = scanSyslog(buf, p.length, p.length + msg.length, hdr);
      const got: Result = e2 === ScanError.OK ? { err: e2, f: fieldsOf(buf, hdr) } : { err: e2 };
      assert.deepEqual(got, whole, `at offset ${p.length} with suffix ${JSON.stringify(suf)}: ${JSON.stringify(msg.toString('latin1'))}`);
      if (e2 === ScanError.OK) {
        for (const [a, z] of [[hdr.tsStart, hdr.tsEnd], [hdr.hostStart, hdr.hostEnd], [hdr.appStart, hdr.appEnd], [hdr.procStart, hdr.procEnd], [hdr.msgStart, hdr.msgEnd]] as const) {
          assert.ok(a >= p.length && z <= p.length + msg.length && a <= z, 'offsets stay inside the range');
        }
      }
    }
  }
  return whole;
}

const ok = (f: Partial<Fields>): Result => ({
  err: ScanError.OK,
  f: { pri: 13, ts: '2026-01-02T03:04:05.678901+00:00', host: 'host', app: 't.app', proc: 'web.1', msg: '', ...f },
});
const TS = '2026-01-02T03:04:05.678901+00:00';
const H = `<13>1 ${TS} host t.app web.1`;

test('full RFC 5424 with MSGID and STRUCTURED-DATA', () => {
  assert.deepEqual(
    scan('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] \xef\xbb\xbfAn application event log entry...'),
    { err: ScanError.OK, f: { pri: 165, ts: '2003-10-11T22:14:15.003Z', host: 'mymachine.example.com', app: 'evntslog', proc: '1234', msg: 'An application event log entry...' } },
  );
  // several elements, quoted `]`, escaped quotes and backslashes in values
  assert.deepEqual(scan(`${H} ID47 [x@1 a="b]c" d="e\\"f]" g="h\\\\"][meta sequenceId="1"] msg [not sd]`), ok({ msg: 'msg [not sd]' }));
  assert.deepEqual(scan(`${H} ID47 [x@1 a="]]]"] hello`), ok({ msg: 'hello' }));
  // what logger(1) sends: nil MSGID, a registered SD-ID
  assert.deepEqual(scan(`${H} - [timeQuality tzKnown="1" isSynced="0"] hello one`), ok({ msg: 'hello one' }));
  // SD and nothing after it
  assert.deepEqual(scan(`${H} ID47 [origin ip="10.0.0.1"]`), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} ID47 [origin]`), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} ID47 [x@1 a="1"] `), ok({ msg: '' }));
});

test('nil MSGID and SD', () => {
  assert.deepEqual(scan(`${H} - - hello world`), ok({ msg: 'hello world' }));
  assert.deepEqual(scan(`${H} ID47 - hello`), ok({ msg: 'hello' }));
  assert.deepEqual(scan(`${H} - -`), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} - - `), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} - - - dash`), ok({ msg: '- dash' }));
  assert.deepEqual(scan(`<13>1 - - t.app - - - x`), { err: ScanError.OK, f: { pri: 13, ts: '-', host: '-', app: 't.app', proc: '-', msg: 'x' } });
});

test('PROCID MSG only, and Heroku `web.1 - msg`', () => {
  assert.deepEqual(scan(`${H} hello world`), ok({ msg: 'hello world' }));
  assert.deepEqual(scan(`${H} hello`), ok({ msg: 'hello' }));
  assert.deepEqual(scan(`${H}`), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} `), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} - hello world`), ok({ msg: 'hello world' }));
  assert.deepEqual(scan(`${H} -`), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} - `), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} -hello`), ok({ msg: '-hello' }));
  assert.deepEqual(scan(`${H} - -x`), ok({ msg: '-x' }));
});

test('text that only looks like SD is kept as message (never dropped, never eaten)', () => {
  assert.deepEqual(scan(`${H} - [INFO] server started`), ok({ msg: '[INFO] server started' }));
  assert.deepEqual(scan(`${H} - [main] [INFO] x`), ok({ msg: '[main] [INFO] x' }));
  assert.deepEqual(scan(`${H} Started [GET /x`), ok({ msg: 'Started [GET /x' }));
  assert.deepEqual(scan(`${H} GET [2026-01-02 10:00] ok`), ok({ msg: 'GET [2026-01-02 10:00] ok' }));
  assert.deepEqual(scan(`${H} ID47 [x@1 a="unterminated`), ok({ msg: 'ID47 [x@1 a="unterminated' }));
  assert.deepEqual(scan(`${H} ID47 [x@1 a=unquoted] m`), ok({ msg: 'ID47 [x@1 a=unquoted] m' }));
  assert.deepEqual(scan(`${H} ID47 [x@1]tail`), ok({ msg: 'ID47 [x@1]tail' }));
  assert.deepEqual(scan(`${H} ID47 [] m`), ok({ msg: 'ID47 [] m' }));
  assert.deepEqual(scan(`${H} - [x@1 a="\\"]`), ok({ msg: '[x@1 a="\\"]' }));
  // a parameter makes it SD even without `@` (lenient for senders that skip it)
  assert.deepEqual(scan(`${H} - [tags env="prod"] m`), ok({ msg: 'm' }));
});

test('UTF-8 BOM is removed from the start of MSG only', () => {
  assert.deepEqual(scan(`${H} - - \xef\xbb\xbfhello`), ok({ msg: 'hello' }));
  assert.deepEqual(scan(`${H} \xef\xbb\xbfhello`), ok({ msg: 'hello' }));
  assert.deepEqual(scan(`${H} - - \xef\xbb\xbf`), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} - - a\xef\xbb\xbfb`), ok({ msg: 'a\xef\xbb\xbfb' }));
  assert.deepEqual(scan(`${H} - - \xef\xbbx`), ok({ msg: '\xef\xbbx' }));
});

test('trailing CR/LF trimmed, embedded LF kept, bytes kept as sent', () => {
  assert.deepEqual(scan(`${H} - - hello\n`), ok({ msg: 'hello' }));
  assert.deepEqual(scan(`${H} - - hello\r\n`), ok({ msg: 'hello' }));
  assert.deepEqual(scan(`${H} - - hello\n\r\n\n`), ok({ msg: 'hello' }));
  assert.deepEqual(scan(`${H} - - a\nb\r\nc\n`), ok({ msg: 'a\nb\r\nc' }));
  assert.deepEqual(scan(`${H} - - \r\n`), ok({ msg: '' }));
  assert.deepEqual(scan(`${H} - - trailing spaces  `), ok({ msg: 'trailing spaces  ' }));
  assert.deepEqual(scan(`${H} - - \xff\xfe\x00\xc3(`), ok({ msg: '\xff\xfe\x00\xc3(' }));
});

test('PRI bounds', () => {
  const rest = `1 ${TS} host t.app web.1 - - m`;
  assert.deepEqual(scan(`<0>${rest}`), ok({ pri: 0, msg: 'm' }));
  assert.deepEqual(scan(`<7>${rest}`), ok({ pri: 7, msg: 'm' }));
  assert.deepEqual(scan(`<191>${rest}`), ok({ pri: 191, msg: 'm' }));
  assert.deepEqual(scan(`<192>${rest}`), { err: ScanError.BAD_PRI });
  assert.deepEqual(scan(`<999>${rest}`), { err: ScanError.BAD_PRI });
  assert.deepEqual(scan(`<013>${rest}`), { err: ScanError.BAD_PRI });
  assert.deepEqual(scan(`<00>${rest}`), { err: ScanError.BAD_PRI });
  assert.deepEqual(scan(`<0013>${rest}`), { err: ScanError.BAD_PRI });
  assert.deepEqual(scan(`<1000>${rest}`), { err: ScanError.BAD_PRI });
  assert.deepEqual(scan(`<13${rest}`), { err: ScanError.BAD_PRI });
  assert.deepEqual(scan('<13'), { err: ScanError.BAD_PRI });
  assert.deepEqual(scan(`<>${rest}`), { err: ScanError.NO_PRI });
  assert.deepEqual(scan(`<x>${rest}`), { err: ScanError.NO_PRI });
  assert.deepEqual(scan(`13>${rest}`), { err: ScanError.NO_PRI });
  assert.deepEqual(scan(` <13>${rest}`), { err: ScanError.NO_PRI });
  assert.deepEqual(scan('<'), { err: ScanError.NO_PRI });
  assert.deepEqual(scan(''), { err: ScanError.NO_PRI });
});

test('bad version', () => {
  for (const v of ['<13>', '<13>1', '<13>2 x', '<13>0 x', '<13>10 x', '<13>1x', '<13> 1 x', `<13>${TS} host app - - m`, '<13>Oct 11 22:14:15 host app: BSD syslog']) {
    assert.deepEqual(scan(v), { err: ScanError.BAD_VERSION }, v);
  }
});

test('missing fields', () => {
  assert.deepEqual(scan('<13>1 '), { err: ScanError.NO_TIMESTAMP });
  assert.deepEqual(scan('<13>1  host app p'), { err: ScanError.NO_TIMESTAMP });
  assert.deepEqual(scan(`<13>1 ${TS}`), { err: ScanError.NO_HOSTNAME });
  assert.deepEqual(scan(`<13>1 ${TS} `), { err: ScanError.NO_HOSTNAME });
  assert.deepEqual(scan(`<13>1 ${TS}  app p`), { err: ScanError.NO_HOSTNAME });
  assert.deepEqual(scan(`<13>1 ${TS} host`), { err: ScanError.NO_APPNAME });
  assert.deepEqual(scan(`<13>1 ${TS} host `), { err: ScanError.NO_APPNAME });
  assert.deepEqual(scan(`<13>1 ${TS} host  p m`), { err: ScanError.NO_APPNAME });
  assert.deepEqual(scan(`<13>1 ${TS} host t.app`), { err: ScanError.NO_PROCID });
  assert.deepEqual(scan(`<13>1 ${TS} host t.app `), { err: ScanError.NO_PROCID });
  assert.deepEqual(scan(`<13>1 ${TS} host t.app  m`), { err: ScanError.NO_PROCID });
});

test('field length limits: at the limit accepted, one more refused', () => {
  const f = (ts: string, host: string, app: string, proc: string): string => `<13>1 ${ts} ${host} ${app} ${proc} - - m`;
  const [ts64, h255, a64, p128] = ['T'.repeat(64), 'h'.repeat(255), 'a'.repeat(64), 'p'.repeat(128)];
  assert.deepEqual(scan(f(ts64, h255, a64, p128)), { err: ScanError.OK, f: { pri: 13, ts: ts64, host: h255, app: a64, proc: p128, msg: 'm' } });
  assert.deepEqual(scan(f(`${ts64}T`, 'h', 'a', 'p')), { err: ScanError.FIELD_TOO_LONG });
  assert.deepEqual(scan(f('t', `${h255}h`, 'a', 'p')), { err: ScanError.FIELD_TOO_LONG });
  assert.deepEqual(scan(f('t', 'h', `${a64}a`, 'p')), { err: ScanError.FIELD_TOO_LONG });
  assert.deepEqual(scan(f('t', 'h', 'a', `${p128}p`)), { err: ScanError.FIELD_TOO_LONG });
  // a MSGID over 32 bytes is not a MSGID: the message starts after PROCID
  const long = 'M'.repeat(33);
  assert.deepEqual(scan(`${H} ${long} - m`), ok({ msg: `${long} - m` }));
  assert.deepEqual(scan(`${H} ${'M'.repeat(32)} - m`), ok({ msg: 'm' }));
  // an SD-ID over 32 bytes is not SD
  assert.deepEqual(scan(`${H} - [${'s'.repeat(31)}@1 a="b"] m`), ok({ msg: `[${'s'.repeat(31)}@1 a="b"] m` }));
  assert.deepEqual(scan(`${H} - [${'s'.repeat(30)}@1 a="b"] m`), ok({ msg: 'm' }));
});

test('a reused header is fully rewritten by each scan', () => {
  const h = new SyslogHeader();
  const a = Buffer.from(`<190>1 ${TS} hostA t.aaa router - - first`, 'latin1');
  const b = Buffer.from(`<13>1 - h t.b w hello`, 'latin1');
  assert.equal(scanSyslog(a, 0, a.length, h), ScanError.OK);
  assert.equal(scanSyslog(b, 0, b.length, h), ScanError.OK);
  assert.deepEqual(fieldsOf(b, h), { pri: 13, ts: '-', host: 'h', app: 't.b', proc: 'w', msg: 'hello' });
});

test('a large message is scanned without copying: MSG offsets cover it', () => {
  const body = Buffer.alloc(70_000, 0x78);
  const buf = Buffer.concat([Buffer.from(`${H} - - `, 'latin1'), body, Buffer.from('\n')]);
  assert.equal(scanSyslog(buf, 0, buf.length, hdr), ScanError.OK);
  assert.equal(hdr.msgEnd - hdr.msgStart, body.length);
});

test('fields of every length across the byte-loop and word steps of the SP search', () => {
  const word = (n: number, c: string): string => Array.from({ length: n }, (_, i) => String.fromCharCode(c.charCodeAt(0) + (i % 3))).join('');
  for (let n = 1; n <= 40; n++) {
    const [ts, host, app, proc] = [word(n, 'T'), word(n, 'h'), word(n, 'a'), word(n, 'p')];
    assert.deepEqual(scan(`<13>1 ${ts} host t.app web.1 - - m`), ok({ ts, msg: 'm' }), `ts ${n}`);
    assert.deepEqual(scan(`<13>1 ${TS} ${host} t.app web.1 - - m`), ok({ host, msg: 'm' }), `host ${n}`);
    assert.deepEqual(scan(`<13>1 ${TS} host ${app} web.1 - - m`), ok({ app, msg: 'm' }), `app ${n}`);
    assert.deepEqual(scan(`<13>1 ${TS} host t.app ${proc} - - m`), ok({ proc, msg: 'm' }), `proc ${n}`);
    // the last field running to the end of the range
    assert.deepEqual(scan(`<13>1 ${TS} host t.app ${proc}`), ok({ proc }), `proc ${n} at the end`);
    // MSGID: up to 32 bytes followed by SD it is a MSGID; longer it is message text
    const id = word(n, 'M');
    assert.deepEqual(scan(`${H} ${id} - m`), ok({ msg: n <= 32 ? 'm' : `${id} - m` }), `msgid ${n}`);
    assert.deepEqual(scan(`${H} ${id} -`), ok({ msg: n <= 32 ? '' : `${id} -` }), `msgid ${n} then nil SD at the end`);
    assert.deepEqual(scan(`${H} ${id}`), ok({ msg: id }), `msgid-like ${n} alone`);
  }
});
