// One round of the Redis writer (history.ts): the chunks taken from the
// queue, grouped by the master serving each app's slot, sent as one batch
// of appends per master (in parallel), and the replies sorted into written,
// refused, and "not executed, send again" (connection lost, slot moved or
// migrating, cluster down, script not loaded), which go back to the front
// of the queue in their order.
import type { Redis } from 'ioredis';
import type { ScriptPipeline } from '../redis/scripts.js';
import { isCluster, isConnectionError, isNoScript, isRedirect, ownerOf } from '../redis/connection.js';
import { sendAppends } from './append-wire.js';
import { blobOf, type Chunk } from './pending.js';

/** One master's batch of a round, settled. */
export interface Outcome {
  chunks: Chunk[];
  results: Array<[Error | null, unknown]> | null;
  err: Error | null;
}

/** What a round's replies say, all outcomes together. */
export interface Settled {
  /** Written chunks and the app's new total each append returned. */
  written: Array<{ chunk: Chunk; total: number }>;
  /** Chunks Redis refused (they will never be written), with its reply. */
  rejected: Array<{ chunk: Chunk; err: Error }>;
  /** Chunks not executed, to be sent again (in any order here: the caller sorts them by id). */
  again: Chunk[];
  /** Why the connection is taken to be lost, if it is. */
  lostConnection: string | null;
  /** A redirection (MOVED, ASK, TRYAGAIN, CLUSTERDOWN...): the slot map is to be reloaded. */
  redirected: boolean;
  /** The append script was not loaded where an append went. */
  noScript: boolean;
}

/** The round's chunks grouped by the master serving each app (one group on one endpoint), each app's chunks in order. */
export function byOwner(redis: Redis, take: readonly Chunk[]): Chunk[][] {
  const groups = new Map<string, Chunk[]>();
  for (const c of take) {
    const owner = ownerOf(redis, c.batch.chunksKey);
    const g = groups.get(owner);
    if (g) g.push(c);
    else groups.set(owner, [c]);
  }
  return [...groups.values()];
}

/** Send one group's appends (chunk ids given): never rejects. */
export function sendGroup(redis: Redis, g: Chunk[], cap: number, publish: 'PUBLISH' | 'SPUBLISH', layout: '1' | '2'): Promise<Outcome> {
  // one endpoint: the round's protocol written by hand, each chunk copied once (append-wire.ts); a cluster's masters get ioredis pipelines
  if (!isCluster(redis)) return sendAppends(redis, g, cap, publish, layout).then((results): Outcome => ({ chunks: g, results, err: null }));
  const p = redis.pipeline() as unknown as ScriptPipeline;
  for (const c of g) {
    const b = c.batch;
    p.lpAppend(b.chunksKey, b.firstsKey, b.metaKey, b.sentKey, b.linesKey, cap, b.channel, publish, c.id, blobOf(c), c.lastSeq(), layout);
  }
  return p.exec().then(
    (results): Outcome => ({ chunks: g, results, err: null }),
    (err: Error): Outcome => ({ chunks: g, results: null, err }),
  );
}

/** Sort a round's replies. */
export function settle(outcomes: readonly Outcome[]): Settled {
  const s: Settled = { written: [], rejected: [], again: [], lostConnection: null, redirected: false, noScript: false };
  for (const o of outcomes) {
    if (o.err) {
      s.again.push(...o.chunks);
      if (isRedirect(o.err)) s.redirected = true;
      else s.lostConnection = o.err.message;
      continue;
    }
    for (let i = 0; i < o.chunks.length; i++) {
      const r = o.results?.[i];
      const c = o.chunks[i]!;
      if (r && r[0] === null) {
        s.written.push({ chunk: c, total: Number(r[1]) });
        continue;
      }
      const err = r?.[0];
      if (!err || isConnectionError(err) || isRedirect(err) || isNoScript(err)) {
        // not executed (connection dropped mid-pipeline, the slot is elsewhere now, or the script is not loaded yet): sent again, in order
        if (err && isNoScript(err)) s.noScript = true;
        else if (err && isRedirect(err)) s.redirected = true;
        else s.lostConnection = err?.message ?? 'connection lost during a pipeline';
        s.again.push(...o.chunks.slice(i));
        break;
      }
      s.rejected.push({ chunk: c, err });
    }
  }
  return s;
}
