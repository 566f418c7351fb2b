// What the parts of a node's stats write (node-stats.ts: rates.ts,
// limit-share.ts, counts.ts) share: the one pipeline of the period, the
// fields of the node's record, and the readers' time limit.
import type { ChainableCommander, Redis } from 'ioredis';
import { pipelineByOwner } from '../redis/pipeline.js';
import { within } from '../basics/within.js';

/**
 * The stats record this release writes, announced as `stats` in each node's
 * info (`lp:node:<id>`): a node without it is of the previous release, which
 * exchanged the rate limit's reports in a key of their own (limit-share.ts).
 */
export const STATS_VERSION = 2;
/** How long a reader (the stats route, the channel list) waits for Redis before it answers with this node's own figures (partial). */
export const READ_TIMEOUT_MS = 1000;

export type StatsReplies = ReadonlyArray<[Error | null, unknown] | undefined>;

/** The fields of this node's record set and deleted this period (flat: field, value, field, value...). */
export interface RecordFields {
  sets: string[];
  dels: string[];
}

/** The period's pipeline (split by master on a Redis Cluster); each command's reply is found by its index. */
export class StatsBatch {
  readonly pipeline: ChainableCommander;
  #n = 0;

  constructor(redis: Redis) {
    this.pipeline = pipelineByOwner(redis);
  }

  /** Queue one command (its key first); the index of its reply. */
  add(queue: (p: ChainableCommander) => unknown): number {
    queue(this.pipeline);
    return this.#n++;
  }

  /** Commands queued. */
  get size(): number {
    return this.#n;
  }
}

/** A reader's pipeline, answered within READ_TIMEOUT_MS, or null (Redis did not answer in time, or failed). */
export async function readWithin(p: ChainableCommander): Promise<StatsReplies | null> {
  return within(p.exec(), READ_TIMEOUT_MS, null).catch(() => null);
}
