// Parsing of session parameters from API bodies and query strings. Bad input
// is a 400 naming the field (SPEC 11).
import { BadRequestError } from '../errors.js';

// 16 digits: distributed-mode seqs pass 10^15; parseSeq checks they are safe integers
const DIGITS = /^\d{1,16}$/;

/** A non-negative integer from a string or number; undefined when not one. */
export function parseSeq(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v === 'string' && DIGITS.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

/** Optional non-negative integer field (string or number); null when absent. */
export function intField(body: Record<string, unknown>, name: string): number | null {
  const v = body[name];
  if (v === undefined || v === null || v === '') return null;
  const n = parseSeq(v);
  if (n === undefined) throw new BadRequestError(`${name}: must be a non-negative integer (number or string)`, 'invalid_params');
  return n;
}

/** Optional string filter; null when absent or empty. */
export function stringField(body: Record<string, unknown>, name: string): string | null {
  const v = body[name];
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string') throw new BadRequestError(`${name}: must be a string`, 'invalid_params');
  if (Buffer.byteLength(v) > 1000) throw new BadRequestError(`${name}: too long`, 'invalid_params');
  return v;
}

/** The JSON body as an object (a missing body counts as empty). */
export function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('body: must be a JSON object', 'invalid_json');
  return body as Record<string, unknown>;
}
