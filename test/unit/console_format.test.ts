// The web console's words for a gap (src/console/format.ts), the same as
// `logplane logs` and the L11 line: an exact count is "N lines skipped"; a
// count that is only a lower bound (distributed mode, other nodes' lines
// could not be read) "at least N", or "an unknown number" when it is 0.
// Regression: such a gap showed "⋯ 0 lines skipped (at least: …)", which
// reads as nothing lost, and the total next to it "0 skipped".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gapHtml, gapText, skippedText } from '../../src/console/format.js';

test('a gap row: the exact count, or at least N, or an unknown number when a lower bound is 0', () => {
  assert.equal(gapText(1, false), '1 line skipped');
  assert.equal(gapText(200, false), '200 lines skipped');
  assert.equal(gapText(3, true), 'at least 3 lines skipped');
  assert.equal(gapText(0, true), 'an unknown number of lines may be missing');
  assert.equal(
    gapHtml(0, "other nodes' lines could not be read, since 2026-05-01T12:00:00.000000+00:00", true),
    '<div class="row gap" role="note">⋯ an unknown number of lines may be missing (other nodes&#39; lines could not be read, since 2026-05-01T12:00:00.000000+00:00)</div>',
  );
  assert.equal(gapHtml(200, 'since T'), '<div class="row gap" role="note">⋯ 200 lines skipped (since T)</div>');
});

test('the total skipped since the view opened: "at least" once a gap was a lower bound, never "0 skipped" for one', () => {
  assert.equal(skippedText(1234, false), '1,234 skipped');
  assert.equal(skippedText(1234, true), 'at least 1,234 skipped');
  assert.equal(skippedText(0, true), 'lines may be missing');
});
