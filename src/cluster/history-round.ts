// One round of the Redis writer (history.ts): the chunks taken from the
// queue, grouped by the master serving each app's slot, sent as one batch
// of appends per master (in parallel), and the replies sorted into written,
// refused, and "not executed, send again" (connection lost, slot moved or
// migrating, cluster down, script not loaded), which go back to the front
// of the queue in their order.
import type { Redis } from 'ioredis';
import { APP_GONE, BY_SHA_SCRIPTS } from '../redis/scripts.js';
import { isConnectionError, isNoScript, isRedirect, masterConnection, ownerOf } from '../redis/connection.js';
import { sendAppends } from './append-wire.js';
import type { Chunk } from './pending.js';

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
  /** Chunks of apps deleted meanwhile (no config key): discarded by the append, never to be written. */
  gone: Chunk[];
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

/** The round's chunks grouped by the master serving each app ('' on one endpoint), each app's chunks in order. */
export function byOwner(redis: Redis, take: readonly Chunk[]): Map<string, Chunk[]> {
  const groups = new Map<string, Chunk[]>();
  for (const c of take) {
    const owner = ownerOf(redis, c.batch.chunksKey);
    const g = groups.get(owner);
    if (g) g.push(c);
    else groups.set(owner, [c]);
  }
  return groups;
}

/**
 * Sends each master's appends as Redis protocol written by hand
 * (append-wire.ts: each chunk copied once, no ioredis command buffers) on
 * that master's connection: the one endpoint's, or on a Redis Cluster the
 * cluster client's connection to the master serving the group's slots, which
 * redirects nothing, so MOVED/ASK/TRYAGAIN/CLUSTERDOWN come back as replies
 * and settle() sends those chunks again after a slot map reload. The append
 * scripts are called by their SHA (the previous layout's script, and the
 * bookkeeping while nobody listens to the app): on a cluster they are loaded
 * on a master (SCRIPT LOAD, in the same write, ahead of the appends: a
 * connection runs its commands in order) before the first round there.
 */
export class RoundSender {
  /** Masters' connections the script is known to be loaded on (a cluster). */
  #loaded = new WeakSet<Redis>();

  /** A master answered NOSCRIPT, or the client reconnected: load the script again before the next appends. */
  forgetScripts(): void {
    this.#loaded = new WeakSet();
  }

  /** Send one group's appends (chunk ids given): never rejects. */
  send(redis: Redis, owner: string, g: Chunk[], cap: number, publish: 'PUBLISH' | 'SPUBLISH', layout: '1' | '2'): Promise<Outcome> {
    const conn = masterConnection(redis, owner);
    // no connection to that master (yet): not executed; the slot map is reloaded and the chunks sent again
    if (conn === undefined) return Promise.resolve({ chunks: g, results: null, err: new Error(`CLUSTERDOWN no connection to master ${owner}`) });
    if (conn !== redis && !this.#loaded.has(conn)) {
      this.#loaded.add(conn);
      for (const lua of BY_SHA_SCRIPTS) conn.script('LOAD', lua).catch(() => this.#loaded.delete(conn));
    }
    return sendAppends(conn, g, cap, publish, layout).then((results): Outcome => ({ chunks: g, results, err: null }));
  }
}

/** Sort a round's replies. */
export function settle(outcomes: readonly Outcome[]): Settled {
  const s: Settled = { written: [], gone: [], rejected: [], again: [], lostConnection: null, redirected: false, noScript: false };
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
        const total = Number(r[1]);
        if (total === APP_GONE) s.gone.push(c);
        else s.written.push({ chunk: c, total });
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
