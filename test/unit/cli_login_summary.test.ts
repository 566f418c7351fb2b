// What `logplane login` says about the apps the key sees: a count and at most
// the first 10 names (an admin key may see a page of 1,000).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appsSummary } from '../../src/cli/keys.js';

test('login app summary: count, first 10 names, the rest counted; a next page makes the count a lower bound', () => {
  const names = (n: number) => Array.from({ length: n }, (_, i) => `a${i}`);
  const first10 = names(10).join(', ');
  assert.equal(appsSummary([], false), 'no apps yet');
  assert.equal(appsSummary(['shop'], false), '1 app: shop');
  assert.equal(appsSummary(names(10), false), `10 apps: ${first10}`);
  assert.equal(appsSummary(names(11), false), `11 apps: ${first10} and 1 more`);
  assert.equal(appsSummary(names(1000), false), `1000 apps: ${first10} and 990 more`);
  assert.equal(appsSummary(names(1000), true), `1000+ apps: ${first10} and 990+ more`);
  assert.equal(appsSummary(['shop'], true), '1+ apps: shop and more');
});
