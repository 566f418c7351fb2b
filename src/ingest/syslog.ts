// RFC 5424 header scan: byte offsets into the frame, written into a reused
// object. No strings, no regex. Lenient where Logplex clients differ from the
// RFC: MSGID and STRUCTURED-DATA may be absent (`... PROCID MSG`).
//
//   <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID [SP MSGID SP SD] [SP MSG]

import { indexOfByte } from '../basics/bytes.js';
import * as chars from '../basics/chars.js';

// local bindings: the byte loops read them as constants
const { AT, BACKSLASH, CR, DIGIT_0, DIGIT_1, DIGIT_9, DQUOTE, EQ, GT, LBRACKET, LF, LT, NIL, RBRACKET, SP, TILDE } = chars;

export const ScanError = {
  OK: 0,
  NO_PRI: 1,
  BAD_PRI: 2,
  BAD_VERSION: 3,
  NO_TIMESTAMP: 4,
  NO_HOSTNAME: 5,
  NO_APPNAME: 6,
  NO_PROCID: 7,
  BAD_SD: 8,
  FIELD_TOO_LONG: 9,
} as const;
export type ScanError = (typeof ScanError)[keyof typeof ScanError];

export const scanErrorText: Record<ScanError, string> = {
  0: 'ok',
  1: 'missing <PRI>',
  2: 'PRI must be 0-191',
  3: 'missing or unsupported syslog version (want 1)',
  4: 'missing TIMESTAMP',
  5: 'missing HOSTNAME',
  6: 'missing APP-NAME',
  7: 'missing PROCID',
  8: 'malformed STRUCTURED-DATA', // no longer produced: text that is not well-formed SD is kept as message
  9: 'header field too long',
};

/** Why-labels for metrics (small fixed set). */
export const scanErrorReason: Record<ScanError, string> = {
  0: 'ok',
  1: 'malformed',
  2: 'malformed',
  3: 'malformed',
  4: 'malformed',
  5: 'malformed',
  6: 'malformed',
  7: 'malformed',
  8: 'malformed',
  9: 'malformed',
};

/** Offsets of one scanned message; reuse one instance per connection. */
export class SyslogHeader {
  pri = 0;
  tsStart = 0;
  tsEnd = 0;
  hostStart = 0;
  hostEnd = 0;
  appStart = 0;
  appEnd = 0;
  procStart = 0;
  procEnd = 0;
  msgStart = 0;
  msgEnd = 0;
}

const MAX_TS = 64;
const MAX_HOST = 255;
const MAX_APP = 64;
const MAX_PROC = 128;

/** End of the token starting at i (next SP or end); -1 if empty. By words: for TIMESTAMP and APP-NAME (the token), ~32-40 bytes. */
function tokenEnd(buf: Buffer, i: number, end: number): number {
  let j = indexOfByte(buf, SP, i, end);
  if (j === -1) j = end;
  return j === i ? -1 : j;
}

/** Bytes a short field usually ends within (HOSTNAME `host`, PROCID `web.1`, MSGID `-`). */
const SHORT = 8;

/** tokenEnd for fields that are usually short: a byte loop first (no call), words past SHORT bytes. */
function shortTokenEnd(buf: Buffer, i: number, end: number): number {
  const stop = end - i > SHORT ? i + SHORT : end;
  let j = i;
  while (j < stop && buf[j] !== SP) j++;
  if (j === stop && stop < end) {
    j = indexOfByte(buf, SP, stop, end);
    if (j === -1) j = end;
  }
  return j === i ? -1 : j;
}

const MAX_MSGID = 32;
const MAX_SD_NAME = 32;
/** SD-IDs registered with IANA (RFC 5424 §7); any other must contain `@`. */
const IANA_SD_IDS = [Buffer.from('timeQuality'), Buffer.from('origin'), Buffer.from('meta')];

/** End of an SD-NAME (PRINTUSASCII except `=`, SP, `]`, `"`) starting at i. */
function sdNameEnd(buf: Buffer, i: number, end: number): number {
  let j = i;
  while (j < end) {
    const c = buf[j]!;
    if (c <= SP || c > TILDE || c === EQ || c === RBRACKET || c === DQUOTE) break;
    j++;
  }
  return j;
}

function sdIdKnown(buf: Buffer, s: number, e: number): boolean {
  for (let j = s; j < e; j++) if (buf[j] === AT) return true;
  for (let k = 0; k < IANA_SD_IDS.length; k++) {
    const id = IANA_SD_IDS[k]!;
    if (id.length === e - s && buf.compare(id, 0, id.length, s, e) === 0) return true;
  }
  return false;
}

/**
 * End of a well-formed STRUCTURED-DATA at i (one or more
 * `[SD-ID *(SP PARAM-NAME="VALUE")]`, `\` escapes in values), or -1.
 * An element counts as SD only when its SD-ID is registered, has an `@`, or
 * it carries parameters: `[INFO] started` is message text, not SD.
 */
function sdEnd(buf: Buffer, i: number, end: number): number {
  let j = i;
  while (j < end && buf[j] === LBRACKET) {
    const idStart = j + 1;
    const idEnd = sdNameEnd(buf, idStart, end);
    if (idEnd === idStart || idEnd - idStart > MAX_SD_NAME) return -1;
    j = idEnd;
    let params = 0;
    while (j < end && buf[j] === SP) {
      const ns = j + 1;
      j = sdNameEnd(buf, ns, end);
      if (j === ns || j - ns > MAX_SD_NAME || j + 1 >= end || buf[j] !== EQ || buf[j + 1] !== DQUOTE) return -1;
      j += 2;
      for (;;) {
        if (j >= end) return -1;
        const c = buf[j]!;
        if (c === DQUOTE) break;
        j += c === BACKSLASH ? 2 : 1;
      }
      j++; // past the closing quote
      params++;
    }
    if (j >= end || buf[j] !== RBRACKET) return -1;
    if (params === 0 && !sdIdKnown(buf, idStart, idEnd)) return -1;
    j++; // past ]
  }
  return j === i ? -1 : j;
}

/** Scan buf[start, end) into out. Returns ScanError.OK or the reason. */
export function scanSyslog(buf: Buffer, start: number, end: number, out: SyslogHeader): ScanError {
  let i = start;
  if (i >= end || buf[i] !== LT) return ScanError.NO_PRI;
  i++;
  let pri = 0;
  let nd = 0;
  while (i < end && buf[i]! >= DIGIT_0 && buf[i]! <= DIGIT_9 && nd < 4) {
    pri = pri * 10 + (buf[i]! - DIGIT_0);
    i++;
    nd++;
  }
  if (nd === 0 || nd > 3 || i >= end || buf[i] !== GT) return nd === 0 ? ScanError.NO_PRI : ScanError.BAD_PRI;
  if (pri > 191 || (nd > 1 && buf[i - nd] === DIGIT_0)) return ScanError.BAD_PRI;
  out.pri = pri;
  i++;
  // VERSION: "1"
  if (i + 1 >= end || buf[i] !== DIGIT_1 || buf[i + 1] !== SP) return ScanError.BAD_VERSION;
  i += 2;

  let e = tokenEnd(buf, i, end);
  if (e < 0) return ScanError.NO_TIMESTAMP;
  if (e - i > MAX_TS) return ScanError.FIELD_TOO_LONG;
  out.tsStart = i;
  out.tsEnd = e;
  i = e + 1;

  e = i < end ? shortTokenEnd(buf, i, end) : -1;
  if (e < 0) return ScanError.NO_HOSTNAME;
  if (e - i > MAX_HOST) return ScanError.FIELD_TOO_LONG;
  out.hostStart = i;
  out.hostEnd = e;
  i = e + 1;

  e = i < end ? tokenEnd(buf, i, end) : -1;
  if (e < 0) return ScanError.NO_APPNAME;
  if (e - i > MAX_APP) return ScanError.FIELD_TOO_LONG;
  out.appStart = i;
  out.appEnd = e;
  i = e + 1;

  e = i < end ? shortTokenEnd(buf, i, end) : -1;
  if (e < 0) return ScanError.NO_PROCID;
  if (e - i > MAX_PROC) return ScanError.FIELD_TOO_LONG;
  out.procStart = i;
  out.procEnd = e;
  i = e + 1;

  // Optional MSGID SP SD. A token is taken as MSGID only when an SD follows
  // it: `-`, or well-formed SD-ELEMENTs then SP or the end. Otherwise a lone
  // `-` is a nil MSGID with no SD (Heroku's `web.1 - msg`), and anything else
  // is the message, starting right after PROCID. A message is never dropped
  // for what merely looks like SD (`web.1 - [INFO] up`, `web.1 GET [x`).
  if (i < end) {
    // a token longer than MAX_MSGID is not a MSGID: no need to find its end
    const t = shortTokenEnd(buf, i, end - i > MAX_MSGID + 1 ? i + MAX_MSGID + 1 : end);
    let sd = -1;
    if (t > 0 && t - i <= MAX_MSGID && t + 1 < end) {
      const s = t + 1;
      if (buf[s] === NIL && (s + 1 === end || buf[s + 1] === SP)) sd = s + 1;
      else if (buf[s] === LBRACKET) {
        const se = sdEnd(buf, s, end);
        if (se > 0 && (se === end || buf[se] === SP)) sd = se;
      }
    }
    if (sd !== -1) i = sd + 1; // MSGID SP SD [SP MSG]
    else if (t === i + 1 && buf[i] === NIL) i = t + 1; // nil MSGID, no SD
  }
  if (i > end) i = end;
  // A UTF-8 BOM marks the message as UTF-8 (RFC 5424 §6.4); it is not content.
  if (i + 2 < end && buf[i] === 0xef && buf[i + 1] === 0xbb && buf[i + 2] === 0xbf) i += 3;
  let me = end;
  while (me > i && (buf[me - 1] === LF || buf[me - 1] === CR)) me--;
  out.msgStart = i;
  out.msgEnd = me;
  return ScanError.OK;
}
