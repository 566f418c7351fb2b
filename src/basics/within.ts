// Waiting for something at most so long: what a promise settles to if it
// settles in time, else a stand-in value, and the timer cleared either way
// (a pending timer would keep a stopping process alive for its duration).

/**
 * What p resolves to if it settles within ms, else `late`. A rejection of p
 * within ms is thrown: callers that only want "in time or not" catch it on p
 * first. p itself is not cancelled; its later answer is ignored.
 */
export async function within<T, L>(p: Promise<T>, ms: number, late: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<L>((resolve) => (timer = setTimeout(() => resolve(late), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
