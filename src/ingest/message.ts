// One syslog message whose token travels in APP-NAME: header scan, token
// lookup, then emit (routeMessage on the main thread, a batch writer in an
// ingest worker). Bad messages are counted, never thrown. There is no
// last-token cache: a lookup (a 4-word hash, one word compare per 4 bytes)
// costs about what checking the cached token did, and on a connection that
// carries many apps (a forwarder) that check only ever failed first.
import type { TokenKey, TokenTable } from '../tokens.js';
import { ScanError, SyslogHeader, scanSyslog } from './syslog.js';

/** Counters a handler bumps; metric children on the main thread, plain cells in a worker. */
export interface MessageCounters {
  readonly lines: { value: number };
  readonly bytes: { value: number };
  readonly malformed: { value: number };
  readonly unknownToken: { value: number };
  /** Lines the app's rate limit dropped (main thread; a worker's emit leaves it alone: lines are admitted where they are routed). */
  readonly rateLimited: { value: number };
}

/**
 * Cook and deliver one scanned message; returns the lines accepted (routed,
 * or handed on to be routed), and adds those the rate limit dropped to
 * `limited`. `tokens` is the table entry was found in: the tokens cooking
 * keeps out of the lines (cook.ts).
 */
export type Emit<E extends TokenKey> = (entry: E, hdr: SyslogHeader, buf: Buffer, receivedMs: number, limited: { value: number }, tokens: TokenTable<E>) => number;

export class SyslogMessageHandler<E extends TokenKey> {
  readonly #tokens: TokenTable<E>;
  readonly #c: MessageCounters;
  readonly #emit: Emit<E>;
  readonly #hdr = new SyslogHeader();

  constructor(tokens: TokenTable<E>, counters: MessageCounters, emit: Emit<E>) {
    this.#tokens = tokens;
    this.#c = counters;
    this.#emit = emit;
  }

  handle(buf: Buffer, start: number, end: number, now: number): void {
    const hdr = this.#hdr;
    if (scanSyslog(buf, start, end, hdr) !== ScanError.OK) {
      this.#c.malformed.value++;
      return;
    }
    const entry = this.#tokens.lookup(buf, hdr.appStart, hdr.appEnd);
    if (entry === undefined) {
      this.#c.unknownToken.value++;
      return;
    }
    this.#c.bytes.value += end - start;
    this.#c.lines.value += this.#emit(entry, hdr, buf, now, this.#c.rateLimited, this.#tokens);
  }
}
