// A Logplex HTTP input body (SPEC 3.1): one pass that frames it and scans
// every header, keeping each frame's offsets in a reused Int32Array. Used by
// POST /logs on the main thread and by ingest workers.
import { FrameError, OctetFramer, frameErrorText } from './framing.js';
import { ScanError, SyslogHeader, scanErrorText, scanSyslog } from './syslog.js';

const EMPTY = Buffer.alloc(0);

// Offsets kept per frame, in this order.
const F_PRI = 0;
const F_TS = 1;
const F_HOST = 3;
const F_APP = 5;
const F_PROC = 7;
const F_MSG = 9;
const STRIDE = 11;
const INITIAL_FRAMES = 1024;
/** A table grown past this many frames by one huge body is given back afterwards. */
const KEEP_FRAMES = 64 * 1024;

/**
 * One pass over a whole body: frame, scan every header, keep the offsets.
 * Validate everything first, then route: a bad frame anywhere leaves nothing
 * stored. Reused across requests (scan and route run synchronously).
 */
export class LogplexBody {
  readonly #hdr = new SyslogHeader();
  #offs = new Int32Array(INITIAL_FRAMES * STRIDE);
  #body: Buffer = EMPTY;
  /** Frames scanned so far. */
  count = 0;
  /** Bytes of MSG of all frames (the LEN values). */
  bytes = 0;
  /** First problem: frame (1-based) and its byte offset in the body; errorFrame 0 = none. */
  errorFrame = 0;
  errorOffset = 0;
  errorText = '';
  /** Where the next frame's LEN starts. */
  #next = 0;

  readonly #onFrame = (buf: Buffer, start: number, end: number): void => {
    if (this.errorFrame !== 0) return;
    const frameStart = this.#next;
    this.#next = end;
    const hdr = this.#hdr;
    // The whole body is pushed as one chunk, so every frame is a view of it.
    const r = buf === this.#body ? scanSyslog(buf, start, end, hdr) : ScanError.NO_PRI;
    if (r !== ScanError.OK) {
      this.#fail(this.count + 1, frameStart, scanErrorText[r]);
      return;
    }
    let o = this.count * STRIDE;
    if (o + STRIDE > this.#offs.length) {
      const grown = new Int32Array(this.#offs.length * 2);
      grown.set(this.#offs);
      this.#offs = grown;
    }
    const a = this.#offs;
    a[o++] = hdr.pri;
    a[o++] = hdr.tsStart;
    a[o++] = hdr.tsEnd;
    a[o++] = hdr.hostStart;
    a[o++] = hdr.hostEnd;
    a[o++] = hdr.appStart;
    a[o++] = hdr.appEnd;
    a[o++] = hdr.procStart;
    a[o++] = hdr.procEnd;
    a[o++] = hdr.msgStart;
    a[o] = hdr.msgEnd;
    this.count++;
    this.bytes += end - start;
  };

  /** Frame and scan all of body. False when a frame is malformed (see error*). */
  scan(body: Buffer): boolean {
    this.#body = body;
    this.count = 0;
    this.bytes = 0;
    this.errorFrame = 0;
    this.errorOffset = 0;
    this.errorText = '';
    this.#next = 0;
    const framer = new OctetFramer(this.#onFrame);
    let err: FrameError = framer.push(body);
    if (err === FrameError.NONE) err = framer.end();
    if (err !== FrameError.NONE && this.errorFrame === 0) this.#fail(this.count + 1, this.#next, frameErrorText[err]);
    return this.errorFrame === 0;
  }

  /** Hand every scanned frame to fn in order (the header is reused); returns the sum of what fn returns. */
  forEachFrame(fn: (hdr: SyslogHeader, body: Buffer) => number): number {
    const a = this.#offs;
    const h = this.#hdr;
    const body = this.#body;
    let lines = 0;
    for (let i = 0, o = 0; i < this.count; i++, o += STRIDE) {
      h.pri = a[o + F_PRI]!;
      h.tsStart = a[o + F_TS]!;
      h.tsEnd = a[o + F_TS + 1]!;
      h.hostStart = a[o + F_HOST]!;
      h.hostEnd = a[o + F_HOST + 1]!;
      h.appStart = a[o + F_APP]!;
      h.appEnd = a[o + F_APP + 1]!;
      h.procStart = a[o + F_PROC]!;
      h.procEnd = a[o + F_PROC + 1]!;
      h.msgStart = a[o + F_MSG]!;
      h.msgEnd = a[o + F_MSG + 1]!;
      lines += fn(h, body);
    }
    return lines;
  }

  /** Drop the reference to the body (and an oversized table). */
  release(): void {
    this.#body = EMPTY;
    if (this.#offs.length > KEEP_FRAMES * STRIDE) this.#offs = new Int32Array(INITIAL_FRAMES * STRIDE);
  }

  #fail(frame: number, offset: number, why: string): void {
    this.errorFrame = frame;
    this.errorOffset = offset;
    this.errorText = why;
  }
}

