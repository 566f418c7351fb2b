// Chunked text/plain transport (SPEC 5.2): `TS source[dyno]: msg\n` per line,
// history then (if tailing) live lines; loss as the L11 line (SPEC 5.4); an
// empty line as keepalive while a tail is idle (docs/tail.md says why).
import * as chars from '../basics/chars.js';
import { ByteWriter, l11Line, writeTextLine, type Gap } from './encode.js';
import { Transport } from './tail.js';
import { HttpTailSink } from './sse.js';

// local bindings: the byte loops read them as constants
const { LF } = chars;

const writer = new ByteWriter();
/** A lone LF: lines go out whole, so this is an empty line between two of them. */
const KEEPALIVE = Buffer.from('\n', 'latin1');

export class TextTailSink extends HttpTailSink {
  readonly transport = Transport.TEXT;
  protected readonly keepaliveBytes = KEEPALIVE;

  writeLines(recs: readonly Buffer[], from: number, to: number): void {
    if (!this.open) return;
    for (let i = from; i < to; i++) {
      writeTextLine(writer, recs[i]!);
      writer.byte(LF);
    }
    this.res.write(writer.take());
    this.wrote = true;
  }

  writeGap(gap: Gap): void {
    if (!this.open) return;
    this.res.write(`${l11Line(gap, this.clock.now())}\n`);
    this.wrote = true;
  }
}
