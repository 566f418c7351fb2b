// The one fan-out point. route(app, line) is synchronous and returns nothing:
// stamp the seq, push to the ring, offer to every sink (drains, tail hubs,
// the Redis batch). Nothing downstream calls back upstream. routeFrom() is
// the same for a line still inside an ingest worker's batch.
import type { App } from './apps.js';
import { arrayBufferView, copyWords } from './basics/bytes.js';

export function route(app: App, rec: Buffer): void {
  const clock = app.seqClock; // distributed mode: hybrid clock across nodes
  // seq and the receive time through one DataView: Buffer's readDoubleLE and
  // writeDoubleLE go byte by byte (they were a sixth of this path's time)
  const v = arrayBufferView(rec);
  const received = v.getFloat64(rec.byteOffset + 8, true); // offsets: line.ts
  const seq = clock === null ? app.seq + 1 : clock.next(app.seq, received);
  app.seq = seq;
  v.setFloat64(rec.byteOffset, seq, true);
  app.linesIn++;
  app.bytesIn += rec.length;
  app.rates.count(rec, received);
  app.ring.push(rec);
  const sinks = app.sinks;
  for (let i = 0; i < sinks.length; i++) sinks[i]!.offer(rec);
}

/**
 * route() for a line inside a worker's batch: src[pos, pos+len). The ring
 * copies it straight from the batch and stamps its copy, so a line of an app
 * with no sinks needs no Buffer at all; a sink that takes the line from the
 * ring or the batch itself (offerFrom: the Redis batch) needs none either; for the others the line
 * gets a Buffer of its own (sinks keep what they are offered), the one
 * allocation per line. sourceClass: the console's rate counter's class of the
 * line's source (buffer/rates.ts), which the worker knows per token.
 */
export function routeFrom(app: App, src: DataView, pos: number, len: number, sourceClass: number): void {
  const clock = app.seqClock;
  // the receive time is at offset 8 of a cooked line (line.ts)
  const received = src.getFloat64(pos + 8, true);
  const seq = clock === null ? app.seq + 1 : clock.next(app.seq, received);
  app.seq = seq;
  app.linesIn++;
  app.bytesIn += len;
  app.rates.countClass(sourceClass, received);
  app.ring.pushFrom(src, pos, len, seq);
  const sinks = app.sinks;
  let rec: Buffer | null = null;
  for (let i = 0; i < sinks.length; i++) {
    const s = sinks[i]!;
    if (s.offerFrom !== undefined) {
      s.offerFrom(src, pos, len, seq);
      continue;
    }
    if (rec === null) {
      rec = Buffer.allocUnsafe(len);
      const ownView = arrayBufferView(rec);
      ownView.setFloat64(rec.byteOffset, seq, true);
      copyWords(src, pos + 8, pos + len, ownView, rec.byteOffset + 8);
    }
    s.offer(rec);
  }
}
