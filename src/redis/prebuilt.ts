// Commands whose Redis protocol (RESP) bytes the caller wrote itself, sent on
// an ioredis connection: ioredis matches their replies, times them out and
// rejects them when the connection drops as it does for its own commands, but
// sends the caller's bytes as they are. Its own commands copy every Buffer
// argument into a fresh buffer per command, and a pipeline copies them all
// once more into one buffer; these are sent with no copy (the socket is
// corked while they are written, so they leave in one writev).
//
// A group of several commands (a MULTI ... EXEC transaction) is sent as ONE
// ioredis command, written part by part, whose further replies are taken off
// ioredis' reply queue by light slots placed right behind it: ioredis' cost
// per command (a promise, a timeout timer, tracing) is paid once per group.
// The slots rely on ioredis (6.x) keeping `commandQueue` entries of
// `{ command, stream, select }` and calling only `command.resolve`,
// `command.reject`, `command.name` and `command.args` on them. A connection
// that would not write the command at once (still connecting: ioredis keeps
// it in its offline queue, to write later) gets the group as one command per
// reply instead.
import { Command, type Redis } from 'ioredis';

class Prebuilt extends Command {
  readonly #parts: readonly Buffer[];
  constructor(name: string, parts: readonly Buffer[]) {
    super(name, [], { replyEncoding: 'utf8' });
    this.#parts = parts;
  }
  override toWritable(stream?: unknown): Buffer {
    const parts = this.#parts;
    const last = parts.length - 1;
    if (last === 0) return parts[0]!;
    const s = stream as { write?: (b: Buffer) => unknown } | undefined;
    if (typeof s?.write !== 'function') return Buffer.concat(parts);
    for (let i = 0; i < last; i++) s.write(parts[i]!);
    return parts[last]!;
  }
}

type Reply = [Error | null, unknown];

/** Takes one reply of a group off ioredis' queue. */
class ReplySlot {
  readonly args: unknown[] = [];
  readonly name: string;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  constructor(name: string, settle: (r: Reply) => void) {
    this.name = name;
    this.resolve = (v) => settle([null, asStrings(v)]);
    this.reject = (e) => settle([e, null]);
  }
}

/** A reply as ioredis gives it for a command not in buffer mode: bulk and simple strings as utf8 strings, also inside arrays. */
function asStrings(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (Array.isArray(v)) return v.map(asStrings);
  return v;
}

interface QueueItem {
  command: unknown;
  stream?: unknown;
  select?: unknown;
}
interface Queue {
  readonly length: number;
  peekAt(i: number): QueueItem | undefined;
  push(item: QueueItem): void;
}

/** ioredis' reply queue of this connection, when it is what the slots need. */
function replyQueue(r: Redis): Queue | null {
  const q = (r as unknown as { commandQueue?: Partial<Queue> }).commandQueue;
  return q !== undefined && typeof q.peekAt === 'function' && typeof q.push === 'function' && typeof q.length === 'number' ? (q as Queue) : null;
}

/** True when ioredis writes a command at once and puts it in its reply queue (not in its offline queue, to be written later). */
function writesNow(r: Redis): boolean {
  const stream = (r as unknown as { stream?: { writable?: boolean; _writableState?: { ended?: boolean } } }).stream;
  return r.status === 'ready' && stream !== undefined && stream.writable === true && stream._writableState?.ended !== true;
}

/** Send one group (parts, one reply each) as one command: its replies in order, never rejects. */
function sendGroup(r: Redis, name: string, parts: readonly Buffer[]): Promise<Reply[]> {
  const queue = parts.length > 1 && writesNow(r) ? replyQueue(r) : null;
  // not written at once (a connection still connecting keeps commands in its offline queue), or no queue to put slots in: one command per part
  if (queue === null && parts.length > 1) return Promise.all(parts.map((p) => sendGroup(r, name, [p]))).then((rs) => rs.flat());
  const cmd = new Prebuilt(name, parts);
  const before = queue?.length ?? -1;
  const first = r.sendCommand(cmd) as Promise<unknown>;
  const n = parts.length;
  if (n === 1) return first.then((v): Reply[] => [[null, v]], (e: unknown): Reply[] => [[asError(e), null]]);
  const out: Array<Reply | undefined> = new Array<Reply | undefined>(n);
  let pending = n;
  let done: (r: Reply[]) => void = () => {};
  const all = new Promise<Reply[]>((res) => (done = res));
  const settle = (i: number, reply: Reply): void => {
    if (out[i] !== undefined) return;
    out[i] = reply;
    if (--pending === 0) done(out as Reply[]);
  };
  const queued = queue !== null && queue.length === before + 1 && queue.peekAt(before)?.command === cmd;
  if (queued) {
    const select = queue.peekAt(before)?.select;
    for (let i = 1; i < n; i++) queue.push({ command: new ReplySlot(name, (reply) => settle(i, reply)), stream: undefined, select });
  }
  first.then(
    (v) => settle(0, [null, v]),
    (e: unknown) => {
      // not written, timed out, or the connection dropped: every reply not yet in gets that error
      const err = asError(e);
      for (let i = 0; i < n; i++) settle(i, [err, null]);
    },
  );
  if (!queued) {
    // refused at once (checked writable just before, so never queued for later): its rejection fills reply 0, no reply will come
    for (let i = 1; i < n; i++) settle(i, [new Error('command not sent'), null]);
  }
  return all;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * Send groups of commands in order, as a pipeline would: each group is its
 * parts (the caller's RESP bytes, one reply each, untouched until the
 * returned promise settles). Resolves with every reply's [error, reply], in
 * order, group after group; never rejects.
 */
export async function sendPrebuilt(r: Redis, name: string, groups: readonly (readonly Buffer[])[]): Promise<Reply[]> {
  const stream = (r as unknown as { stream?: { cork?(): void; uncork?(): void } }).stream;
  const corked = r.status === 'ready' && typeof stream?.cork === 'function';
  if (corked) stream!.cork!();
  const sent: Array<Promise<Reply[]>> = [];
  try {
    for (const g of groups) sent.push(sendGroup(r, name, g));
  } finally {
    if (corked) stream!.uncork!();
  }
  return (await Promise.all(sent)).flat();
}
