// The dyno side (SPEC 14, log-shuttle's role): lines of a process's stdout
// and stderr go into a bounded local buffer and out in batches of up to 500
// lines, one POST in flight (so they arrive in order). A batch the server
// does not take is retried with backoff and the same Frame-Id (the server
// stores it once); after `retryForMs` it is given up and counted (L13). While
// delivery fails the buffer drops its oldest lines, counted (L12); while it
// works the reader is paused at the bound instead. Once a POST succeeds
// again, what was lost is reported in the app's stream as
// `Error L12 (Local buffer overflow): <N> messages dropped since <T>.` and
// `Error L13 (Local delivery error): <N> messages could not be delivered since <T>.`
// exactly, in frames with APP-NAME heroku and PROCID logplane: the server
// cooks those as heroku[logplane] whichever of the app's tokens sends them.
import { LineBuffer, Lost } from './buffer.js';
import { APP_PRI, encodeLines, encodeMessages, frameId, HeaderCache, l12Text, l13Text, noticeHeader } from './frames.js';
import { HttpSender, Outcome } from './sender.js';

export interface ShipperOptions {
  /** Base URL of the server (`<url>/logs` is posted to). */
  url: string;
  /** The app's token named `app`: the lines' source. */
  token: string;
  /** A token to send the L12/L13 notices with (`--heroku-token`); null: `token`. Either way they read heroku[logplane]. */
  noticeToken: string | null;
  dyno: string;
  /** HOSTNAME of the frames. */
  host: string;
  /** Lines held locally at most (while delivery fails). */
  bufferLines: number;
  /** Bytes of lines held locally at most (long lines reach it before bufferLines). */
  bufferBytes: number;
  /** Lines per POST at most (log-shuttle's batch size). */
  batchLines: number;
  /** How long one batch is retried before it is given up (L13). */
  retryForMs: number;
  /** An attempt with no answer within this long failed. */
  timeoutMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  userAgent: string;
}

export const shipperDefaults = {
  bufferLines: 25_000,
  bufferBytes: 32 * 1024 * 1024,
  batchLines: 500,
  retryForMs: 30_000,
  timeoutMs: 5_000,
  backoffMinMs: 100,
  backoffMaxMs: 2_000,
} as const;

/** Bytes per POST at most besides the line bound (well under the server's 8 MiB). */
const BATCH_BYTES = 1024 * 1024;

export interface ShipperStats {
  /** Lines the server took. */
  delivered: number;
  /** Lines dropped from the full buffer (L12). */
  dropped: number;
  /** Lines in batches given up (L13). */
  undelivered: number;
  /** Lines still held. */
  held: number;
}

export class Shipper {
  readonly #o: ShipperOptions;
  readonly #buf: LineBuffer;
  readonly #failed = new Lost();
  readonly #sender: HttpSender;
  readonly #headers: HeaderCache;
  #delivered = 0;
  /** The last attempt succeeded (or none failed yet): read at full speed, pause at the bound. */
  #healthy = true;
  #paused = false;
  #pumping = false;
  #inFlight = 0;
  /** Stop retrying at this time (the bounded flush at exit). */
  #deadline = Infinity;
  #wakeSleep: (() => void) | null = null;
  /** The wait before the next POST after a refusal (4xx), ms; 0 after any other answer. */
  #refusedDelay = 0;
  /** The notice being sent (kept as it is across retries), or null. */
  #notice: { n12: number; n13: number; lines: number; body: Buffer; id: string } | null = null;
  readonly #idle: Array<() => void> = [];
  /** A notice the server refused for good (its frames as text, the status). */
  onRefusedNotice: ((frames: string, status: number) => void) | null = null;
  /** Called when reading should pause (true) or resume (false). */
  onFlow: ((paused: boolean) => void) | null = null;

  constructor(opts: ShipperOptions) {
    this.#o = opts;
    this.#buf = new LineBuffer(opts.bufferLines, opts.bufferBytes);
    this.#sender = new HttpSender({ url: opts.url, timeoutMs: opts.timeoutMs, userAgent: opts.userAgent });
    this.#headers = new HeaderCache(APP_PRI, opts.host, 'app', opts.dyno);
  }

  get stats(): ShipperStats {
    return { delivered: this.#delivered, dropped: this.#buf.overflow.total, undelivered: this.#failed.total, held: this.#buf.count + this.#inFlight };
  }

  /** One line (buf[start, end)) read at ms. The bytes must stay as they are (a chunk of a pipe is never reused). */
  line(buf: Buffer, start: number, end: number, ms: number): void {
    this.#buf.push(buf.subarray(start, end), ms, !this.#healthy);
    this.#flow();
    if (!this.#pumping) void this.#pump();
  }

  /**
   * Deliver what is held, for at most timeoutMs (retries stop at the
   * deadline). Resolves with the lines that could not be delivered or
   * reported (0 when everything reached the server, notices included).
   */
  async flush(timeoutMs: number): Promise<number> {
    this.#deadline = Date.now() + timeoutMs;
    // at the deadline: no more waiting, and the attempt in flight is cut (its lines are counted)
    const timer = setTimeout(() => {
      this.#wakeSleep?.();
      this.#sender.close();
    }, timeoutMs);
    try {
      if (this.#pumping) await new Promise<void>((resolve) => this.#idle.push(resolve));
      if (this.#buf.count > 0 || this.#pendingNotices()) await this.#pump();
    } finally {
      clearTimeout(timer);
      this.#sender.close();
    }
    return this.#buf.count + this.#buf.overflow.count + this.#failed.count;
  }

  /** Pause the reader at the bound while delivery works; never while it fails (the oldest lines drop instead). */
  #flow(): void {
    if (!this.#healthy) this.#buf.trim(Date.now());
    const pause = this.#healthy && this.#buf.full;
    if (pause !== this.#paused) {
      this.#paused = pause;
      this.onFlow?.(pause);
    }
  }

  #setHealthy(ok: boolean): void {
    if (ok === this.#healthy) return;
    this.#healthy = ok;
    this.#flow();
  }

  #pendingNotices(): boolean {
    return this.#notice !== null || this.#buf.overflow.count > 0 || this.#failed.count > 0;
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      let noticeDelay = this.#o.backoffMinMs;
      for (;;) {
        if (Date.now() >= this.#deadline) break;
        // after a refusal (a revoked token...) the next POST waits, longer while refusals go on: lines
        // gather into batches instead of each costing a POST, a refused notice and a stderr line
        if (this.#refusedDelay > 0) {
          await this.#sleep(this.#refusedDelay);
          if (Date.now() >= this.#deadline) break;
        }
        // lost lines are reported as soon as a POST works again (with nothing else to send, the notice is the probe)
        if (this.#pendingNotices() && (this.#healthy || this.#buf.count === 0)) {
          if (!(await this.#sendNotices())) {
            await this.#sleep(noticeDelay);
            noticeDelay = Math.min(noticeDelay * 2, this.#o.backoffMaxMs);
          }
          // what was lost while that notice was out goes in the next one
          continue;
        }
        if (this.#buf.count === 0) break;
        await this.#deliverBatch();
      }
    } finally {
      this.#pumping = false;
      for (const r of this.#idle.splice(0)) r();
    }
  }

  /** Take the oldest lines (up to batchLines / BATCH_BYTES) and deliver them, or give them up after retryForMs. */
  async #deliverBatch(): Promise<void> {
    const buf = this.#buf;
    let n = Math.min(buf.count, this.#o.batchLines);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      bytes += buf.peek(i).length + 80;
      if (bytes > BATCH_BYTES && i > 0) {
        n = i;
        break;
      }
    }
    const body = encodeLines(buf, n, this.#headers);
    buf.shift(n);
    this.#inFlight = n;
    this.#flow();
    const id = frameId();
    const firstTry = Date.now();
    let delay = this.#o.backoffMinMs;
    try {
      for (;;) {
        const r = await this.#sender.post(body, n, this.#o.token, id);
        this.#noteRefusal(r.outcome);
        if (r.outcome === Outcome.OK) {
          this.#delivered += n;
          this.#setHealthy(true);
          return;
        }
        this.#setHealthy(false);
        const now = Date.now();
        if (r.outcome === Outcome.DROP || now - firstTry >= this.#o.retryForMs || now >= this.#deadline) {
          this.#failed.add(n, firstTry);
          return;
        }
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#o.backoffMaxMs);
      }
    } finally {
      this.#inFlight = 0;
    }
  }

  /**
   * One POST with the L12 and L13 lines; true when the server took it. A
   * notice is made once and re-sent as it is (same counts, same Frame-Id)
   * until it is taken, so a retry of one the server stored but did not
   * answer is stored once; what is lost meanwhile goes into the next one.
   */
  async #sendNotices(): Promise<boolean> {
    const over = this.#buf.overflow;
    const failed = this.#failed;
    if (this.#notice === null) {
      const n12 = over.count;
      const n13 = failed.count;
      const msgs: string[] = [];
      if (n12 > 0) msgs.push(l12Text(n12, over.since));
      if (n13 > 0) msgs.push(l13Text(n13, failed.since));
      this.#notice = { n12, n13, lines: msgs.length, body: encodeMessages(noticeHeader(Date.now(), this.#o.host), msgs), id: frameId() };
      // what is lost while this notice is out goes into the next one, since its own first loss
      over.seal();
      failed.seal();
    }
    const n = this.#notice;
    const r = await this.#sender.post(n.body, n.lines, this.#o.noticeToken ?? this.#o.token, n.id);
    this.#noteRefusal(r.outcome);
    if (r.outcome === Outcome.RETRY) {
      this.#setHealthy(false);
      return false;
    }
    // refused for good (the notice token revoked...): said on our stderr instead, never silently
    if (r.outcome === Outcome.DROP) this.onRefusedNotice?.(n.body.toString('utf8'), r.status ?? 0);
    this.#notice = null;
    over.reported(n.n12);
    failed.reported(n.n13);
    return true;
  }

  /** A refusal doubles the wait before the next POST (backoffMinMs to backoffMaxMs); any other answer ends it. */
  #noteRefusal(outcome: Outcome): void {
    this.#refusedDelay = outcome === Outcome.DROP ? Math.min(Math.max(this.#refusedDelay * 2, this.#o.backoffMinMs), this.#o.backoffMaxMs) : 0;
  }

  /** Wait ms, or less when the flush deadline comes first. */
  #sleep(ms: number): Promise<void> {
    const left = this.#deadline - Date.now();
    const wait = Math.max(0, Math.min(ms, left));
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wakeSleep = null;
        resolve();
      }, wait);
      this.#wakeSleep = () => {
        clearTimeout(t);
        this.#wakeSleep = null;
        resolve();
      };
    });
  }
}
