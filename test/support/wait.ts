// Waiting in tests: poll a condition until it holds, bounded. Tests wait for
// the event they need, never for a fixed time; the bound only decides how long
// a broken run takes to fail, so it is generous (the suite runs on loaded
// machines).

/** Polls fn every stepMs until it returns a truthy value (returned); fails after timeoutMs naming `what`. */
export async function until<T>(what: string, fn: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 30_000, stepMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * Waits until fn's value stops changing: the same for `quietMs` in a row
 * (a run that has drained and gone quiet), bounded by timeoutMs. For checks of
 * the form "nothing more arrives" after the expected event was seen.
 */
export async function settled<T>(what: string, fn: () => T, quietMs = 500, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = JSON.stringify(fn());
  let since = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    const now = JSON.stringify(fn());
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return fn();
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} to settle`);
  }
}
