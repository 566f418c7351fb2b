// The one frame POST /logs cooks as heroku[logplane] whatever the token
// (ingest/local-notice.ts): `logplane run`'s L12 / L13 notice, exactly as
// the shipper writes it (shipper/frames.ts), and nothing one byte off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLocalNotice, isNoticeText } from '../../src/ingest/local-notice.js';
import { ScanError, SyslogHeader, scanSyslog } from '../../src/ingest/syslog.js';
import { l12Text, l13Text, noticeHeader } from '../../src/shipper/frames.js';

const SINCE = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const L12 = l12Text(39, SINCE);
const L13 = l13Text(11, SINCE);

function text(s: string): boolean {
  // inside a larger buffer, as a frame is a view of a body: nothing past end is read
  const b = Buffer.from(`xx${s}. and more`, 'latin1');
  return isNoticeText(b, 2, 2 + Buffer.byteLength(s, 'latin1'));
}

function frame(header: string | Buffer, msg: string): boolean {
  const buf = Buffer.concat([typeof header === 'string' ? Buffer.from(header) : header, Buffer.from(msg)]);
  const h = new SyslogHeader();
  assert.equal(scanSyslog(buf, 0, buf.length, h), ScanError.OK);
  return isLocalNotice(h, buf);
}

test("the shipper's own L12 and L13 lines are notices, for any count and time it writes", () => {
  assert.equal(L12, 'Error L12 (Local buffer overflow): 39 messages dropped since 2026-01-02T03:04:05.678000+00:00.');
  assert.equal(L13, 'Error L13 (Local delivery error): 11 messages could not be delivered since 2026-01-02T03:04:05.678000+00:00.');
  for (const n of [1, 9, 10, 500, 25_000, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    for (const ms of [0, SINCE, Date.UTC(9999, 11, 31, 23, 59, 59, 999)]) {
      assert.ok(text(l12Text(n, ms)), l12Text(n, ms));
      assert.ok(text(l13Text(n, ms)), l13Text(n, ms));
    }
  }
});

test('a notice frame is one with APP-NAME heroku and PROCID logplane, as noticeHeader writes it', () => {
  const header = noticeHeader(SINCE, 'dyno-host');
  assert.equal(header.toString(), '<172>1 2026-01-02T03:04:05.678000+00:00 dyno-host heroku logplane - - ');
  assert.ok(frame(header, L12));
  assert.ok(frame(header, L13));
  assert.ok(frame('<190>1 - h heroku logplane ', L12), 'nil TIMESTAMP, no MSGID or SD, another PRI');
  assert.ok(frame('<172>1 2026-01-02T03:04:05Z h heroku logplane - - ', `${L13}\r\n`), 'a trailing CRLF is not part of the message (SPEC 3.3)');
  for (const [app, proc] of [['app', 'logplane'], ['heroku', 'router'], ['heroku', 'logplane.1'], ['herokux', 'logplane'], ['Heroku', 'logplane'], ['heroku', 'LOGPLANE'], ['hXroku', 'logplane'], ['heroku', 'logplanX']]) {
    assert.equal(frame(`<172>1 - h ${app} ${proc} - - `, L12), false, `${app} ${proc}`);
  }
  assert.equal(frame(header, `${L12}\nnext`), false, 'a message with an LF');
  assert.equal(frame(header, 'Error L12 (Local buffer overflow): lots'), false);
});

test('every one-byte change of a notice text makes it no notice, except one that leaves a valid count or time', () => {
  for (const s of [L12, L13]) {
    const n = /: (\d+) /.exec(s)!;
    const nFrom = n.index + 2;
    const nTo = nFrom + n[1]!.length;
    const tFrom = s.length - 1 - '2026-01-02T03:04:05.678000+00:00'.length;
    for (let i = 0; i < s.length; i++) {
      const dropped = s.slice(0, i) + s.slice(i + 1);
      // taking one digit out of a count of two or more leaves a count (unless it leaves a leading zero)
      const stillCount = i >= nFrom && i < nTo && n[1]!.length > 1 && dropped[nFrom] !== '0';
      assert.equal(text(dropped), stillCount, `without byte ${i}: ${dropped}`);
      assert.equal(text(`${s.slice(0, i)}x${s.slice(i + 1)}`), false, `x at ${i}`);
      assert.equal(text(`${s.slice(0, i)}x${s.slice(i)}`), false, `x inserted at ${i}`);
      const c = s.charCodeAt(i);
      if (c >= 0x30 && c <= 0x39) {
        // a digit for another digit: still a notice in the count (unless it then starts with 0) and the time's
        // digits before +00:00; anywhere else (L12, L13, +00:00) not
        const other = String.fromCharCode(c === 0x39 ? 0x30 : c + 1);
        const ok = (i >= nFrom && i < nTo && !(i === nFrom && other === '0')) || (i >= tFrom && i < tFrom + 26);
        assert.equal(text(`${s.slice(0, i)}${other}${s.slice(i + 1)}`), ok, `digit at ${i}`);
      }
    }
    assert.equal(text(`${s} `), false, 'a space after the period');
    assert.equal(text(s.slice(0, -1)), false, 'no period');
  }
});

test('the count: 1 to 16 digits, no leading zero; the time: microseconds and +00:00', () => {
  const t = '2026-01-02T03:04:05.678000+00:00';
  const l12 = (n: string, ts = t) => `Error L12 (Local buffer overflow): ${n} messages dropped since ${ts}.`;
  assert.ok(text(l12('1')));
  assert.ok(text(l12('9'.repeat(16))));
  for (const n of ['', '0', '07', '9'.repeat(17), '-1', '+1', '1.5', '1e3', ' 1', '１']) assert.equal(text(l12(n)), false, JSON.stringify(n));
  for (const ts of ['2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05.678+00:00', '2026-01-02T03:04:05.6780000+00:00', '2026-01-02T03:04:05.678000+01:00', '2026-01-02T03:04:05.678000-00:00', '2026-01-02 03:04:05.678000+00:00', '2026-01-02T03:04:05.678000Z', '']) {
    assert.equal(text(l12('5', ts)), false, ts);
  }
});
