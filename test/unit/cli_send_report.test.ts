// `logplane send`'s closing report: when it is printed and what it says.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reportsProgress, sendReport } from '../../src/cli/send.js';

test('send reports only to a terminal', () => {
  assert.equal(reportsProgress({ isTTY: true }), true);
  assert.equal(reportsProgress({ isTTY: false }), false);
  assert.equal(reportsProgress({}), false);
});

test('the report gives lines, seconds and lines/s with thousands separators', () => {
  assert.equal(sendReport(200_000, 1200), 'sent 200,000 lines in 1.2 s (166,667 lines/s)');
  assert.equal(sendReport(1, 40), 'sent 1 line in 0.04 s (25 lines/s)');
  assert.equal(sendReport(0, 0), 'sent 0 lines in 0.00 s (0 lines/s)');
  assert.equal(sendReport(5_000_000, 250_000), 'sent 5,000,000 lines in 250 s (20,000 lines/s)');
});
