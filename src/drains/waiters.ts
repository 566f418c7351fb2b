// Callers of Drain#flush waiting until everything held is delivered, each
// with its own deadline.

export class Waiters {
  #list: Array<(done: boolean) => void> = [];

  /** Resolves with what settle() says, or false at the deadline. */
  wait(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.#list.indexOf(done);
        if (i !== -1) this.#list.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      const done = (ok: boolean): void => {
        clearTimeout(t);
        resolve(ok);
      };
      this.#list.push(done);
    });
  }

  /** Resolve every waiter (true: everything was delivered; false: the drain stopped). */
  settle(done: boolean): void {
    if (this.#list.length === 0) return;
    const w = this.#list;
    this.#list = [];
    for (const f of w) f(done);
  }
}
