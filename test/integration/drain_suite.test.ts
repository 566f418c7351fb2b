// One behavioural suite, the same assertions against every drain type
// (https, http, syslog, syslog+tls), each with a real receiver on 127.0.0.1:
// order, batching, the L10 loss line, retry, drop after the budget, flush.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Drain } from '../../src/drains/drain.js';
import { BATCH_BYTES } from '../../src/drains/options.js';
import type { DrainKind } from '../../src/drains/url.js';
import { HttpReceiver, l10Count, makeDrain, msgText, startReceiver, testLine, TS, type Receiver } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

const KINDS: DrainKind[] = ['https', 'http', 'syslog', 'syslog+tls'];
const TOKEN = 'd.11111111-2222-4333-8444-555555555555';

for (const kind of KINDS) {
  describe(`drain behaviour: ${kind}`, () => {
    let r: Receiver;
    const drains: Drain[] = [];
    const drain = (over: Parameters<typeof makeDrain>[1] = {}) => {
      const d = makeDrain(r.url(), over);
      drains.push(d);
      return d;
    };
    const texts = () => r.messages().map((m) => msgText(kind, m));

    before(async () => {
      r = await startReceiver(kind);
    });
    after(async () => {
      for (const d of drains) d.destroy();
      await r.close();
    });
    const fresh = async () => {
      for (const d of drains.splice(0)) d.destroy();
      await r.close();
      r = await startReceiver(kind);
    };

    test('delivers every line once, in order, in the exact wire format', async () => {
      await fresh();
      const d = drain();
      const n = 3000;
      // a mix of sizes and non-ASCII bytes
      const msg = (i: number) => (i % 100 === 7 ? `é ${'x'.repeat(900)} ${i}` : `line ${i}`);
      for (let i = 0; i < n; i++) d.offer(testLine(i, msg(i)));
      await until('all lines', () => r.messages().length >= n, 10_000);
      const got = texts();
      assert.equal(got.length, n);
      for (let i = 0; i < n; i++) assert.equal(got[i], msg(i), `line ${i}`);
      const first = r.messages()[0]!;
      const expected = kind === 'http' || kind === 'https'
        ? `<190>1 ${TS} host app web.1 - line 0\n`
        : `<190>1 ${TS} ${TOKEN} app web.1 - - line 0\n`;
      assert.equal(first.toString('latin1'), expected);
      await until('idle', () => d.idle);
      assert.equal(d.status().delivered, n);
      assert.equal(d.status().dropped, 0);
      assert.equal(d.status().state, 'idle');
    });

    test('batches close at about 100 KB, or when the queue is empty', async () => {
      await fresh();
      const d = drain();
      const n = 2000;
      const big = 'y'.repeat(500);
      for (let i = 0; i < n; i++) d.offer(testLine(i, `${i} ${big}`));
      await until('all lines', () => r.messages().length >= n, 10_000);
      await until('idle', () => d.idle, 10_000);
      assert.equal(r.messages().length, n);
      const totalBytes = d.status().delivered; // lines
      assert.equal(totalBytes, n);
      // every batch is one attempt here (healthy receiver)
      const frameBytes = (n * (520 + 60));
      if (r instanceof HttpReceiver) {
        const sizes = r.requests.map((q) => q.body.length);
        for (const s of sizes) assert.ok(s <= BATCH_BYTES, `batch of ${s} bytes`);
        assert.ok(sizes.length >= Math.ceil(frameBytes / BATCH_BYTES) - 1, `${sizes.length} batches`);
        // all but the last are close to the limit
        for (const s of sizes.slice(0, -1)) assert.ok(s > BATCH_BYTES - 1200, `batch of ${s} bytes closed early`);
        for (const q of r.requests) assert.equal(Number(q.headers['logplex-msg-count']), q.frames.length);
      }
      // a lone line goes out on its own: the batch closes when the queue is empty
      const before = r.messages().length;
      d.offer(testLine(n, 'lonely'));
      await until('lone line', () => r.messages().length === before + 1);
      assert.equal(msgText(kind, r.messages().at(-1)!), 'lonely');
    });

    test('overflow drops the oldest lines and the next batch starts with an exact L10', async () => {
      await fresh();
      // lines 900-999 have the same size: the queue holds exactly 100 of them
      const d = drain({ queueBytes: 100 * testLine(999).length });
      // 1,000 lines in one tick into a 100-line queue: 900 dropped, before the sender wakes
      for (let i = 0; i < 1000; i++) d.offer(testLine(i));
      assert.equal(d.status().dropped, 900);
      await until('L10 + 100 lines', () => r.messages().length >= 101);
      await until('idle', () => d.idle);
      const got = texts();
      assert.equal(got.length, 101);
      assert.equal(l10Count(got[0]!), 900, got[0]);
      assert.match(got[0]!, /dropped since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00\.$/);
      for (let i = 0; i < 100; i++) assert.equal(got[i + 1], `line ${900 + i}`);
      // the L10 frame itself: <172>1 <now> host|d.token heroku logplex - [-] Error L10 ...
      const raw = r.messages()[0]!.toString('latin1');
      const head = kind === 'http' || kind === 'https' ? ' host heroku logplex - Error L10 ' : ` ${TOKEN} heroku logplex - - Error L10 `;
      assert.ok(raw.startsWith('<172>1 '), raw);
      assert.ok(raw.includes(head), raw);
      const s = d.status();
      assert.equal(s.delivered, 100);
      assert.equal(s.dropped, 900);
      // reported once: more lines bring no new L10
      d.offer(testLine(1000));
      await until('one more', () => r.messages().length === 102);
      assert.equal(l10Count(texts()[101]!), null);
    });

    test('failed attempts are retried; nothing lost, duplicated or reordered', async () => {
      await fresh();
      r.mode = 'fail';
      const d = drain({ retries: 50 });
      for (let i = 0; i < 500; i++) d.offer(testLine(i));
      // at least two failed attempts of the first batch, then the endpoint heals
      // (waiting for the backing-off status: when a retry timer has just fired, the status can show
      // 'backing off' without a next retry until the attempt starts)
      await until('two failed attempts, backing off', () => d.counters.attemptsRetry.value >= 2 && d.status().state === 'backing off' && d.status().nextRetryAt !== null);
      assert.equal(d.status().state, 'backing off');
      assert.notEqual(d.status().nextRetryAt, null);
      assert.notEqual(d.status().lastError, null);
      r.mode = 'ok';
      await until('all lines', () => r.messages().length >= 500, 10_000);
      await until('idle', () => d.idle, 10_000);
      const got = texts();
      assert.deepEqual(got, Array.from({ length: 500 }, (_, i) => `line ${i}`));
      const s = d.status();
      assert.equal(s.delivered, 500);
      assert.equal(s.dropped, 0);
      assert.equal(s.state, 'idle');
      if (r instanceof HttpReceiver) {
        // the same batch, the same Frame-Id and body on every attempt
        const [a, b, c] = r.requests;
        assert.equal(a!.status, 500);
        assert.equal(b!.status, 500);
        assert.equal(a!.headers['logplex-frame-id'], b!.headers['logplex-frame-id']);
        const lastOfFirst = r.requests.findIndex((q) => q.status === 200);
        assert.equal(r.requests[lastOfFirst]!.headers['logplex-frame-id'], a!.headers['logplex-frame-id']);
        assert.deepEqual(a!.body, r.requests[lastOfFirst]!.body);
        assert.ok(c);
        assert.match(String(a!.headers['logplex-frame-id']), /^[0-9A-F]{32}$/);
      }
    });

    test('after the retry budget the batch is dropped, counted, and reported by the next L10', async () => {
      await fresh();
      r.mode = 'fail';
      const d = drain({ retries: 2 });
      for (let i = 0; i < 50; i++) d.offer(testLine(i));
      await until('batch dropped', () => d.status().dropped === 50, 10_000);
      assert.equal(d.status().state, 'failing');
      assert.equal(d.status().delivered, 0);
      // two retries after the first attempt, then dropped (an L10-only batch may already be trying)
      assert.ok(d.counters.attemptsRetry.value >= 2);
      assert.ok(d.counters.attemptsDrop.value >= 1);
      r.mode = 'ok';
      for (let i = 50; i < 60; i++) d.offer(testLine(i));
      await until('L10 and 10 lines', () => r.messages().length >= 11, 10_000);
      await until('idle', () => d.idle, 10_000);
      const got = texts();
      assert.equal(l10Count(got[0]!), 50, got[0]);
      assert.deepEqual(got.slice(1), Array.from({ length: 10 }, (_, i) => `line ${50 + i}`));
      const s = d.status();
      assert.equal(s.delivered + s.dropped, 60);
      assert.equal(s.state, 'idle');
    });

    test('flush delivers what the drain holds, within a bounded time', async () => {
      await fresh();
      const d = drain();
      for (let i = 0; i < 5000; i++) d.offer(testLine(i));
      assert.equal(await d.flush(5000), true);
      await until('all lines', () => r.messages().length >= 5000);
      assert.equal(r.messages().length, 5000);
      // a dead endpoint: flush gives up at its deadline
      r.mode = 'fail';
      const d2 = drain({ retries: 1000 });
      d2.offer(testLine(0));
      const t0 = Date.now();
      assert.equal(await d2.flush(300), false);
      const took = Date.now() - t0;
      // it waits until its deadline, and then gives up instead of waiting for the 1,000 retries
      // (which would take minutes): the upper bound is generous for a loaded machine
      assert.ok(took >= 290 && took < 10_000, `flush took ${took} ms`);
      assert.equal(d2.destroy(), 1);
    });
  });
}
