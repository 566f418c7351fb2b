// A drain's loss accounting (SPEC 6.5): lines delivered and dropped, the
// drops not yet reported to the consumer, and the exact L10 line that reports
// them. N in an L10 line counts every line lost since the last L10 line that
// was delivered, so the sum over delivered L10 lines plus the lines delivered
// equals the lines offered.
import type { Clock } from '../basics/clock.js';
import { DropWindow } from './health.js';
import { lossLine } from './status.js';

export class LossLedger {
  /** Lines delivered (2xx, or written to the syslog socket). */
  delivered = 0;
  /** Lines lost: overflow, rejected batches, exhausted retries. */
  dropped = 0;
  /** Replay notices dropped (neither delivered nor in `dropped`). */
  notices = 0;
  /** Dropped lines not yet reported by a delivered L10 line. */
  unreported = 0;
  /** Time of the first unreported drop. */
  #sinceMs = 0;
  /** Time of the first drop after the current batch was built. */
  #dropAfterBuildMs = 0;
  readonly #clock: Clock;
  /** Drops per minute over the last hour (status `dropped_1h`). */
  readonly #hour = new DropWindow();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** n lines lost (counted in `dropped` and reported by the next L10 line). */
  lose(n: number): void {
    this.dropped += n;
    this.#hour.add(n, this.#clock.now());
    this.#note(n);
  }

  /**
   * A replay's notice was dropped (drain.ts): not a line of the app, so not
   * in `dropped`; the n lines it announced are reported by the next L10 line
   * instead, as lost since sinceMs.
   */
  noticeDropped(n: number, sinceMs: number): void {
    this.notices++;
    if (n <= 0) return;
    this.#note(n);
    if (sinceMs < this.#sinceMs) this.#sinceMs = sinceMs;
    if (sinceMs < this.#dropAfterBuildMs) this.#dropAfterBuildMs = sinceMs;
  }

  /**
   * n lines lost before this ledger began, since sinceMs (the stop before a
   * restart, drains/stop-loss.ts): counted, and reported by the next L10
   * line as lost since then.
   */
  loseSince(n: number, sinceMs: number): void {
    this.lose(n);
    this.#sinceMs = Math.min(this.#sinceMs, sinceMs);
    this.#dropAfterBuildMs = Math.min(this.#dropAfterBuildMs, sinceMs);
  }

  /** When the first drop not yet reported happened; 0 when none is owed. */
  get unreportedSinceMs(): number {
    return this.unreported > 0 ? this.#sinceMs : 0;
  }

  #note(n: number): void {
    if (this.unreported === 0) this.#sinceMs = this.#clock.now();
    if (this.#dropAfterBuildMs === 0) this.#dropAfterBuildMs = this.#clock.now();
    this.unreported += n;
  }

  /** Lines lost in the last 60 minutes. */
  droppedLastHour(): number {
    return this.#hour.lastHour(this.#clock.now());
  }

  /** A batch is being built: its L10 line (null when nothing is owed); N is `unreported`. */
  startBatch(): Buffer | null {
    this.#dropAfterBuildMs = 0;
    return this.unreported > 0 ? lossLine(this.unreported, this.#sinceMs, this.#clock.now()) : null;
  }

  /** A batch of `lines` lines whose L10 line reported `reported` was delivered. */
  batchDelivered(lines: number, reported: number): void {
    this.delivered += lines;
    if (reported > 0) {
      this.unreported -= reported;
      this.#sinceMs = this.unreported > 0 ? this.#dropAfterBuildMs : 0;
    }
  }
}
