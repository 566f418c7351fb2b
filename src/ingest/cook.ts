// Cooking a scanned syslog message into lines (SPEC 3.3): a message with
// embedded LF becomes several lines with the same header, a message over
// 10,000 bytes becomes consecutive lines of at most 10,000 bytes, a nil
// TIMESTAMP becomes the receive time. A message cooking splits has every
// token string in it replaced by TOKEN_MARK (SPEC 3.3: the token never
// appears in any output; a sender batching messages into one datagram puts
// whole headers, token and all, after an LF). Where each line goes is the
// writer's business: route() on the main thread, a batch in an ingest worker.
import { indexOfByte } from '../basics/bytes.js';
import * as chars from '../basics/chars.js';
import { MAX_MSG, newLineParts, rfc3339, type LineParts } from '../line.js';
import type { SyslogHeader } from './syslog.js';

// local bindings: the byte loops read them as constants
const { CR, LF, NIL } = chars;

/** Receives the parts of each line cookMessage makes (one reused object: do not keep it). */
export interface LineWriter {
  line(p: LineParts): void;
}

/** End of a chunk of at most MAX_MSG bytes from start, not cutting a UTF-8 sequence. */
function chunkEnd(buf: Buffer, start: number, end: number): number {
  if (end - start <= MAX_MSG) return end;
  let e = start + MAX_MSG;
  // back off over continuation bytes (10xxxxxx), at most 3
  for (let k = 0; k < 3 && (buf[e]! & 0xc0) === 0x80; k++) e--;
  return e === start ? start + MAX_MSG : e;
}

/** First LF in buf[s, end), or end. Never looks past end: a message is a view into a chunk holding many frames. */
function lfIn(buf: Buffer, s: number, end: number): number {
  const lf = indexOfByte(buf, LF, s, end);
  return lf === -1 ? end : lf;
}

/** A LineWriter that can also take a whole message and tell whether it was one line. */
export interface WholeLineWriter extends LineWriter {
  /**
   * Write msgBuf[msgStart, msgEnd) (at most MAX_MSG bytes) as one line and
   * return true, unless it holds an LF: then keep nothing and return false.
   * One pass over the message: the copy looks for LF on the way.
   */
  wholeLine(p: LineParts): boolean;
}

/** The tokens no cooked line may carry: a TokenTable (tokens.ts), looked up by bytes. */
export interface TokenFinder {
  lookup(buf: Buffer, start: number, end: number): unknown;
}

/** Every token is `t.<uuid4>` (apps.ts newToken). */
const TOKEN_LEN = 38;
const TOKEN_PREFIX = Buffer.from('t.', 'latin1');
/** What a token's string becomes in a split message: plainly a removal, not a name a reader could take for data (docs/protocol.md). */
export const TOKEN_MARK = Buffer.from('[token]', 'latin1');

/** Where withoutTokens writes; only ever grows (to the largest split message with a token, at most a frame). */
let unTokened = Buffer.alloc(0);

/**
 * Copy buf[start, end) into unTokened with every known token replaced by
 * TOKEN_MARK, and return the copy's length; -1 (nothing copied) when it
 * holds no token. The copy is never longer: the mark is shorter than a token.
 */
function withoutTokens(buf: Buffer, start: number, end: number, tokens: TokenFinder): number {
  const msg = buf.subarray(start, end); // indexOf must not search past the message into the rest of the chunk
  let n = -1;
  let from = 0;
  let t = msg.indexOf(TOKEN_PREFIX);
  while (t !== -1 && t + TOKEN_LEN <= msg.length) {
    if (tokens.lookup(buf, start + t, start + t + TOKEN_LEN) === undefined) {
      t = msg.indexOf(TOKEN_PREFIX, t + 1);
      continue;
    }
    if (n === -1) {
      if (unTokened.length < msg.length) unTokened = Buffer.allocUnsafeSlow(msg.length);
      n = 0;
    }
    n += msg.copy(unTokened, n, from, t);
    n += TOKEN_MARK.copy(unTokened, n);
    from = t + TOKEN_LEN;
    t = msg.indexOf(TOKEN_PREFIX, from);
  }
  return n === -1 ? -1 : n + msg.copy(unTokened, n, from);
}

/** The one parts object every message is cooked through (cooking is synchronous and never nested). */
const parts = newLineParts();

let nilMs = NaN;
let nilTs: Buffer = Buffer.alloc(0);

/** The timestamp of lines with a nil TIMESTAMP: the receive time, one Buffer per distinct ms (a chunk shares one), read only. */
function receivedTs(receivedMs: number): Buffer {
  if (receivedMs !== nilMs) {
    nilTs = Buffer.from(rfc3339(receivedMs), 'latin1');
    nilMs = receivedMs;
  }
  return nilTs;
}

/**
 * cookMessage for a WholeLineWriter: a message that is one line (most are)
 * goes to wholeLine; one with an LF, or over MAX_MSG, is split as usual.
 */
export function cookMessageWhole(hdr: SyslogHeader, buf: Buffer, receivedMs: number, out: WholeLineWriter, tokens: TokenFinder): number {
  if (hdr.msgEnd - hdr.msgStart <= MAX_MSG) {
    const p = headerParts(hdr, buf, receivedMs);
    p.msgStart = hdr.msgStart;
    p.msgEnd = hdr.msgEnd;
    if (out.wholeLine(p)) return 1;
  }
  return cookMessage(hdr, buf, receivedMs, out, tokens);
}

/** parts with the fields every line of the message shares: pri, ts (the receive time for a nil one), dyno, receive time. */
function headerParts(hdr: SyslogHeader, buf: Buffer, receivedMs: number): LineParts {
  const p = parts;
  p.pri = hdr.pri;
  if (hdr.tsEnd - hdr.tsStart === 1 && buf[hdr.tsStart] === NIL) {
    const ts = receivedTs(receivedMs);
    p.tsBuf = ts;
    p.tsStart = 0;
    p.tsEnd = ts.length;
  } else {
    p.tsBuf = buf;
    p.tsStart = hdr.tsStart;
    p.tsEnd = hdr.tsEnd;
  }
  p.dynoBuf = buf;
  p.dynoStart = hdr.procStart;
  p.dynoEnd = hdr.procEnd;
  p.msgBuf = buf;
  p.receivedMs = receivedMs;
  return p;
}

/**
 * Hand every line of one scanned message to out. Returns the number of lines.
 * A message cooking splits (an LF, or over MAX_MSG) is first rid of tokens,
 * whole, so none survives in pieces across a MAX_MSG cut; a one-line message
 * is never searched (kept as sent, and the common case pays nothing).
 */
export function cookMessage(hdr: SyslogHeader, buf: Buffer, receivedMs: number, out: LineWriter, tokens: TokenFinder): number {
  const line = headerParts(hdr, buf, receivedMs);
  let msg = buf;
  let s = hdr.msgStart;
  let msgEnd = hdr.msgEnd;
  let lf = lfIn(buf, s, msgEnd);
  if (lf < msgEnd || msgEnd - s > MAX_MSG) {
    const n = withoutTokens(buf, s, msgEnd, tokens);
    if (n !== -1) {
      msg = line.msgBuf = unTokened;
      s = 0;
      msgEnd = n;
      lf = lfIn(msg, 0, n);
    }
  }
  let lines = 0;
  for (;;) {
    let e = lf;
    if (e > s && msg[e - 1] === CR) e--;
    // one LF-free piece [s, e): split at MAX_MSG
    let p = s;
    do {
      const ce = chunkEnd(msg, p, e);
      line.msgStart = p;
      line.msgEnd = ce;
      out.line(line);
      lines++;
      p = ce;
    } while (p < e);
    if (lf >= msgEnd) break;
    s = lf + 1;
    lf = lfIn(msg, s, msgEnd);
  }
  return lines;
}
