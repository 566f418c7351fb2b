// Property-based fuzzing (fast-check) of every parser that reads bytes from
// the network, shared by the bounded run in `npm test` (test/unit/fuzz.test.ts)
// and the long run `npm run fuzz -- --minutes N` (test/fuzz/run.ts).
// Properties: never throws; never reads past its input (the same answer
// whatever bytes follow the input in its buffer); frames re-assembled at any
// split equal the whole; rejected input gets its SPEC 11 answer.
import fc from 'fast-check';
import { FrameError, OctetFramer, frameErrorText } from '../../src/ingest/framing.js';
import { LogplexBody } from '../../src/ingest/logplex-body.js';
import { SyslogHeader, scanSyslog, ScanError, scanErrorText } from '../../src/ingest/syslog.js';
import { BAD, NEED_MORE, ResponseParser } from '../../src/drains/http1/parser.js';

export interface FuzzProperty {
  name: string;
  property: fc.IPropertyWithHooks<any> | fc.IAsyncPropertyWithHooks<any>;
  /** Runs per check in the bounded (npm test) run. */
  runs: number;
}

// ---- inputs -----------------------------------------------------------------

const byteArr = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
/** Printable-ish text with the bytes parsers care about over-represented. */
const syslogish = fc
  .array(fc.oneof(fc.constantFrom(' ', '<', '>', '-', '1', '0', '9', '\n', '\r', '[', ']', '"', '=', '\\', 'T', 'Z', ':', '.', '+'), fc.string({ maxLength: 6 }), fc.constantFrom('<190>1 ', '2026-05-01T12:00:00Z ', 'host ', 't.x ', 'web.1 ', '- ', '[a b="c"] ')), { maxLength: 30 })
  .map((parts) => Buffer.from(parts.join(''), 'utf8'));
/** A well-formed RFC 5424 message. */
const goodMessage = fc
  .record({
    pri: fc.integer({ min: 0, max: 191 }),
    host: fc.stringMatching(/^[!-~]{1,20}$/),
    app: fc.stringMatching(/^[!-~]{1,40}$/),
    proc: fc.stringMatching(/^[!-~]{1,20}$/),
    msg: fc.string({ maxLength: 200 }),
  })
  .map((m) => Buffer.from(`<${m.pri}>1 2026-05-01T12:00:00.123456Z ${m.host} ${m.app} ${m.proc} - - ${m.msg}`, 'utf8'));
/** Octet-counted frames of well-formed messages (a valid stream or body). */
const goodFrames = fc.array(goodMessage, { maxLength: 12 }).map((ms) => Buffer.concat(ms.map((m) => Buffer.concat([Buffer.from(`${m.length} `), m]))));
/** A stream: valid frames with damage mixed in (bytes replaced, inserted or cut). */
const damaged = fc.tuple(goodFrames, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'cut')), { maxLength: 3 })).map(([b, edits]) => {
  let out = b;
  for (const [at, byte, kind] of edits) {
    if (out.length === 0) break;
    const i = at % out.length;
    if (kind === 'set') {
      out = Buffer.from(out);
      out[i] = byte;
    } else if (kind === 'insert') out = Buffer.concat([out.subarray(0, i), Buffer.from([byte]), out.subarray(i)]);
    else out = out.subarray(0, i);
  }
  return out;
});
const streamBytes = fc.oneof(goodFrames, damaged, byteArr(300), syslogish);
/** Split points of an input of length n (sorted, may repeat). */
const cuts = fc.array(fc.nat(), { maxLength: 8 });

function piecesOf(buf: Buffer, at: number[]): Buffer[] {
  const points = at.map((x) => (buf.length === 0 ? 0 : x % (buf.length + 1))).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let p = 0;
  for (const c of points) {
    out.push(buf.subarray(p, c));
    p = c;
  }
  out.push(buf.subarray(p));
  return out;
}

/** The input copied into a bigger buffer at an offset, with `fill` bytes around it: a view ending before data that is not the input's. */
function embedded(input: Buffer, fill: number): Buffer {
  const big = Buffer.alloc(input.length + 64, fill);
  input.copy(big, 32);
  return big.subarray(32, 32 + input.length);
}

// ---- the framer -------------------------------------------------------------

interface FramerRun {
  frames: string[];
  error: FrameError;
}

function runFramer(pieces: Buffer[], fill: number): FramerRun {
  const frames: string[] = [];
  const f = new OctetFramer(
    (buf, s, e) => {
      if (s < 0 || e < s || e > buf.length) throw new Error(`frame view [${s}, ${e}) outside its buffer of ${buf.length}`);
      frames.push(buf.toString('latin1', s, e));
    },
    { allowLfFrames: true, skipSeparators: true },
  );
  let error: FrameError = FrameError.NONE;
  for (const p of pieces) {
    error = f.push(embedded(p, fill));
    if (error !== FrameError.NONE) break;
  }
  if (error === FrameError.NONE) error = f.end();
  return { frames, error };
}

const framer: FuzzProperty = {
  name: 'RFC 6587 framer: never throws, frames at any split equal the whole, nothing read past a chunk, bad input is a frame error',
  runs: 400,
  property: fc.property(streamBytes, cuts, fc.integer({ min: 0, max: 255 }), (input, at, fill) => {
    const whole = runFramer([input], 0x20);
    const split = runFramer(piecesOf(input, at), fill);
    if (JSON.stringify(whole) !== JSON.stringify(split)) throw new Error(`split changed the result: ${JSON.stringify(whole)} vs ${JSON.stringify(split)}`);
    // SPEC 11: an unframeable stream is one of the frame errors (the connection is then closed and counted)
    if (!(split.error in frameErrorText)) throw new Error(`unknown error ${split.error}`);
    return true;
  }),
};

const framerGood: FuzzProperty = {
  name: 'RFC 6587 framer: a stream of valid frames gives back exactly its messages',
  runs: 200,
  property: fc.property(fc.array(goodMessage, { maxLength: 12 }), cuts, (msgs, at) => {
    const input = Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from(`${m.length} `), m])));
    const r = runFramer(piecesOf(input, at), 0x0a);
    return r.error === FrameError.NONE && JSON.stringify(r.frames) === JSON.stringify(msgs.map((m) => m.toString('latin1')));
  }),
};

// ---- the RFC 5424 scanner -----------------------------------------------------

function scan(input: Buffer, fill: number): string {
  const h = new SyslogHeader();
  const buf = embedded(input, fill);
  // scan a view starting inside a bigger buffer: offsets are absolute
  const r = scanSyslog(buf, 0, buf.length, h);
  if (r === ScanError.OK) {
    const offs = [h.tsStart, h.tsEnd, h.hostStart, h.hostEnd, h.appStart, h.appEnd, h.procStart, h.procEnd, h.msgStart, h.msgEnd];
    for (const o of offs) if (o < 0 || o > buf.length) throw new Error(`offset ${o} outside [0, ${buf.length}]`);
    if (!(h.tsStart <= h.tsEnd && h.hostStart <= h.hostEnd && h.appStart <= h.appEnd && h.procStart <= h.procEnd && h.msgStart <= h.msgEnd)) throw new Error('a field ends before it starts');
    return JSON.stringify([h.pri, ...offs]);
  }
  if (scanErrorText[r] === undefined) throw new Error(`unknown scan error ${r}`);
  return `error ${r}`;
}

const scanner: FuzzProperty = {
  name: 'RFC 5424 scanner: never throws, offsets inside the message, the same answer whatever follows the message',
  runs: 500,
  property: fc.property(fc.oneof(goodMessage, syslogish, byteArr(200), damaged), fc.integer({ min: 0, max: 255 }), (input, fill) => scan(input, 0x20) === scan(input, fill) && scan(input, 0x0a) === scan(input, 0x3c)),
};

// ---- the logplex-1 body ---------------------------------------------------------

const body: FuzzProperty = {
  name: 'logplex-1 body: never throws; a body is accepted whole or rejected with the frame and a reason (SPEC 3.1 400)',
  runs: 400,
  property: fc.property(fc.oneof(goodFrames, damaged, byteArr(300), syslogish), (input) => {
    const b = new LogplexBody();
    try {
      const ok = b.scan(input);
      if (ok) {
        let n = 0;
        b.forEachFrame(() => ++n);
        if (n !== b.count) throw new Error('forEachFrame count differs from scan');
      } else if (b.errorFrame < 1 || b.errorText === '' || b.errorOffset < 0 || b.errorOffset > input.length) {
        throw new Error(`rejection without a reason: frame ${b.errorFrame} offset ${b.errorOffset} "${b.errorText}"`);
      }
      return true;
    } finally {
      b.release();
    }
  }),
};

const bodyGood: FuzzProperty = {
  name: 'logplex-1 body: valid frames are all accepted',
  runs: 200,
  property: fc.property(goodFrames, (input) => {
    const b = new LogplexBody();
    try {
      return b.scan(input);
    } finally {
      b.release();
    }
  }),
};

// ---- the drain's HTTP/1.1 response parser -----------------------------------

const goodResponse = fc
  .record({
    status: fc.integer({ min: 100, max: 599 }),
    headers: fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,12}$/), fc.stringMatching(/^[ -~]{0,20}$/)), { maxLength: 4 }),
    body: fc.string({ maxLength: 50 }),
    mode: fc.constantFrom('length', 'chunked', 'none'),
  })
  .map((r) => {
    const status = r.status < 200 ? 200 : r.status;
    const hs = r.headers.filter(([k]) => !/^(content-length|transfer-encoding|connection)$/i.test(k)).map(([k, v]) => `${k}: ${v.trim()}\r\n`).join('');
    const b = Buffer.from(r.body, 'utf8');
    if (r.mode === 'length') return Buffer.concat([Buffer.from(`HTTP/1.1 ${status} X\r\n${hs}Content-Length: ${b.length}\r\n\r\n`, 'latin1'), b]);
    if (r.mode === 'chunked') return Buffer.concat([Buffer.from(`HTTP/1.1 ${status} X\r\n${hs}Transfer-Encoding: chunked\r\n\r\n${b.length.toString(16)}\r\n`, 'latin1'), b, Buffer.from(`\r\n0\r\n\r\n`)]);
    return Buffer.from(`HTTP/1.1 ${status === 200 ? 204 : status} X\r\n${hs}Content-Length: 0\r\n\r\n`, 'latin1');
  });

function parseResponse(pieces: Buffer[], fill: number): string {
  const p = new ResponseParser();
  let consumed = 0;
  for (const piece of pieces) {
    const buf = embedded(piece, fill);
    const r = p.execute(buf, 0, buf.length);
    if (r === BAD) return `bad ${p.code}`;
    if (r !== NEED_MORE) {
      if (r < 0 || r > buf.length) throw new Error(`execute returned ${r} outside [0, ${buf.length}]`);
      return `done ${p.status} ${p.close} at ${consumed + r}`;
    }
    consumed += piece.length;
  }
  return `more ${p.endOfInput()}`;
}

const response: FuzzProperty = {
  name: 'drain HTTP response parser: never throws, the same answer at any split and whatever follows the input',
  runs: 400,
  property: fc.property(fc.oneof(goodResponse, goodResponse.chain((r) => fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
    const c = Buffer.from(r);
    if (c.length > 0) c[i % c.length] = b;
    return c;
  })), byteArr(200)), cuts, fc.integer({ min: 0, max: 255 }), (input, at, fill) => {
    const whole = parseResponse([input], 0x0a);
    const split = parseResponse(piecesOf(input, at), fill);
    if (whole !== split) throw new Error(`split changed the result: ${whole} vs ${split}`);
    return true;
  }),
};

const responseGood: FuzzProperty = {
  name: 'drain HTTP response parser: a valid response is complete with its status',
  runs: 200,
  property: fc.property(goodResponse, cuts, (input, at) => /^done \d{3} /.test(parseResponse(piecesOf(input, at), 0x0a))),
};

export const byteProperties: readonly FuzzProperty[] = [framer, framerGood, scanner, body, bodyGood, response, responseGood];
export { fc };
