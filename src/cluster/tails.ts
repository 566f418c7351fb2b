// Distributed mode for the tails of this node (the TailCluster hooks of
// tail/service.ts): live lines of other nodes for each app hub, in seq order,
// and sessions readable on every node.
import type { Redis } from 'ioredis';
import type { Log } from '../obs/log.js';
import type { HubOrder, TailHub } from '../tail/hub.js';
import type { TailCluster } from '../tail/service.js';
import type { Session } from '../tail/session.js';
import type { App } from '../apps.js';
import { seqOf } from '../line.js';
import { decodeLossNotice, isLossNotice } from './batch.js';
import type { LineBus } from './bus.js';
import { StreamFollower, type FollowTarget } from './follow.js';
import type { RedisHistory } from './history.js';
import { originOf, seqCeilingAt } from '../basics/seq.js';
import { SessionMirror } from './sessions.js';

export interface TailBridgeOptions {
  redis: Redis;
  history: RedisHistory;
  bus: LineBus;
  /** Seq origins that are this node (its index now or before). */
  origins: ReadonlySet<number>;
  /** The highest seq under origin that may be a line of this node's in the app's history (Cluster.ownCeiling). */
  ownCeiling(appId: string, origin: number): number;
  /** How long a tail holds a line for lines of other nodes, so it can send them in seq order, ms. */
  reorderMs: number;
  sessionTtlMs: number;
  sessionRefreshMs: number;
  log: Log;
}

/** The seq of the first line of node `origin` after recs[i] (the lines a loss notice went in front of), Infinity when none. */
function nextOf(recs: readonly Buffer[], i: number, origin: number): number {
  for (let j = i + 1; j < recs.length; j++) {
    const r = recs[j]!;
    if (isLossNotice(r)) continue;
    const s = seqOf(r);
    if (originOf(s) === origin) return s;
  }
  return Infinity;
}

export class TailBridge implements TailCluster {
  readonly order: HubOrder;
  readonly #o: TailBridgeOptions;
  readonly #sessions: SessionMirror;
  readonly #watchers = new Map<TailHub, StreamFollower>();

  constructor(o: TailBridgeOptions) {
    this.#o = o;
    const reorderMs = o.reorderMs;
    this.order = { windowMs: reorderMs, bound: () => seqCeilingAt(Date.now() - reorderMs), ownCeiling: o.ownCeiling };
    this.#sessions = new SessionMirror(o.redis, o.log, o.sessionTtlMs, o.sessionRefreshMs);
  }

  watch(app: App, hub: TailHub): Promise<void> {
    // the app's stream in ordinal order (missed batches read back from the history); our own lines went to the hub directly
    const origins = this.#o.origins;
    const target: FollowTarget = {
      lines(recs, from, first, origin) {
        if (origin >= 0 && origins.has(origin)) return;
        for (let i = from; i < recs.length; i++) {
          const rec = recs[i]!;
          if (isLossNotice(rec)) {
            // another node's lines that never reached Redis: a gap for every tail (but one that
            // had its lines after them, or did not ask for them: the seq of that node's next line says)
            const n = decodeLossNotice(rec)!;
            if (!origins.has(n.origin)) hub.reportLoss(n.n, n.since, first + i, nextOf(recs, i, n.origin));
            continue;
          }
          if (origin < 0 && origins.has(originOf(seqOf(rec)))) continue;
          hub.offer(rec);
        }
      },
      lost: (n, since, through) => hub.reportLoss(n, since, through),
      // a follower started while Redis was unreachable: its first read cannot say what it missed before
      readFromStart: (trimmedSeq) => hub.reportUnread(trimmedSeq),
      // every line of ours went to the hub directly when it was routed; our notices' lines did too
      ownLost: () => 0,
    };
    const w = new StreamFollower(app.id, this.#o.history, target, this.#o.log);
    this.#watchers.set(hub, w);
    return this.#o.bus.watch(app.id, w);
  }

  readThrough(hub: TailHub, ordinal: number): void {
    this.#watchers.get(hub)?.readThrough(ordinal);
  }

  unwatch(app: App, hub: TailHub): void {
    const w = this.#watchers.get(hub);
    if (!w) return;
    this.#watchers.delete(hub);
    w.close();
    this.#o.bus.unwatch(app.id, w);
  }

  sessionCreated(s: Session): Promise<void> {
    return this.#sessions.created(s);
  }

  sessionTouched(s: Session): void {
    this.#sessions.touched(s);
  }

  findSession(id: string): Promise<Session | null> {
    return this.#sessions.find(id);
  }

  sessionsEnded(sessions: readonly Session[]): void {
    this.#sessions.ended(sessions);
  }

  /** The followers of an app's stream for its live tails on this node (tests: caught up yet?). */
  followers(appId: string): StreamFollower[] {
    return [...this.#watchers.values()].filter((w) => w.appId === appId);
  }

  close(): void {
    this.#sessions.close();
  }
}
