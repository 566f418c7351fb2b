// Drain filters (SPEC 16): `"filter": {"source", "dyno", "grep"}` on a new
// drain, with the session filter rules of SPEC 5.1 (line-filter.ts). Checked
// once when the drain is added (bad input is a 400 naming the field); the
// drain then evaluates it once per line, on bytes, before queueing.
import { BadRequestError } from '../errors.js';
import { LineFilter } from '../line-filter.js';
import type { DrainFilter } from '../store/store.js';

/** Longest value of a filter field, in bytes (UTF-8). */
export const FILTER_FIELD_MAX_BYTES = 256;

const FIELDS = ['source', 'dyno', 'grep'] as const;

/**
 * The `filter` field of a request body: undefined when absent, null or has no
 * field set (every line); else the fields that are set. Empty strings and
 * nulls count as not set, as in session filters.
 */
export function parseDrainFilter(v: unknown): DrainFilter | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new BadRequestError('filter: must be an object with "source", "dyno" and/or "grep"', 'invalid_params');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(FIELDS as readonly string[]).includes(k)) throw new BadRequestError(`filter.${k}: unknown field (use source, dyno or grep)`, 'invalid_params');
  }
  const out: DrainFilter = {};
  for (const k of FIELDS) {
    const f = o[k];
    if (f === undefined || f === null || f === '') continue;
    if (typeof f !== 'string') throw new BadRequestError(`filter.${k}: must be a string`, 'invalid_params');
    if (Buffer.byteLength(f) > FILTER_FIELD_MAX_BYTES) throw new BadRequestError(`filter.${k}: at most ${FILTER_FIELD_MAX_BYTES} bytes`, 'invalid_params');
    if (/[\u0000-\u001f\u007f]/.test(f)) throw new BadRequestError(`filter.${k}: control characters are not allowed`, 'invalid_params');
    out[k] = f;
  }
  return out.source === undefined && out.dyno === undefined && out.grep === undefined ? undefined : out;
}

/** The matcher for a stored filter; null when every line goes through. */
export function lineFilterOf(f: DrainFilter | undefined): LineFilter | null {
  if (f === undefined) return null;
  const lf = new LineFilter({ source: f.source ?? null, dyno: f.dyno ?? null, grep: f.grep ?? null });
  return lf.all ? null : lf;
}

/** Two stored filters are the same (none equals none). */
export function sameFilter(a: DrainFilter | undefined, b: DrainFilter | undefined): boolean {
  return a?.source === b?.source && a?.dyno === b?.dyno && a?.grep === b?.grep;
}
