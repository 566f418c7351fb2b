// The live tail over the WebSocket protocol (SPEC 5.3), as `logplane logs -t`
// reads it: create a session with the key (POST /v3/sessions; the key never
// goes into a URL), open its URL on this origin, history first, then live.
// When the connection drops it reconnects by itself with `after=<last seq>`
// (a new session with `after` when the old one is gone), so nothing is shown
// twice and every loss arrives as a gap frame with the exact count.
import { call } from './api.js';
import type { Line } from './format.js';

export interface Filters {
  source: string;
  dyno: string;
  grep: string;
}

export interface Gap {
  dropped: number;
  since: string;
  from: number;
  to: number;
  /** dropped is only what is known lost (distributed mode: other nodes' lines could not be read). */
  lower_bound?: boolean;
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface StreamEvents {
  lines(lines: Line[]): void;
  gap(g: Gap): void;
  /** `status`: the HTTP status that stopped the tail (401, 403, 422), when one did. */
  state(s: StreamState, detail?: string, status?: number): void;
}

/** History lines asked for when a view opens. */
export const HISTORY_LINES = 500;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

export class TailStream {
  readonly #app: string;
  readonly #filters: Filters;
  readonly #on: StreamEvents;
  #ws: WebSocket | null = null;
  #url: string | null = null;
  #lastSeq: number | null = null;
  #head: number | null = null;
  #stopped = false;
  #failures = 0;
  #timer: number | null = null;

  constructor(app: string, filters: Filters, on: StreamEvents) {
    this.#app = app;
    this.#filters = filters;
    this.#on = on;
  }

  start(): void {
    void this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#ws?.close(1000);
    this.#ws = null;
    this.#on.state('stopped');
  }

  /** Where to resume: after the last line seen, else after the head the server announced. */
  #resumeAfter(): number | null {
    return this.#lastSeq ?? this.#head;
  }

  async #session(): Promise<string> {
    const body: Record<string, unknown> = { channel_id: this.#app, num: HISTORY_LINES, tail: true };
    const f = this.#filters;
    if (f.source) body.source = f.source;
    if (f.dyno) body.ps = f.dyno;
    if (f.grep) body.grep = f.grep;
    const after = this.#resumeAfter();
    if (after !== null) body.after = after;
    const r = await call<{ url: string }>('POST', '/v3/sessions', body);
    return r.url;
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    this.#on.state(this.#lastSeq === null && this.#head === null ? 'connecting' : 'reconnecting');
    try {
      this.#url ??= await this.#session();
    } catch (e) {
      const status = (e as { status?: number }).status ?? 0;
      // a refused key or a forbidden app will not get better by retrying
      if (status === 401 || status === 403 || status === 422) {
        this.#on.state('stopped', (e as Error).message, status);
        this.#stopped = true;
        return;
      }
      this.#retry();
      return;
    }
    if (this.#stopped) return;
    // the session URL names the server's public address; this page talks to its own origin
    const path = new URL(this.#url).pathname;
    const after = this.#resumeAfter();
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}${path}${after !== null ? `?after=${after}` : ''}`);
    this.#ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (ev) => {
      if (ws !== this.#ws) return;
      this.#frame(JSON.parse(String(ev.data)) as Record<string, unknown>);
    };
    ws.onclose = () => {
      if (ws !== this.#ws || this.#stopped) return;
      this.#ws = null;
      // never opened: the session is gone (expired, another node lost it): make a new one next time
      if (!opened) this.#url = null;
      this.#retry();
    };
  }

  #frame(f: Record<string, unknown>): void {
    switch (f.type) {
      case 'hello':
        this.#failures = 0;
        if (this.#head === null) this.#head = Number(f.head);
        this.#on.state('live');
        break;
      case 'lines': {
        const lines = f.lines as Line[];
        if (lines.length === 0) return;
        this.#lastSeq = lines[lines.length - 1]!.seq;
        this.#on.lines(lines);
        break;
      }
      case 'gap': {
        const g = f as unknown as Gap;
        if (this.#lastSeq === null || g.to > this.#lastSeq) this.#lastSeq = g.to;
        this.#on.gap(g);
        break;
      }
      case 'end':
        break;
    }
  }

  #retry(): void {
    if (this.#stopped) return;
    this.#on.state('reconnecting');
    const ms = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.#failures) * (0.75 + Math.random() * 0.5);
    this.#failures++;
    this.#timer = window.setTimeout(() => {
      this.#timer = null;
      void this.#connect();
    }, ms);
  }
}
