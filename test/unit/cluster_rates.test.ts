// The cluster's lines/s wire format (cluster/rates.ts): 10-second blocks of
// per-second counts, added into a node's own series by the stats route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addBlock, blockOf, encodeBlock, rateField, RATE_BLOCK_S } from '../../src/cluster/rates.js';
import { LineRates, RATE_WINDOW_S } from '../../src/buffer/rates.js';

test('blocks start on multiples of 10 seconds; a field names the app and its block', () => {
  assert.equal(RATE_BLOCK_S, 10);
  assert.equal(blockOf(1796534078), 1796534070);
  assert.equal(blockOf(1796534070), 1796534070);
  assert.equal(rateField('my-app.1', 1796534070), 'my-app.1:1796534070');
});

test('a block is encoded without its trailing empty seconds; decoding adds it into the window up to now', () => {
  const counts = new Array<number>(30).fill(0);
  counts.splice(0, 6, 5, 1, 0, 0, 0, 2);
  assert.equal(encodeBlock(counts), '5,1,0,0,0,2');
  assert.equal(encodeBlock(new Array<number>(30).fill(0)), '');

  const now = 1796534078;
  const r = new LineRates();
  const series = r.series(now);
  series.counts.app[RATE_WINDOW_S - 1] = 7;
  // a block from 2 s before now: seconds now-2 and now-1
  addBlock(series, now, now - 2, '5,1,0,0,0,2');
  // seconds before the window and after now are not shown; junk counts 0
  addBlock(series, now, series.start - 1, '9,9,9,1,2,3');
  addBlock(series, now, now, '4,0,0,8,8,8');
  addBlock(series, now, now - 5, 'x,-1,');
  const tail = (k: 'app' | 'heroku' | 'other') => series.counts[k].slice(-3);
  assert.deepEqual(tail('app'), [5, 0, 7 + 4]);
  assert.deepEqual(tail('heroku'), [1, 0, 0]);
  assert.deepEqual(tail('other'), [0, 2, 0]);
  assert.deepEqual([series.counts.app[0], series.counts.heroku[0], series.counts.other[0]], [1, 2, 3]);
  const total = (k: 'app' | 'heroku' | 'other') => series.counts[k].reduce((a, b) => a + b, 0);
  assert.deepEqual([total('app'), total('heroku'), total('other')], [17, 3, 5]);
});
