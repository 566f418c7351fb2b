import { test } from 'node:test';
import assert from 'node:assert/strict';
import { within } from '../../src/basics/within.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('within: the answer when it comes in time, and no timer left behind', async () => {
  const before = timers();
  assert.equal(await within(Promise.resolve(7), 10_000, 'late'), 7);
  assert.equal(timers(), before);
});

test('within: the stand-in when the answer is late; the late answer (or failure) is ignored', async () => {
  let fail!: (e: Error) => void;
  const slow = new Promise<number>((_, reject) => (fail = reject));
  assert.equal(await within(slow, 20, null), null);
  fail(new Error('too late to matter'));
  // a rejection after the deadline is not unhandled (the race holds a handler on it)
  await new Promise((r) => setImmediate(r));
});

test('within: a failure in time is thrown', async () => {
  await assert.rejects(within(Promise.reject(new Error('refused')), 10_000, null), /refused/);
});
