// An ingest worker thread: frames, scans and cooks syslog input handed over by
// the main thread, and sends back batches of cooked lines, once per tick. The
// main thread only stamps seq and fans out (route). A stream is always handled
// by the same worker, so per-connection order is kept.
import { parentPort } from 'node:worker_threads';
import { TokenTable, type TokenKey } from '../tokens.js';
import { BatchWriter, CLASS_SHIFT, TRANSPORT_SHIFT, type BatchTarget } from './batch.js';
import { sourceClassOfName } from '../buffer/rates.js';
import { cookMessageWhole } from './cook.js';
import { FrameError, OctetFramer } from './framing.js';
import { LogplexBody } from './logplex-body.js';
import { isLocalNotice, NOTICE_SOURCE } from './local-notice.js';
import { SyslogMessageHandler, type MessageCounters } from './message.js';
import type { SyslogHeader } from './syslog.js';
import { COUNTS_PER_TRANSPORT, C_BYTES, C_LINES, C_MALFORMED, C_UNKNOWN, TRANSPORTS, T_HTTP, type FromWorker, type HttpParse, type ToWorker, type TransportIndex } from './worker-protocol.js';

class WorkerToken implements TokenKey, BatchTarget {
  readonly token: string;
  readonly bytes: Buffer;
  readonly slot: number;
  readonly nameBuf: Buffer;
  readonly classBits: number;
  live = true;
  constructor(token: string, slot: number, name: string) {
    this.token = token;
    this.bytes = Buffer.from(token, 'latin1');
    this.slot = slot;
    this.nameBuf = Buffer.from(name, 'utf8');
    this.classBits = sourceClassOfName(this.nameBuf) << CLASS_SHIFT;
  }
}

/** The last app's target for POST /logs notice frames (local-notice.ts: source heroku); notices are rare, one is kept. */
let notice: WorkerToken | null = null;
function noticeToken(slot: number): WorkerToken {
  if (notice === null || notice.slot !== slot) notice = new WorkerToken('', slot, NOTICE_SOURCE.toString('latin1'));
  return notice;
}

const BATCH = 256 * 1024;
/** Batch buffers handed back by the main thread, ready for reuse (allocating a fresh one per batch keeps V8's GC busy). */
const spare: Buffer[] = [];
const MAX_SPARE = 16;
function newBatch(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(BATCH);
}
/** Send a batch as soon as it holds this much, without waiting for the tick. */
const EARLY_FLUSH = 192 * 1024;

const port = parentPort!;
const tokens = new TokenTable<WorkerToken>();
/** Stream lines; sent once per tick, at EARLY_FLUSH, or when the next line does not fit. */
const batch = new BatchWriter(false, newBatch, () => flush());
/**
 * Answers to POST /logs bodies are cooked into buffers shared with the main
 * thread once and then named by number: a buffer transferred per request
 * counts as new external memory on both sides until the next GC, and that
 * churn (a 256 KiB batch per 500-line request) had V8 run a full GC several
 * times a second. A body whose lines do not fit one is answered in a
 * transferred buffer, as are answers while all MAX_SHARED are out.
 */
const MAX_SHARED = 32;
const shared: Buffer[] = [];
const freeShared: number[] = [];
/** Shared buffers the main thread has not seen yet. */
const unshared = new Set<number>();
function takeShared(): number {
  const s = freeShared.pop();
  if (s !== undefined) return s;
  if (shared.length >= MAX_SHARED) return -1;
  shared.push(Buffer.from(new SharedArrayBuffer(BATCH)));
  unshared.add(shared.length - 1);
  return shared.length - 1;
}
/** One POST /logs body; grows to hold it. */
const httpBatch = new BatchWriter(true, newBatch, () => {});
httpBatch.transportBits = T_HTTP << TRANSPORT_SHIFT;
const httpBody = new LogplexBody();
const ZERO_COUNTS: number[] = new Array<number>(TRANSPORTS.length * COUNTS_PER_TRANSPORT).fill(0);
/** Counter cells by transport, drained into each batch message. */
// rateLimited stays 0 here: lines are admitted where they are routed (pool.ts)
const cells = TRANSPORTS.map(() => ({ lines: { value: 0 }, bytes: { value: 0 }, malformed: { value: 0 }, unknownToken: { value: 0 }, rateLimited: { value: 0 } }) satisfies MessageCounters);
let consumed = 0;
let flushScheduled = false;

/** Read and reset the cells, in the C_* layout. */
function drainCounts(): number[] | null {
  let any = false;
  const out = new Array<number>(TRANSPORTS.length * COUNTS_PER_TRANSPORT);
  for (let t = 0; t < cells.length; t++) {
    const c = cells[t]!;
    const base = t * COUNTS_PER_TRANSPORT;
    out[base + C_LINES] = c.lines.value;
    out[base + C_BYTES] = c.bytes.value;
    out[base + C_MALFORMED] = c.malformed.value;
    out[base + C_UNKNOWN] = c.unknownToken.value;
    any ||= c.lines.value !== 0 || c.bytes.value !== 0 || c.malformed.value !== 0 || c.unknownToken.value !== 0;
    c.lines.value = c.bytes.value = c.malformed.value = c.unknownToken.value = 0;
  }
  return any ? out : null;
}

/** One emit per transport: each record carries its transport (batch.ts). */
const handlers = cells.map((c, t) => {
  const bits = t << TRANSPORT_SHIFT;
  const emit = (entry: WorkerToken, hdr: SyslogHeader, buf: Buffer, now: number): number => {
    batch.token = entry;
    batch.transportBits = bits;
    return cookMessageWhole(hdr, buf, now, batch, tokens);
  };
  return new SyslogMessageHandler(tokens, c, emit);
});

interface Stream {
  framer: OctetFramer;
  t: TransportIndex;
  now: number;
  dead: boolean;
}
const streams = new Map<number, Stream>();

function stream(c: number, t: TransportIndex): Stream {
  let s = streams.get(c);
  if (!s) {
    const handler = handlers[t]!;
    const st: Stream = { framer: null as unknown as OctetFramer, t, now: 0, dead: false };
    st.framer = new OctetFramer((buf, a, b) => handler.handle(buf, a, b, st.now), { allowLfFrames: true, skipSeparators: true });
    streams.set(c, st);
    s = st;
  }
  return s;
}

function flush(): void {
  const counts = drainCounts() ?? ZERO_COUNTS;
  if (batch.pos === 0 && counts === ZERO_COUNTS && consumed === 0) return;
  if (batch.pos > 0) {
    const ab = batch.buf.buffer as ArrayBuffer;
    const msg: FromWorker = { k: 'lines', b: ab, n: batch.pos, counts, consumed };
    port.postMessage(msg, [ab]);
    batch.reset();
  } else {
    const msg: FromWorker = { k: 'lines', b: null, n: 0, counts, consumed };
    port.postMessage(msg);
  }
  consumed = 0;
}

function scheduleFlush(): void {
  if (batch.pos >= EARLY_FLUSH) flush();
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(() => {
    flushScheduled = false;
    flush();
  });
}

/**
 * Answers to POST /logs bodies, sent together once the message that brought
 * them is handled, and before a body of more than LARGE_BODY: a small body's
 * answer does not wait for a large one handed over after it (the hand-off
 * lets a quiet app's body pass a flood's large ones). Small bodies stay
 * together: the worker holds at most 1 MiB of them (handoff.ts), and a
 * message per few bodies cost the main thread wake-ups.
 */
const answers: FromWorker[] = [];
const answerBuffers: ArrayBuffer[] = [];
const LARGE_BODY = 256 * 1024;

function sendAnswers(): void {
  if (answers.length === 0) return;
  const m: FromWorker = answers.length === 1 ? answers[0]! : { k: 'many', ms: answers.slice() };
  port.postMessage(m, answerBuffers.slice());
  answers.length = 0;
  answerBuffers.length = 0;
}

port.on('message', (m: ToWorker) => {
  handle(m);
  sendAnswers();
});

function handle(m: ToWorker): void {
  switch (m.k) {
    case 'many':
      for (const x of m.ms) handle(x);
      return;
    case 'recycle':
      if (m.b.byteLength === BATCH && spare.length < MAX_SPARE) spare.push(Buffer.from(m.b));
      return;
    case 'tokens':
      for (const [token, slot, name] of m.add) tokens.add(new WorkerToken(token, slot, name));
      for (const token of m.del) tokens.remove(token);
      return;
    case 'data': {
      const s = stream(m.c, m.t);
      consumed += m.n;
      if (!s.dead) {
        s.now = Date.now();
        const err = s.framer.push(Buffer.from(m.b, m.o, m.n));
        if (err !== FrameError.NONE) {
          s.dead = true;
          const out: FromWorker = { k: 'streamError', c: m.c, e: err };
          port.postMessage(out);
        }
      }
      scheduleFlush();
      return;
    }
    case 'end': {
      const s = streams.get(m.c);
      if (s && !s.dead) {
        s.now = Date.now();
        // a partial octet frame at the end is counted as malformed, as on the main thread
        if (s.framer.end() !== FrameError.NONE) cells[s.t]!.malformed.value++;
      }
      streams.delete(m.c);
      scheduleFlush();
      return;
    }
    case 'close':
      streams.delete(m.c);
      return;
    case 'free':
      freeShared.push(m.s);
      return;
    case 'http': {
      if (m.n > LARGE_BODY) sendAnswers();
      const body = Buffer.from(m.b, m.o, m.n);
      const result: HttpParse = { ok: false, frames: 0, bytes: 0, lines: 0, errorFrame: 0, errorOffset: 0, errorText: '' };
      if (httpBody.scan(body)) {
        const s = takeShared();
        httpBatch.use(s >= 0 ? shared[s]! : newBatch());
        const own = new WorkerToken('', m.slot, m.name);
        httpBatch.token = own;
        const ms = m.ms;
        result.ok = true;
        result.frames = httpBody.count;
        result.bytes = httpBody.bytes;
        result.lines = httpBody.forEachFrame((h, buf) => {
          if (!isLocalNotice(h, buf)) return cookMessageWhole(h, buf, ms, httpBatch, tokens);
          // logplane run's L12 / L13 line: source heroku whatever the token (local-notice.ts)
          httpBatch.token = noticeToken(own.slot);
          const n = cookMessageWhole(h, buf, ms, httpBatch, tokens);
          httpBatch.token = own;
          return n;
        });
        if (s >= 0 && httpBatch.buf === shared[s]) {
          const first = unshared.delete(s);
          answers.push({ k: 'http', id: m.id, result, b: null, n: httpBatch.pos, s, sab: first ? (shared[s]!.buffer as SharedArrayBuffer) : null });
        } else {
          // grown past a shared buffer, or none free: hand this one over
          if (s >= 0) freeShared.push(s);
          const ab = httpBatch.buf.buffer as ArrayBuffer;
          answers.push({ k: 'http', id: m.id, result, b: ab, n: httpBatch.pos, s: -1, sab: null });
          answerBuffers.push(ab);
        }
      } else {
        result.frames = httpBody.count;
        result.errorFrame = httpBody.errorFrame;
        result.errorOffset = httpBody.errorOffset;
        result.errorText = httpBody.errorText;
        answers.push({ k: 'http', id: m.id, result, b: null, n: 0, s: -1, sab: null });
      }
      httpBody.release();
      return;
    }
    case 'dgrams': {
      const b = Buffer.from(m.b, 0, m.n);
      const h = handlers[2]!;
      let p = 0;
      while (p + 4 <= m.n) {
        const len = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
        p += 4;
        h.handle(b, p, p + len, m.ms);
        p += len;
      }
      consumed += m.n;
      scheduleFlush();
      return;
    }
  }
}
