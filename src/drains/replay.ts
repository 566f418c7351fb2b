// Drain replay (SPEC 16): `POST .../drains/:id/replay {"after": <seq>}` or
// `{"num": N}` re-sends what the app's history still holds, in order, after
// an L10-style notice for what it no longer holds. This file decides which
// lines and how many are missing; the manager hands them to the drain (on
// the node that delivers it).
import type { App } from '../apps.js';
import { systemClock, type TimeSource } from '../basics/clock.js';
import { BadRequestError, ErrorCode, LimitError, LogplaneError } from '../errors.js';
import type { Bounds, GoneCount, HistorySource } from '../history/source.js';
import { receivedOf, seqOf } from '../line.js';
import type { Drain } from './drain.js';
import type { DrainCluster, ReplayAnswer } from './ownership.js';
import { DrainState, lossLine } from './status.js';

/** What to replay: the lines after a seq, or the newest N lines. */
export type ReplayRequest = { after: number } | { num: number };

/** The answer: lines queued for the drain (after its filter) and lines the history no longer held (at least that many when lower_bound). */
export interface ReplayResult {
  replayed: number;
  missing: number;
  /** Present (true) only when missing is a lower bound, not the exact count (docs/drains.md, Replay). */
  lower_bound?: true;
}

/** Largest `num` accepted (the history holds far fewer; more only inflates the notice). */
export const REPLAY_MAX_NUM = 1_000_000;

const DIGITS = /^\d{1,16}$/;

function wholeNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v === 'string' && DIGITS.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

/** The request body: exactly one of `after` (a seq, >= 0) and `num` (1 to REPLAY_MAX_NUM), numbers or digit strings; else a 400 naming the field. */
export function parseReplayRequest(body: unknown): ReplayRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('body must be a JSON object with "after" or "num"', 'invalid_params');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'after' && k !== 'num') throw new BadRequestError(`${k}: unknown field (use "after" or "num")`, 'invalid_params');
  const hasAfter = o.after !== undefined && o.after !== null;
  const hasNum = o.num !== undefined && o.num !== null;
  if (hasAfter === hasNum) throw new BadRequestError(hasAfter ? 'after, num: give one of them, not both' : 'after or num: required', 'invalid_params');
  if (hasAfter) {
    const after = wholeNumber(o.after);
    if (after === undefined) throw new BadRequestError('after: must be a seq (a non-negative integer)', 'invalid_params');
    return { after };
  }
  const num = wholeNumber(o.num);
  if (num === undefined || num < 1 || num > REPLAY_MAX_NUM) throw new BadRequestError(`num: must be an integer from 1 to ${REPLAY_MAX_NUM}`, 'invalid_params');
  return { num };
}

/**
 * How often a drain may be replayed (docs/drains.md, Replay): a replay
 * makes us re-send an app's whole history to a URL outside, so one a
 * developer could repeat at will would turn us into a traffic amplifier
 * against a third party (and load us). One replay of a drain at a time (its
 * history still being read, or its lines not all delivered or dropped: 409
 * replay_in_progress), and at most `perMinute` started in any minute (429
 * too_many_replays), both with Retry-After. Kept by the node that runs the
 * drain's replays, its owner in distributed mode (every node forwards to it),
 * by drain id, so a URL change does not reset it; a new owner (a takeover)
 * starts afresh.
 */
export class ReplayLimit {
  static readonly WINDOW_MS = 60_000;
  readonly #perMinute: number;
  readonly #clock: TimeSource;
  /** Drain id -> when its replays of the last minute started (ms, oldest first). */
  readonly #recent = new Map<string, number[]>();
  /** Drains whose replay is reading the history (not queued yet). */
  readonly #reading = new Set<string>();

  /** perMinute 0: no limit per minute (still one at a time). */
  constructor(perMinute: number, clock: TimeSource = systemClock) {
    this.#perMinute = perMinute;
    this.#clock = clock;
  }

  /** Start a replay of `drain` (end it with done()), or throw the LimitError that refuses it. */
  start(drain: Drain): void {
    if (this.#reading.has(drain.id) || drain.replaying) {
      throw new LimitError(ErrorCode.CONFLICT, 409, 'replay_in_progress', 'a replay of this drain is still being sent: try again once it is delivered (see its status)', 1);
    }
    const now = this.#clock.now();
    if (this.#perMinute > 0) {
      const times = this.#recentOf(drain.id, now);
      if (times.length >= this.#perMinute) {
        const wait = Math.max(1, Math.ceil((times[0]! + ReplayLimit.WINDOW_MS - now) / 1000));
        throw new LimitError(ErrorCode.UNPROCESSABLE, 429, 'too_many_replays', `at most ${this.#perMinute} replays of a drain a minute: try again in ${wait} s`, wait);
      }
      times.push(now);
      this.#recent.set(drain.id, times);
    }
    this.#reading.add(drain.id);
  }

  /** The replay start() let through has queued its lines (or failed). */
  done(drain: Drain): void {
    this.#reading.delete(drain.id);
  }

  /** A drain's starts still in the window; drains with none are forgotten (the map holds only the last minute's). */
  #recentOf(id: string, now: number): number[] {
    const since = now - ReplayLimit.WINDOW_MS;
    for (const [k, t] of this.#recent) if (t[t.length - 1]! <= since) this.#recent.delete(k);
    return (this.#recent.get(id) ?? []).filter((t) => t > since);
  }
}

export interface ReplayPlan {
  /** The history lines to re-send, oldest first (before the drain's filter). */
  lines: Buffer[];
  /** Lines asked for that the history no longer holds (at least: see exact). */
  missing: number;
  /** False when missing is a lower bound (the truth cannot be known; never overstated). */
  exact: boolean;
  /** When the oldest line still held was received (the missing ones came before it). */
  sinceMs: number;
}

/**
 * Which lines of a history view (sorted by seq) a request re-sends, and how
 * many it asked for that are gone, from the view's count of those (`gone`:
 * history/source.ts; null when it could not be known, e.g. Redis down: then
 * 0, as a lower bound).
 */
export function planReplay(lines: readonly Buffer[], req: ReplayRequest, gone: GoneCount | null, nowMs: number): ReplayPlan {
  let from: number;
  let count: Bounds = { lo: 0, hi: gone === null ? Infinity : 0 };
  if ('after' in req) {
    from = 0;
    while (from < lines.length && seqOf(lines[from]!) <= req.after) from++;
    if (gone !== null) count = gone.after(req.after);
  } else {
    from = Math.max(0, lines.length - req.num);
    const held = lines.length - from;
    if (gone !== null) {
      const ever = gone.ever();
      count = { lo: Math.max(0, Math.min(req.num, ever.lo) - held), hi: Math.max(0, Math.min(req.num, ever.hi) - held) };
    }
  }
  const out = lines.slice(from);
  return { lines: out, missing: count.lo, exact: count.lo === count.hi, sinceMs: out.length > 0 ? receivedOf(out[0]!) : nowMs };
}

/**
 * The API's answer to a replay on this node: `find` gives the app and the
 * drain if this node runs it (or throws the API's error: unknown app or
 * drain); refused while the drain is failing, and as `limit` says; errors
 * become answers (Retry-After included), so a forwarded replay carries them
 * back.
 */
export async function replayAnswer(
  forwarded: boolean,
  history: HistorySource | null,
  cluster: DrainCluster | null,
  limit: ReplayLimit,
  find: () => { app: App; drain: Drain | undefined },
  req: ReplayRequest,
): Promise<ReplayAnswer> {
  try {
    const { app, drain } = find();
    if (!drain || !history) {
      // forwarded to a node that no longer delivers it (a hand-over), or a drain that could not start
      return { status: 503, body: { id: 'no_owner', error: forwarded ? 'the drain moved to another node; try again' : 'the drain is not running (see its status)' } };
    }
    if (drain.state === DrainState.FAILING) throw failing(drain);
    limit.start(drain);
    try {
      return await replayInto(drain, app, req, history, cluster);
    } finally {
      limit.done(drain);
    }
  } catch (err) {
    if (!(err instanceof LogplaneError)) throw err;
    const answer: ReplayAnswer = { status: err.status, body: { id: err.id, error: err.message } };
    if (err instanceof LimitError) answer.retryAfter = err.retryAfter;
    return answer;
  }
}

/**
 * Replay into a drain this node delivers (not failing when asked): refused
 * (409) if it failed while the history was read; otherwise the notice and
 * the history lines its filter matches go after what it already holds. Distributed mode: its feed is told, so the
 * drain's cursor is not moved by replayed lines.
 */
export async function replayInto(drain: Drain, app: App, req: ReplayRequest, history: HistorySource, cluster: DrainCluster | null): Promise<ReplayAnswer> {
  const view = await history.read(app, 'num' in req ? Math.min(req.num, REPLAY_MAX_NUM) : undefined, true);
  if (drain.closed) return { status: 503, body: { id: 'no_owner', error: 'the drain stopped meanwhile; try again' } };
  if (drain.state === DrainState.FAILING) throw failing(drain); // it may have failed while the history was read
  const now = Date.now();
  const plan = planReplay(view.lines, req, view.gone ?? null, now);
  const notice = plan.missing > 0 ? { line: lossLine(plan.missing, plan.sinceMs, now), missing: plan.missing, sinceMs: plan.sinceMs } : null;
  const queued = drain.replay(plan.lines, notice);
  cluster?.injected(drain.id, queued);
  const body: ReplayResult = { replayed: queued - (notice === null ? 0 : 1), missing: plan.missing };
  if (!plan.exact) body.lower_bound = true;
  return { status: 202, body };
}

function failing(drain: Drain): LogplaneError {
  const e = drain.status().lastError;
  const why = e === null ? '' : ` (last error: ${e.status !== undefined ? `HTTP ${e.status}` : (e.errno ?? e.text)})`;
  return new LogplaneError(ErrorCode.CONFLICT, 409, 'drain_failing', `drain is failing${why}: replay once it delivers again, or the replayed lines would be lost too`);
}
