// Commands whose Redis protocol (RESP) bytes the caller wrote itself, sent on
// an ioredis connection: ioredis matches their replies, times them out and
// rejects them when the connection drops as it does for its own commands, but
// sends the caller's bytes as they are. Its own commands copy every Buffer
// argument into a fresh buffer per command, and a pipeline copies them all
// once more into one buffer; these are sent with no copy (the socket is
// corked while they are written, so they leave in one writev).
import { Command, type Redis } from 'ioredis';

class Prebuilt extends Command {
  readonly #wire: Buffer;
  constructor(name: string, wire: Buffer) {
    super(name, []);
    this.#wire = wire;
  }
  override toWritable(): Buffer {
    return this.#wire;
  }
}

/**
 * Send commands (one RESP array each, the caller's bytes, which must stay
 * untouched until the returned promise settles) in order, as a pipeline
 * would: resolves with each one's [error, reply], never rejects.
 */
export async function sendPrebuilt(r: Redis, name: string, wires: readonly Buffer[]): Promise<Array<[Error | null, unknown]>> {
  const stream = (r as unknown as { stream?: { cork?(): void; uncork?(): void } }).stream;
  const corked = r.status === 'ready' && typeof stream?.cork === 'function';
  if (corked) stream!.cork!();
  const sent: Array<Promise<unknown>> = [];
  try {
    for (const w of wires) sent.push(r.sendCommand(new Prebuilt(name, w)) as Promise<unknown>);
  } finally {
    if (corked) stream!.uncork!();
  }
  const out = await Promise.allSettled(sent);
  return out.map((s) => (s.status === 'fulfilled' ? [null, s.value] : [s.reason instanceof Error ? s.reason : new Error(String(s.reason)), null]));
}
