// Server-Sent Events transport (SPEC 5.2): `id: <seq>\ndata: <text line>\n\n`
// per line, `: keepalive` comments while tailing, the L11 line for loss (with
// the last lost seq as its id, so a reconnect resumes after what it reported;
// never below an id sent before or the resume point).
import type { ServerResponse } from 'node:http';
import { ByteWriter, l11Line, writeSseEvent, type Gap } from './encode.js';
import { Transport, type TailSink } from './tail.js';
import type { TimeSource } from '../basics/clock.js';
import type { Heartbeat } from './service.js';
import { seqOf } from '../line.js';

const writer = new ByteWriter();
/** An SSE comment: EventSource clients ignore it. */
const KEEPALIVE = Buffer.from(': keepalive\n\n', 'latin1');

/** Base for the two HTTP streaming transports: drain and close handling, keepalives. */
export abstract class HttpTailSink implements TailSink, Heartbeat {
  abstract readonly transport: Transport;
  protected readonly res: ServerResponse;
  protected readonly clock: TimeSource;
  /** What keeps an idle stream from being cut by proxies: harmless to the transport's readers. */
  protected abstract readonly keepaliveBytes: Buffer;
  /** Something went out since the last keepalive tick. */
  protected wrote = false;
  #drainCb: (() => void) | null = null;

  constructor(res: ServerResponse, clock: TimeSource) {
    this.res = res;
    this.clock = clock;
    res.on('drain', () => {
      const cb = this.#drainCb;
      this.#drainCb = null;
      cb?.();
    });
  }

  protected get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  buffered(): number {
    return this.res.writableLength;
  }
  onDrain(cb: () => void): void {
    this.#drainCb = cb;
  }
  hello(_app: string, _head: number): void {}
  abstract writeLines(recs: readonly Buffer[], from: number, to: number): void;
  abstract writeGap(gap: Gap): void;
  finish(): void {
    if (this.open) this.res.end();
  }
  close(_reason: 'shutdown' | 'deleted' | 'revoked'): void {
    if (this.open) this.res.end();
  }

  /** Called every keepalive period: sends keepaliveBytes when nothing else went out since the last call. */
  keepalive(): void {
    if (!this.open) return;
    if (!this.wrote && this.res.writableLength === 0) this.res.write(this.keepaliveBytes);
    this.wrote = false;
  }
}

/**
 * Sent before the stream ends at a server stop: EventSource clients (the
 * heroku CLI) reconnect after this many ms instead of their default 3 s,
 * long enough for a restart to be listening again. A client that finds no
 * listener gives up (the heroku CLI exits), so this is the restart budget.
 */
export const SHUTDOWN_RETRY_MS = 15_000;
const SHUTDOWN_RETRY = Buffer.from(`retry: ${SHUTDOWN_RETRY_MS}\n\n`, 'latin1');

export class SseTailSink extends HttpTailSink {
  readonly transport = Transport.SSE;
  protected readonly keepaliveBytes = KEEPALIVE;
  /**
   * The highest event id sent, at first the resume point (no higher than the
   * head): a gap of seqs below it (lines that came too late, distributed
   * mode) takes it as its id, so a reconnect does not resume before lines
   * the client had.
   */
  #lastId: number;

  constructor(res: ServerResponse, clock: TimeSource, after: number | null = null) {
    super(res, clock);
    this.#lastId = after ?? 0;
  }

  override hello(_app: string, head: number): void {
    if (this.#lastId > head) this.#lastId = head;
  }

  override close(reason: 'shutdown' | 'deleted'): void {
    if (reason === 'shutdown' && this.open) this.res.write(SHUTDOWN_RETRY);
    super.close(reason);
  }

  writeLines(recs: readonly Buffer[], from: number, to: number): void {
    if (!this.open) return;
    for (let i = from; i < to; i++) writeSseEvent(writer, recs[i]!);
    this.res.write(writer.take());
    this.wrote = true;
    if (to > from) this.#lastId = Math.max(this.#lastId, seqOf(recs[to - 1]!));
  }

  writeGap(gap: Gap): void {
    if (!this.open) return;
    this.#lastId = Math.max(this.#lastId, gap.to);
    this.res.write(`id: ${this.#lastId}\ndata: ${l11Line(gap, this.clock.now())}\n\n`);
    this.wrote = true;
  }
}
