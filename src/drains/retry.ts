// Delivery outcomes and what to do about them (SPEC 6.3, 6.4). One function
// decides retry or drop; backoff delays are computed here too.

/** What one delivery attempt of a batch ended with. */
export type Outcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'error'; readonly code: string; readonly message: string };

export type Verdict = 'retry' | 'drop';

/** 2xx (or, for syslog, written to the socket): the batch is delivered. */
export function isDelivered(o: Outcome): boolean {
  return o.kind === 'ok' || (o.kind === 'status' && o.status >= 200 && o.status < 300);
}

/**
 * For an outcome that is not a delivery: 408, 429, 5xx, timeouts and network
 * errors (refused, reset, DNS, TLS, private address) are retried; any other
 * status (4xx, and 1xx/3xx, which retrying cannot fix: redirects are not
 * followed) drops the batch.
 */
export function classify(o: Outcome): Verdict {
  if (o.kind !== 'status') return 'retry';
  const s = o.status;
  if (s === 408 || s === 429 || s >= 500) return 'retry';
  return 'drop';
}

/**
 * Jittered exponential backoff ("equal jitter"): the n-th retry (1-based)
 * waits between half and all of min(max, base x 2^(n-1)).
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** Syslog reconnect delay: 2^failures units, at most max (Logplex's rule). */
export function reconnectMs(failures: number, unitMs: number, maxMs: number): number {
  return Math.min(maxMs, unitMs * 2 ** Math.min(failures, 30));
}

/** Short text for an outcome (status and logs). */
export function describe(o: Outcome): string {
  if (o.kind === 'ok') return 'ok';
  return o.kind === 'status' ? `HTTP ${o.status}` : `${o.code}: ${o.message}`;
}

/** Turn a thrown/emitted error into an outcome. */
export function errorOutcome(err: unknown): Outcome {
  const e = err as NodeJS.ErrnoException;
  return { kind: 'error', code: typeof e?.code === 'string' ? e.code : 'ERROR', message: typeof e?.message === 'string' ? e.message : String(err) };
}
