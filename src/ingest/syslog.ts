// RFC 5424 header scan: byte offsets into the frame, written into a reused
// object. No strings, no regex. Lenient where Logplex clients differ from the
// RFC: MSGID and STRUCTURED-DATA may be absent (`... PROCID MSG`).
//
//   <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID [SP MSGID SP SD] [SP MSG]

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
  8: 'malformed STRUCTURED-DATA',
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

const SP = 0x20;
const MAX_TS = 64;
const MAX_HOST = 255;
const MAX_APP = 64;
const MAX_PROC = 128;

/** End of the token starting at i (next SP or end); -1 if empty. */
function tokenEnd(buf: Buffer, i: number, end: number): number {
  let j = i;
  while (j < end && buf[j] !== SP) j++;
  return j === i ? -1 : j;
}

/** Skip one SD-ELEMENT sequence (`[...]...`), honouring quoted values; returns end or -1. */
function sdEnd(buf: Buffer, i: number, end: number): number {
  let j = i;
  while (j < end && buf[j] === 0x5b) {
    j++;
    let quoted = false;
    for (;;) {
      if (j >= end) return -1;
      const c = buf[j]!;
      if (quoted) {
        if (c === 0x5c) j++; // backslash escape
        else if (c === 0x22) quoted = false;
      } else if (c === 0x22) quoted = true;
      else if (c === 0x5d) break;
      j++;
    }
    j++; // past ]
  }
  return j;
}

/** Scan buf[start, end) into out. Returns ScanError.OK or the reason. */
export function scanSyslog(buf: Buffer, start: number, end: number, out: SyslogHeader): ScanError {
  let i = start;
  if (i >= end || buf[i] !== 0x3c) return ScanError.NO_PRI;
  i++;
  let pri = 0;
  let nd = 0;
  while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39 && nd < 4) {
    pri = pri * 10 + (buf[i]! - 0x30);
    i++;
    nd++;
  }
  if (nd === 0 || nd > 3 || i >= end || buf[i] !== 0x3e) return nd === 0 ? ScanError.NO_PRI : ScanError.BAD_PRI;
  if (pri > 191 || (nd > 1 && buf[i - nd] === 0x30)) return ScanError.BAD_PRI;
  out.pri = pri;
  i++;
  // VERSION: "1"
  if (i + 1 >= end || buf[i] !== 0x31 || buf[i + 1] !== SP) return ScanError.BAD_VERSION;
  i += 2;

  let e = tokenEnd(buf, i, end);
  if (e < 0) return ScanError.NO_TIMESTAMP;
  if (e - i > MAX_TS) return ScanError.FIELD_TOO_LONG;
  out.tsStart = i;
  out.tsEnd = e;
  i = e + 1;

  e = i < end ? tokenEnd(buf, i, end) : -1;
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

  e = i < end ? tokenEnd(buf, i, end) : -1;
  if (e < 0) return ScanError.NO_PROCID;
  if (e - i > MAX_PROC) return ScanError.FIELD_TOO_LONG;
  out.procStart = i;
  out.procEnd = e;
  i = e + 1;

  // Optional MSGID SP SD. A token is taken as MSGID only when an SD ("-" or
  // "[...]") follows it; a lone "-" is a nil MSGID (Heroku's `web.1 - msg`).
  if (i < end) {
    const t = tokenEnd(buf, i, end);
    if (t > 0 && t - i <= 32 && t + 1 < end) {
      const s = t + 1;
      if (buf[s] === 0x2d && (s + 1 === end || buf[s + 1] === SP)) {
        i = s + 2; // MSGID, nil SD
      } else if (buf[s] === 0x5b) {
        const se = sdEnd(buf, s, end);
        if (se < 0) return ScanError.BAD_SD;
        i = se < end && buf[se] === SP ? se + 1 : se;
      } else if (t === i + 1 && buf[i] === 0x2d) {
        i = t + 1; // nil MSGID, no SD
      }
    } else if (t === i + 1 && buf[i] === 0x2d) {
      i = t + 1 < end ? t + 1 : end; // "-" then end of message
    }
  }
  if (i > end) i = end;
  // A UTF-8 BOM marks the message as UTF-8 (RFC 5424 §6.4); it is not content.
  if (i + 2 < end && buf[i] === 0xef && buf[i + 1] === 0xbb && buf[i + 2] === 0xbf) i += 3;
  let me = end;
  while (me > i && (buf[me - 1] === 0x0a || buf[me - 1] === 0x0d)) me--;
  out.msgStart = i;
  out.msgEnd = me;
  return ScanError.OK;
}
