// Ingest workers, main-thread side. Sockets are read here (Node cannot share a
// listening socket between threads), and each chunk is handed, without a
// copy, to the worker that owns the stream; workers frame, scan and cook, and
// send back batches of cooked lines that are routed here (seq + fan-out).
// Every stream sticks to one worker, so per-connection order is kept; seq is
// stamped here, so per-app seq stays strictly increasing.
//
// Back-pressure is per input (handoff.ts): a worker is given at most
// WORKER_QUEUE bytes of input at a time, the rest waits here per connection
// and per app's POST /logs bodies and is handed over in turn, and only a
// connection with more than STREAM_HIGH bytes waiting is paused (a body's
// sender waits for its answer). So one flooding connection or app cannot
// hold another app's lines back (SPEC 17): a quiet connection is never
// paused by it and its item waits behind at most WORKER_QUEUE bytes and an
// item of each busy input, not behind the flood's backlog. (The marks were
// once 32/8 MiB of the whole worker's input, then 2/1 MiB, and pausing the
// worker paused the quiet connections too; bodies once went straight to the
// worker, a quiet body behind every body of a flood in flight.)
// UDP cannot be paused: datagrams over the limit (stream and UDP input, not
// POST /logs bodies) are dropped and counted.
import type { Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { App } from '../apps.js';
import type { Context } from '../context.js';
import type { Child } from '../obs/metrics.js';
import { routeFrom } from '../router.js';
import { FrameError } from './framing.js';
import { CLASS_MASK, CLASS_SHIFT, LEN_MASK, TRANSPORT_MASK, TRANSPORT_SHIFT } from './batch.js';
import { HandoffInput } from './handoff.js';
import { WorkerHandle } from './worker-handle.js';
import { IngestCounters, type GarbageLog, type StreamTransport } from './syslog-conn.js';
import { COUNTS_PER_TRANSPORT, C_BYTES, C_LINES, C_MALFORMED, C_UNKNOWN, T, TRANSPORTS, type FromWorker, type HttpParse, type ToWorker } from './worker-protocol.js';

/**
 * UDP datagrams are dropped while worker 0 holds this much stream and UDP
 * input. POST /logs bodies do not count: a request is not answered until its
 * body is parsed, which holds its sender back, so a large body being parsed
 * is no reason to drop another app's datagrams.
 */
const UDP_HIGH_WATER = 2 * 1024 * 1024;
const UDP_BATCH = 256 * 1024;
/**
 * Most lines routed from worker batches and POST /logs bodies in one
 * event-loop turn before drains and tails get a turn (a tail writes what it
 * can and queues up to 1,024 lines; more in one turn overflows it).
 */
export const LINES_PER_TURN = 4096;

/** A stream batch or a POST /logs body waiting to be routed (see IngestPool#queue). */
interface Routing {
  h: WorkerHandle | null;
  b: Buffer | null;
  p: number;
  counts: number[] | null;
  consumed: number;
  limited: number[];
  done: ((limited: number) => void) | null;
}

export class IngestPool {
  readonly size: number;
  readonly #ctx: Context;
  readonly #workers: WorkerHandle[] = [];
  readonly #counters: IngestCounters[];
  /** Slot -> app (slots are small consecutive numbers; a deleted app leaves a hole). */
  readonly #appOf: (App | undefined)[] = [];
  readonly #slotOf = new WeakMap<App, number>();
  /** Tokens each worker has been told about, by app id. */
  readonly #sent = new Map<string, Set<string>>();
  /** Lines whose app was deleted while they were being cooked, by the transport index of their batch record (T, T_HTTP). */
  readonly #appGone: Child[];
  readonly #udpOverload: Child;
  /** POST /logs bodies a worker is parsing, by request id. */
  readonly #pending = new Map<number, { h: WorkerHandle; n: number; resolve: (r: { result: HttpParse; cooked: Buffer | null }) => void; reject: (err: Error) => void }>();
  #nextRequest = 1;
  /**
   * Stream batches and POST /logs bodies not yet (fully) routed, in arrival
   * order; p is where routing stopped; limited: lines the rate limit dropped
   * so far, by transport (T, T_HTTP). A body has `done` (called once it is
   * routed) and no worker, counts or consumed input (its request is counted
   * by http.ts, its input left the worker's count when it was answered).
   */
  readonly #queue: Routing[] = [];
  /**
   * Rate-limited lines, by transport, not yet taken off a batch's line count:
   * a message cut across two batches is counted in the later one, so its
   * lines dropped from the earlier batch wait here (the accepted counter
   * never goes down).
   */
  readonly #limitedOwed = [0, 0, 0];
  #routing = false;
  /** Lines routed from batches so far (for the per-turn budget). */
  #routed = 0;
  /** Lines that may still be routed in this event-loop turn. */
  #budget = LINES_PER_TURN;
  /** A setImmediate that gives the next turn its budget (and routes on) is scheduled. */
  #nextTurn = false;
  /** Stopping: route whatever is queued now, whatever the budget. */
  #draining = false;
  /** Which worker cooked each HTTP batch not yet routed (and its shared buffer's number, or -1). */
  readonly #cookedBy = new WeakMap<ArrayBufferLike, { h: WorkerHandle; s: number }>();
  #nextSlot = 1;
  #nextStream = 1;
  #udp: Buffer | null = null;
  readonly #garbage: GarbageLog;
  #udpPos = 0;
  #udpScheduled = false;
  #outboxScheduled = false;
  #closed = false;

  private constructor(ctx: Context, size: number, garbage: GarbageLog) {
    this.#ctx = ctx;
    this.#garbage = garbage;
    this.size = size;
    this.#counters = TRANSPORTS.map((t) => new IngestCounters(ctx, t));
    this.#appGone = [...TRANSPORTS, 'http'].map((t) => ctx.metrics.ingestDropped.labels(t, 'app_deleted'));
    this.#udpOverload = ctx.metrics.ingestDropped.labels('udp', 'overload');
  }

  /** Start `size` workers and give them the token table. */
  static async start(ctx: Context, size: number, garbage: GarbageLog): Promise<IngestPool> {
    const pool = new IngestPool(ctx, size, garbage);
    const url = new URL('./worker.js', import.meta.url);
    await Promise.all(
      Array.from({ length: size }, async () => {
        const w = new Worker(url);
        const h = new WorkerHandle(w, pool.#flushSoon);
        w.on('message', (m: FromWorker) => pool.#onMessage(h, m));
        w.on('error', (err) => ctx.log.error({ at: 'ingest.worker_error', err: err.message }, 'ingest worker failed'));
        w.on('exit', (code) => {
          if (!pool.#closed) ctx.log.error({ at: 'ingest.worker_exit', code }, 'ingest worker exited');
        });
        await new Promise<void>((resolve, reject) => {
          w.once('online', resolve);
          w.once('error', reject);
        });
        pool.#workers.push(h);
      }),
    );
    const reg = ctx.registry;
    for (const app of reg.apps()) pool.#syncApp(app);
    reg.on('app', (app: App) => pool.#syncApp(app));
    reg.on('appDeleted', (app: App) => pool.#dropApp(app));
    ctx.log.info({ at: 'ingest.workers_started', workers: size }, 'ingest workers started');
    return pool;
  }

  /** Serve one TCP or TLS connection through a worker. */
  attachStream(sock: Socket, transport: StreamTransport): void {
    const c = this.#nextStream++;
    const h = this.#workers[c % this.#workers.length]!;
    const t = T[transport];
    const conns = this.#ctx.metrics.connections.labels(transport);
    conns.value++;
    h.streams.set(c, sock);
    const input = new HandoffInput(sock);
    sock.on('data', (chunk: Buffer) => {
      let ab = chunk.buffer as ArrayBuffer;
      let o = chunk.byteOffset;
      const n = chunk.length;
      if (o !== 0 || n !== ab.byteLength) {
        // not a buffer of its own: copy just these bytes
        ab = ab.slice(o, o + n);
        o = 0;
      }
      h.handoff.send(input, { k: 'data', c, t, b: ab, o, n }, [ab], n);
    });
    sock.on('end', () => {
      h.handoff.send(input, { k: 'end', c }, undefined, 0);
      sock.end();
    });
    sock.on('error', () => {
      /* reset by peer etc.: 'close' follows */
    });
    sock.on('close', () => {
      h.handoff.send(input, { k: 'close', c }, undefined, 0);
      h.streams.delete(c);
      conns.value--;
    });
  }

  /** A UDP datagram: packed with the others of this tick and sent to worker 0 (keeps their order). */
  datagram(msg: Buffer): void {
    const h = this.#workers[0]!;
    if (h.inflight - h.bodyBytes > UDP_HIGH_WATER) {
      this.#udpOverload.value++;
      return;
    }
    const need = 4 + msg.length;
    if (this.#udp !== null && this.#udpPos + need > this.#udp.length) this.#flushUdp();
    if (this.#udp === null) this.#udp = Buffer.allocUnsafeSlow(Math.max(UDP_BATCH, need));
    const b = this.#udp;
    const p = this.#udpPos;
    b[p] = msg.length;
    b[p + 1] = msg.length >>> 8;
    b[p + 2] = msg.length >>> 16;
    b[p + 3] = msg.length >>> 24;
    msg.copy(b, p + 4);
    this.#udpPos = p + need;
    if (!this.#udpScheduled) {
      this.#udpScheduled = true;
      setImmediate(() => {
        this.#udpScheduled = false;
        this.#flushUdp();
      });
    }
  }

  /**
   * Wait (bounded) until the workers have handled what they were given, then
   * stop them. POST /logs bodies still waiting for a worker are not parsed:
   * their promises reject (the HTTP server has stopped, nobody waits for them).
   */
  async close(timeoutMs = 3000): Promise<void> {
    this.#flushUdp();
    for (const h of this.#workers) {
      for (const m of h.handoff.dropBodies()) {
        if (m.k !== 'http') continue;
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        p?.reject(new Error('ingest workers are stopped'));
      }
      h.handoff.pump(true);
    }
    this.#sendOutboxes();
    const deadline = Date.now() + timeoutMs;
    while (this.#workers.some((h) => h.inflight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // what came back is routed now, before drains flush and rings are saved
    this.#draining = true;
    this.#routeQueued();
    this.#closed = true;
    for (const h of this.#workers) h.closed = true;
    await Promise.all(this.#workers.map((h) => h.w.terminate()));
  }

  #flushUdp(): void {
    if (this.#udp === null || this.#udpPos === 0) return;
    const ab = this.#udp.buffer as ArrayBuffer;
    const n = this.#udpPos;
    const h = this.#workers[0]!;
    h.post({ k: 'dgrams', b: ab, n, ms: Date.now() }, [ab]);
    h.inflight += n;
    this.#udp = null;
    this.#udpPos = 0;
  }

  /** A worker's outbox holds a POST /logs body: send the outboxes at the end of this event-loop turn (see worker-handle.ts). */
  readonly #flushSoon = (): void => {
    if (this.#outboxScheduled) return;
    this.#outboxScheduled = true;
    setImmediate(() => this.#sendOutboxes());
  };

  #sendOutboxes(): void {
    this.#outboxScheduled = false;
    for (const h of this.#workers) h.flush();
  }

  /**
   * Frame, scan and cook a whole POST /logs body in a worker (the least busy
   * one), handed over in the app's turn (handoff.ts: one input per app, so a
   * flooding app's bodies wait here, not in the worker ahead of other apps').
   * Nothing is routed: the caller checks the result and then calls
   * routeCooked(), so a bad request stores nothing.
   */
  parseHttp(app: App, tokenName: string, body: Buffer, receivedMs: number): Promise<{ result: HttpParse; cooked: Buffer | null }> {
    let slot = this.#slotOf.get(app);
    if (slot === undefined) {
      this.#syncApp(app);
      slot = this.#slotOf.get(app)!;
    }
    let h = this.#workers[0]!;
    for (const w of this.#workers) if (w.inflight + w.handoff.waiting < h.inflight + h.handoff.waiting) h = w;
    let ab = body.buffer as ArrayBuffer;
    let o = body.byteOffset;
    const n = body.length;
    if (o !== 0 || n !== ab.byteLength) {
      ab = ab.slice(o, o + n);
      o = 0;
    }
    const id = this.#nextRequest++;
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('ingest workers are stopped'));
        return;
      }
      this.#pending.set(id, { h, n, resolve, reject });
      h.handoff.send(h.bodiesOf(app), { k: 'http', id, slot, name: tokenName, b: ab, o, n, ms: receivedMs }, [ab], n);
    });
  }

  /**
   * Route what parseHttp cooked, in turn with the stream batches (at most
   * LINES_PER_TURN lines an event-loop turn, so a large body does not
   * overflow the tails' queues in one go), then give its buffer back to its
   * worker and call done with the lines the app's rate limit dropped (the
   * caller counts them, and answers). Once called, the body is routed whole.
   */
  routeCooked(cooked: Buffer, done: (limited: number) => void): void {
    this.#queue.push({ h: null, b: cooked, p: 0, counts: null, consumed: 0, limited: [0, 0, 0, 0], done });
    this.#routeQueued();
  }

  /** Give what parseHttp cooked back to its worker, routed or not. */
  discardCooked(cooked: Buffer): void {
    const by = this.#cookedBy.get(cooked.buffer);
    if (by === undefined) return;
    this.#cookedBy.delete(cooked.buffer);
    if (by.s >= 0) by.h.hold({ k: 'free', s: by.s });
    else this.#recycle(by.h, cooked);
  }

  #onMessage(h: WorkerHandle, m: FromWorker): void {
    if (m.k === 'many' || m.k === 'http') {
      if (m.k === 'many') for (const x of m.ms) this.#answered(h, x);
      else this.#answered(h, m);
      // the worker holds less now: stream chunks that waited for room go (else they wait for more syslog input)
      h.handoff.pump();
      return;
    }
    if (m.k === 'streamError') {
      const sock = h.streams.get(m.c);
      const transport = sock && 'encrypted' in sock ? 'tls' : 'tcp';
      this.#counters[T[transport]]!.unframeable.value++;
      this.#ctx.metrics.connectionsClosed.labels(transport, m.e === FrameError.TOO_LARGE ? 'frame_too_large' : 'unframeable').value++;
      this.#garbage.closed(transport, sock?.remoteAddress, m.e as FrameError);
      sock?.destroy();
      return;
    }
    this.#queue.push({ h, b: m.b === null ? null : Buffer.from(m.b, 0, m.n), p: 0, counts: m.counts, consumed: m.consumed, limited: [0, 0, 0, 0], done: null });
    this.#routeQueued();
  }

  /** A POST /logs body parsed: its bytes leave the worker's count, its promise resolves. */
  #answered(h: WorkerHandle, m: FromWorker): void {
    if (m.k !== 'http') return;
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    h.inflight -= p.n;
    h.bodyBytes -= p.n;
    let cooked: Buffer | null = null;
    if (m.s >= 0) {
      if (m.sab !== null) h.shared[m.s] = Buffer.from(m.sab);
      cooked = h.shared[m.s]!.subarray(0, m.n);
    } else if (m.b !== null) cooked = Buffer.from(m.b, 0, m.n);
    if (cooked !== null) this.#cookedBy.set(cooked.buffer, { h, s: m.s });
    p.resolve({ result: m.result, cooked });
  }

  /**
   * Route queued stream batches and bodies in order, at most LINES_PER_TURN
   * lines per event-loop turn, then yield: after a stall the workers may have
   * handed over far more than a drain's or tail's queue holds, and a POST
   * /logs body may hold 100,000 lines; routing it all in one turn would
   * overflow them before they could send anything. The budget is the turn's,
   * whoever asks (several bodies answered in one turn share it); the next
   * turn's is given by a setImmediate scheduled after this turn's lines were
   * offered, so the tails' own setImmediate (scheduled by the first line
   * offered) sends them first.
   */
  #routeQueued(): void {
    if (this.#routing) return;
    this.#routing = true;
    const queue = this.#queue;
    const before = this.#routed;
    while (queue.length > 0) {
      const q = queue[0]!;
      if (q.b !== null && q.p < q.b.length) {
        if (this.#budget <= 0 && !this.#draining) break;
        const at = this.#routed;
        q.p = this.#routeBatch(q.b, q.limited, q.p, this.#draining ? Infinity : this.#budget);
        this.#budget -= this.#routed - at;
        if (q.p < q.b.length) continue;
      }
      queue.shift();
      if (q.done !== null) this.#routedBody(q);
      else this.#routedBatch(q);
    }
    this.#routing = false;
    if (this.#routed !== before && !this.#nextTurn) {
      this.#nextTurn = true;
      setImmediate(this.#turn);
    }
  }

  readonly #turn = (): void => {
    this.#nextTurn = false;
    this.#budget = LINES_PER_TURN;
    if (this.#queue.length > 0) this.#routeQueued();
  };

  /** A POST /logs body routed: its buffer goes back to its worker, its request is answered. */
  #routedBody(q: Routing): void {
    this.discardCooked(q.b!);
    const l = q.limited;
    q.done!(l[0]! + l[1]! + l[2]! + l[3]!);
  }

  /** A stream batch routed: its buffer goes back, its counts are added, its input leaves the worker's count. */
  #routedBatch(q: Routing): void {
    const h = q.h!;
    if (q.b !== null) this.#recycle(h, q.b);
    const counts = q.counts!;
    for (let t = 0; t < this.#counters.length; t++) {
      const c = this.#counters[t]!;
      const base = t * COUNTS_PER_TRANSPORT;
      // accepted = cooked minus what the rate limit dropped (SPEC 10)
      let lines = counts[base + C_LINES]!;
      const limited = q.limited[t]!;
      if (limited > 0) {
        c.rateLimited.value += limited;
        this.#limitedOwed[t]! += limited;
      }
      const owed = this.#limitedOwed[t]!;
      if (owed > 0 && lines > 0) {
        const take = Math.min(owed, lines);
        lines -= take;
        this.#limitedOwed[t] = owed - take;
      }
      c.lines.value += lines;
      c.bytes.value += counts[base + C_BYTES]!;
      c.malformed.value += counts[base + C_MALFORMED]!;
      c.unknownToken.value += counts[base + C_UNKNOWN]!;
    }
    h.inflight -= q.consumed;
    h.handoff.pump();
  }

  /**
   * [u32 slot][u32 len][record]...: each record routed straight from the
   * batch (routeFrom: the ring copies it; a line for an app with sinks gets a
   * Buffer of its own, since sinks keep what they are offered). A line the
   * app's rate limit drops is added to limited[its transport]. After this
   * nothing holds a view of the batch, so it can be reused.
   */
  #routeBatch(b: Buffer, limited: number[], from = 0, maxLines = Infinity): number {
    const n = b.length;
    const v = new DataView(b.buffer, b.byteOffset, n);
    const appOf = this.#appOf;
    let p = from;
    let lines = 0;
    while (p < n && lines < maxLines) {
      lines++;
      const slot = v.getUint32(p, true);
      const lw = v.getUint32(p + 4, true);
      const len = lw & LEN_MASK;
      p += 8;
      const app = appOf[slot];
      if (app === undefined) this.#appGone[(lw >>> TRANSPORT_SHIFT) & TRANSPORT_MASK]!.value++;
      // the per-app rate limit, on the line's receive time (offset 8 of a cooked line)
      else if (app.admission === null || app.admission.admit(v.getFloat64(p + 8, true))) routeFrom(app, v, p, len, (lw >>> CLASS_SHIFT) & CLASS_MASK);
      else limited[(lw >>> TRANSPORT_SHIFT) & TRANSPORT_MASK]!++;
      p += len;
    }
    this.#routed += lines;
    return p;
  }

  /**
   * Give a batch buffer back to worker h with the next message it is sent
   * anyway: a message of its own would wake the worker once more per batch
   * (for POST /logs, once more per request). Until then the worker allocates
   * if it runs out of spares.
   */
  #recycle(h: WorkerHandle, batch: Buffer): void {
    const ab = batch.buffer as ArrayBuffer;
    h.hold({ k: 'recycle', b: ab }, [ab]);
  }

  #broadcast(m: ToWorker): void {
    for (const h of this.#workers) h.post(m);
  }

  /** Tell the workers an app's current tokens (new ones added, revoked ones removed). */
  #syncApp(app: App): void {
    let slot = this.#slotOf.get(app);
    if (slot === undefined) {
      slot = this.#nextSlot++;
      this.#slotOf.set(app, slot);
      this.#appOf[slot] = app;
    }
    const before = this.#sent.get(app.id) ?? new Set<string>();
    const now = new Set(app.record.tokens.map((t) => t.token));
    const add: [string, number, string][] = app.record.tokens.filter((t) => !before.has(t.token)).map((t) => [t.token, slot, t.name]);
    const del = [...before].filter((t) => !now.has(t));
    this.#sent.set(app.id, now);
    if (add.length || del.length) this.#broadcast({ k: 'tokens', add, del });
  }

  #dropApp(app: App): void {
    const slot = this.#slotOf.get(app);
    if (slot !== undefined) this.#appOf[slot] = undefined;
    const before = this.#sent.get(app.id);
    this.#sent.delete(app.id);
    if (before?.size) this.#broadcast({ k: 'tokens', add: [], del: [...before] });
  }
}
