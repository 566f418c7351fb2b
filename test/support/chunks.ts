// What a follower on another node hears on an app channel (cluster/bus.ts's
// wire): per append an ordinal message, then its chunk, adjacent (an epoch
// message before them when the append began an incarnation of the app's
// stream: the app's first append, or one after Redis lost writes). Collects
// (first ordinal, seqs) per chunk, and fails the test when a chunk does not
// come right after its ordinal message.
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { decodeChunk, decodeEpoch, decodeOrdinal } from '../../src/cluster/batch.js';
import { seqOf } from '../../src/line.js';

export interface HeardChunk {
  first: number;
  seqs: number[];
}

/** Start collecting what sub (a subscriber connection) hears. */
export function hearChunks(sub: Redis): HeardChunk[] {
  const heard: HeardChunk[] = [];
  let nextFirst: number | null = null;
  sub.on('messageBuffer', (_channel: Buffer, msg: Buffer) => {
    if (decodeEpoch(msg) !== null) {
      assert.equal(nextFirst, null, 'an epoch message comes before the ordinal message of its chunk');
      return;
    }
    const f = decodeOrdinal(msg);
    if (f !== null) {
      assert.equal(nextFirst, null, 'an ordinal message is followed by its chunk before the next one');
      nextFirst = f;
      return;
    }
    const b = nextFirst === null ? null : decodeChunk(msg, nextFirst);
    nextFirst = null;
    assert.ok(b, 'every chunk comes right after its ordinal message');
    heard.push({ first: b.first, seqs: b.recs.map(seqOf) });
  });
  return heard;
}
