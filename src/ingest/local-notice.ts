// The one frame POST /logs does not give the token's name as source (SPEC
// 3.3, 14): `logplane run`'s own L12 / L13 notice. The shipper sends it with
// the app token it ships with (it has no `heroku` token: only an admin makes
// one), so without this the notice would read `app[logplane]`. A frame
// whose APP-NAME is `heroku`, PROCID `logplane` and message exactly
//
//   Error L12 (Local buffer overflow): <N> messages dropped since <T>.
//   Error L13 (Local delivery error): <N> messages could not be delivered since <T>.
//
// (N: 1-16 digits, no leading zero; T: `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`,
// what shipper/frames.ts timestamp() writes) is cooked with source `heroku`;
// its dyno is its PROCID, `logplane`. Nothing else: so the holder of an app
// token can write these two texts as heroku[logplane] into its own app, and
// no other heroku line (the allowance log-shuttle has on Heroku). Checked per
// frame: an ordinary frame costs a length compare and one byte (APP-NAME).
// Over syslog the token is the APP-NAME, so no such frame authenticates
// (APP-NAME `heroku` is an unknown token): the allowance is POST /logs only.
import * as chars from '../basics/chars.js';
import type { SyslogHeader } from './syslog.js';

const { DIGIT_0, DIGIT_9, DOT } = chars;

/** The source a notice frame is cooked with. */
export const NOTICE_SOURCE: Buffer = Buffer.from('heroku', 'latin1');
const APP_NAME = NOTICE_SOURCE;
const PROCID = Buffer.from('logplane', 'latin1');
const H = APP_NAME[0]!;

const L12_HEAD = Buffer.from('Error L12 (Local buffer overflow): ', 'latin1');
const L12_TAIL = Buffer.from(' messages dropped since ', 'latin1');
const L13_HEAD = Buffer.from('Error L13 (Local delivery error): ', 'latin1');
const L13_TAIL = Buffer.from(' messages could not be delivered since ', 'latin1');
/** Digits of N at most: the shipper's counts are safe integers (9007199254740991 has 16). */
const MAX_DIGITS = 16;
/** T's shape: `d` a digit, any other byte itself. */
const T_SHAPE = Buffer.from('dddd-dd-ddTdd:dd:dd.dddddd+00:00', 'latin1');
const D = 0x64; // `d`

/** buf[at, at + s.length) is s (and lies before end). */
function bytesAre(buf: Buffer, at: number, end: number, s: Buffer): boolean {
  if (end - at < s.length) return false;
  for (let i = 0; i < s.length; i++) if (buf[at + i] !== s[i]) return false;
  return true;
}

/** True when the scanned frame is a `logplane run` L12 / L13 notice: cook it with NOTICE_SOURCE. */
export function isLocalNotice(hdr: SyslogHeader, buf: Buffer): boolean {
  const a = hdr.appStart;
  if (hdr.appEnd - a !== APP_NAME.length || buf[a] !== H) return false;
  if (!bytesAre(buf, a, hdr.appEnd, APP_NAME)) return false;
  if (hdr.procEnd - hdr.procStart !== PROCID.length || !bytesAre(buf, hdr.procStart, hdr.procEnd, PROCID)) return false;
  return isNoticeText(buf, hdr.msgStart, hdr.msgEnd);
}

/** buf[start, end) is exactly an L12 or an L13 notice text. */
export function isNoticeText(buf: Buffer, start: number, end: number): boolean {
  let i = start;
  let tail: Buffer;
  if (bytesAre(buf, i, end, L12_HEAD)) {
    i += L12_HEAD.length;
    tail = L12_TAIL;
  } else if (bytesAre(buf, i, end, L13_HEAD)) {
    i += L13_HEAD.length;
    tail = L13_TAIL;
  } else return false;
  const n = i;
  while (i < end && i - n < MAX_DIGITS && buf[i]! >= DIGIT_0 && buf[i]! <= DIGIT_9) i++;
  if (i === n || buf[n] === DIGIT_0 || !bytesAre(buf, i, end, tail)) return false;
  i += tail.length;
  if (end - i !== T_SHAPE.length + 1 || buf[end - 1] !== DOT) return false;
  for (let k = 0; k < T_SHAPE.length; k++) {
    const c = buf[i + k]!;
    const want = T_SHAPE[k]!;
    if (want === D ? c < DIGIT_0 || c > DIGIT_9 : c !== want) return false;
  }
  return true;
}
