// Messages between the main thread and ingest workers. Bytes travel as
// transferred ArrayBuffers (no copy); everything else is a few numbers.

/** Transport index in count arrays. */
export const T = { tcp: 0, tls: 1, udp: 2 } as const;
export type TransportIndex = (typeof T)[keyof typeof T];
export const TRANSPORTS = ['tcp', 'tls', 'udp'] as const;
/** The transport of a POST /logs body's lines in a batch record (batch.ts), after the stream ones. */
export const T_HTTP = 3;

/** Per transport: lines, bytes, malformed, unknown token. */
export const COUNTS_PER_TRANSPORT = 4;
export const C_LINES = 0;
export const C_BYTES = 1;
export const C_MALFORMED = 2;
export const C_UNKNOWN = 3;

export type ToWorker =
  /** Token replica: add or replace (token, app slot, token name), then remove. */
  | { k: 'tokens'; add: [string, number, string][]; del: string[] }
  /** A chunk of stream c (TCP/TLS) in b[o, o+n). */
  | { k: 'data'; c: number; t: TransportIndex; b: ArrayBuffer; o: number; n: number }
  /** Stream c ended (flush a pending LF frame) or was closed (forget it). */
  | { k: 'end'; c: number }
  | { k: 'close'; c: number }
  /** UDP datagrams packed as [u32 len][bytes]..., received at ms. */
  | { k: 'dgrams'; b: ArrayBuffer; n: number; ms: number }
  /** A batch buffer nobody holds a view of any more: reuse it. */
  | { k: 'recycle'; b: ArrayBuffer }
  /** Shared answer buffer s (see 'http' below) is routed: reuse it. */
  | { k: 'free'; s: number }
  /** A whole POST /logs body in b[o, o+n), authenticated as token `name` of app `slot`. */
  | { k: 'http'; id: number; slot: number; name: string; b: ArrayBuffer; o: number; n: number; ms: number }
  /** Several of the above sent in one turn of the event loop, in order: one message (and one wake-up) instead of one each. */
  | { k: 'many'; ms: ToWorker[] };

export type FromWorker =
  /**
   * Cooked lines as [u32 app slot][u32 len][record]... in b[0, n); counts by
   * transport (see C_*); consumed = input bytes handled since the last batch.
   */
  | { k: 'lines'; b: ArrayBuffer | null; n: number; counts: number[]; consumed: number }
  /** Stream c sent what cannot be framed: close it. */
  | { k: 'streamError'; c: number; e: number }
  /**
   * A POST /logs body: all of it cooked, or the first bad frame. The cooked
   * lines (as in 'lines') are in b[0, n), or, when s >= 0, in the worker's
   * shared answer buffer s, which comes along (sab) the first time it is used
   * and is reused once the main thread sends 'free' for it.
   */
  | { k: 'http'; id: number; result: HttpParse; b: ArrayBuffer | null; n: number; s: number; sab: SharedArrayBuffer | null }
  /** The answers to one 'many', in order. */
  | { k: 'many'; ms: FromWorker[] };

export interface HttpParse {
  ok: boolean;
  /** Frames in the body, and bytes of their messages. */
  frames: number;
  bytes: number;
  /** Lines after cooking. */
  lines: number;
  /** When not ok: the frame (1-based), its byte offset and why. */
  errorFrame: number;
  errorOffset: number;
  errorText: string;
}
