// Embedded mode: what a graceful stop could not deliver to a drain is not
// lost silently (SPEC 6.5). The lines a drain still holds when the flush
// bound passes, and the drops it still owes an L10 line, are counted per
// drain and saved in <data dir>/drain-losses.json; the next start reads the
// file (and keeps it: the stop after rewrites it with what is still
// unreported, or removes it, so a crash before the L10 line went out
// announces it again rather than never), and each drain that is still there begins with
// `Error L10 (output buffer overflow): N messages dropped since T.`, as
// distributed mode announces lines a stop could not write to Redis
// (cluster/unwritten.ts). Counts only, never lines. A file that cannot be
// read is skipped with a warning.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { missing, replaceFile, unlinkIfThere } from '../basics/files.js';
import type { Log } from '../obs/log.js';

export const DRAIN_LOSSES_FILE = 'drain-losses.json';

/** Lines one drain lost at a stop: held undelivered, or dropped and not yet reported, since sinceMs. */
export interface DrainLoss {
  app: string;
  drain: string;
  lines: number;
  sinceMs: number;
}

/** Save the losses of a stop (none: remove an old file, which the next start would announce again). */
export async function saveDrainLosses(dataDir: string, losses: readonly DrainLoss[]): Promise<void> {
  const path = join(dataDir, DRAIN_LOSSES_FILE);
  if (losses.length === 0) return unlinkIfThere(path);
  await replaceFile(path, JSON.stringify({ version: 1, losses }));
}

function valid(x: unknown): x is DrainLoss {
  const l = x as DrainLoss;
  return typeof l === 'object' && l !== null && typeof l.app === 'string' && typeof l.drain === 'string' && Number.isSafeInteger(l.lines) && l.lines > 0 && Number.isFinite(l.sinceMs);
}

/** Read what saveDrainLosses wrote (the file stays until the next stop's save: see the top). */
export async function loadDrainLosses(dataDir: string, log: Log): Promise<DrainLoss[]> {
  const path = join(dataDir, DRAIN_LOSSES_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!missing(err)) log.warn({ at: 'drains.losses_unreadable', path, err: (err as Error).message }, 'the drain losses of the last stop could not be read; not announced');
    return [];
  }
  let losses: DrainLoss[] = [];
  try {
    const doc = JSON.parse(text) as { losses?: unknown[] };
    losses = (doc.losses ?? []).filter(valid);
  } catch (err) {
    log.warn({ at: 'drains.losses_unreadable', path, err: (err as Error).message }, 'the drain losses of the last stop could not be read; not announced');
  }
  return losses;
}
