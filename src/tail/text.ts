// Chunked text/plain transport (SPEC 5.2): `TS source[dyno]: msg\n` per line,
// history then (if tailing) live lines; loss as the L11 line (SPEC 5.4).
import { ByteWriter, l11Line, writeTextLine, type Gap } from './encode.js';
import { Transport } from './hub.js';
import { HttpTailSink } from './sse.js';

const writer = new ByteWriter();

export class TextTailSink extends HttpTailSink {
  readonly transport = Transport.TEXT;

  writeLines(recs: readonly Buffer[], from: number, to: number): void {
    if (!this.open) return;
    for (let i = from; i < to; i++) {
      writeTextLine(writer, recs[i]!);
      writer.byte(0x0a);
    }
    this.res.write(writer.take());
  }

  writeGap(gap: Gap): void {
    if (!this.open) return;
    this.res.write(`${l11Line(gap, this.clock.now())}\n`);
  }
}
