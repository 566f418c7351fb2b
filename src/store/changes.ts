// What a shared config store (store/redis.ts) needs so that no change is
// lost on its way to this node's copy: the listeners, handed a change again
// until their re-read of it succeeds (ChangeListeners), and the config
// versions this node has, to tell a missed change from one on its way
// (HeardVersions). Neither knows Redis.
import type { StoreChange } from './store.js';

/** A listener re-reads what changed; a promise that rejects means the re-read failed. */
export type ChangeListener = (change: StoreChange) => unknown;

/** A failed change is handed again after 50 ms, doubling to this. */
const RETRY_MAX_MS = 500;

/** 50 ms doubling to 500 ms. */
export function backoff(attempt: number): number {
  return Math.min(RETRY_MAX_MS, 50 * 2 ** Math.min(attempt, 10));
}

interface Retry {
  listener: ChangeListener;
  change: StoreChange;
  attempt: number;
  timer: NodeJS.Timeout;
}

/**
 * The store's listeners. A change a listener fails (its promise rejects, or
 * it throws) is handed to it again with backoff until one succeeds; one
 * retry waits per listener and change (an app, the keys, the admin key),
 * since it re-reads the newest state whatever came meanwhile.
 */
export class ChangeListeners {
  readonly #listeners: ChangeListener[] = [];
  readonly #retries = new Map<string, Retry>();
  #closed = false;

  add(listener: ChangeListener): void {
    this.#listeners.push(listener);
  }

  emit(change: StoreChange): void {
    for (const l of this.#listeners) this.#deliver(l, change, 0);
  }

  /** Hand every waiting change again now (the connection its re-read needs is back). */
  retryNow(): void {
    for (const key of [...this.#retries.keys()]) this.#retryNow(key);
  }

  /** Changes waiting for a retry. */
  get waiting(): number {
    return this.#retries.size;
  }

  close(): void {
    this.#closed = true;
    for (const r of this.#retries.values()) clearTimeout(r.timer);
    this.#retries.clear();
  }

  #deliver(listener: ChangeListener, change: StoreChange, attempt: number): void {
    let done: Promise<unknown>;
    try {
      done = Promise.resolve(listener(change));
    } catch (err) {
      done = Promise.reject(err);
    }
    done.catch(() => this.#retry(listener, change, attempt));
  }

  #retry(listener: ChangeListener, change: StoreChange, attempt: number): void {
    if (this.#closed) return;
    const key = `${this.#listeners.indexOf(listener)} ${change.kind} ${change.kind === 'app' ? change.id : ''}`;
    if (this.#retries.has(key)) return;
    const timer = setTimeout(() => this.#retryNow(key), backoff(attempt));
    timer.unref();
    this.#retries.set(key, { listener, change, attempt, timer });
  }

  #retryNow(key: string): void {
    const r = this.#retries.get(key);
    if (!r) return;
    clearTimeout(r.timer);
    this.#retries.delete(key);
    if (!this.#closed) this.#deliver(r.listener, r.change, r.attempt + 1);
  }
}

/**
 * The config versions (a counter every change raises) this node has: every
 * one up to `applied`, and those heard above it. A stored version past
 * `applied` means a change not heard of yet: on its way, or missed.
 */
export class HeardVersions {
  /** Every change up to this one is in this node's copy (heard of, or re-read). */
  applied = 0;
  /** False until `applied` was first read from the store. */
  known = false;
  readonly #above = new Set<number>();

  /** A change that made version v is in (heard of, or made here). */
  heard(v: number): void {
    if (!Number.isSafeInteger(v) || v <= this.applied) return;
    this.#above.add(v);
    this.#advance();
  }

  /** Everything up to v is in (read whole after v was read). Below `applied`: the counter went back (the store lost its data), start again from v. */
  set(v: number): void {
    if (v < this.applied) this.#above.clear();
    this.known = true;
    this.applied = v;
    for (const h of this.#above) if (h <= v) this.#above.delete(h);
    this.#advance();
  }

  #advance(): void {
    while (this.#above.delete(this.applied + 1)) this.applied++;
  }
}
