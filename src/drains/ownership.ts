// What distributed mode gives the drain manager (implemented by
// cluster/leases.ts and cluster/drains.ts): which drains this node delivers,
// and a feed per owned drain. Declared here, on the drains' side, so cluster/
// imports drains/ and never the other way.
import type { LineSink } from '../apps.js';
import type { ReplayRequest } from './replay.js';
import type { DrainStatus } from './status.js';

/** What the drain manager hands over for one owned drain. */
export interface DrainHandle {
  /** The drain itself, taking every line offered (the feed applies the filter: see accepts). */
  sink: LineSink;
  /**
   * The drain's filter (SPEC 16): the feed offers only lines it accepts, and
   * steps its cursor over the others. Absent: every line.
   */
  accepts?(rec: Buffer): boolean;
  /** Lines that have left its queue so far: delivered plus dropped (any reason). */
  consumed(): number;
  /** Its status for app owners (written to Redis for the other nodes' API). */
  status?(): DrainStatus;
}

/** What the drain manager needs from the cluster. */
export interface DrainOwnership {
  /** True while this node holds the drain's lease (always true in embedded mode). */
  owns(drainId: string): boolean;
  /** 'acquire' (appId, drainId): start delivering it; 'release' (appId, drainId): stop. */
  on(event: 'acquire' | 'release', listener: (appId: string, drainId: string) => void): this;
  off(event: 'acquire' | 'release', listener: (appId: string, drainId: string) => void): this;
}

/** What the drain manager is given in distributed mode (implemented by cluster/drains.ts). */
export interface DrainCluster {
  readonly drains: DrainOwnership;
  /** An owned drain's sink for app.sinks: feeds it every node's lines once, after the last checkpoint. */
  attachDrain(appId: string, drainId: string, handle: DrainHandle): LineSink;
  /** Node stopping: feed no more lines to any owned drain, so each flushes what it holds and its cursor ends at its last delivery. */
  quiesce(): void;
  /** Stop feeding it (released, removed, stopping); its cursor is saved. */
  detachDrain(drainId: string): void;
  /**
   * The status the owners of these drains of one app last wrote (every
   * second), read from Redis now (bounded in time); when Redis does not
   * answer, the last one read here. null for one never written.
   */
  remoteStatuses(appId: string, drainIds: readonly string[]): Promise<(DrainStatus | null)[]>;
  /** n lines were put into an owned drain outside the stream (a replay): its feed counts them, so its cursor stays right. */
  injected(drainId: string, n: number): void;
  /** Have the node that delivers a drain replay it (SPEC 16); resolves with that node's answer. */
  forwardReplay(appId: string, drainId: string, req: ReplayRequest): Promise<ReplayAnswer>;
  /** Serve the replays other nodes forward to this one, with `handler`. */
  serveReplays(handler: (appId: string, drainId: string, req: ReplayRequest) => Promise<ReplayAnswer>): void;
}

/** A replay's answer as the API gives it: HTTP status and JSON body. */
export interface ReplayAnswer {
  status: number;
  body: unknown;
  /** Seconds, for the Retry-After header (a replay refused by ReplayLimit). */
  retryAfter?: number;
}
