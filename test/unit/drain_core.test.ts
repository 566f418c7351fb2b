// Drain core without sockets: a scripted deliver() and a manual clock check
// the queue, exact L10 counts and times, the retry budget and the status;
// plus classify/backoff, URL parsing and the private-address table.
import assert from 'node:assert/strict';
import { ManualClock } from '../support/clock.js';
import { describe, test } from 'node:test';
import { DrainBudget } from '../../src/drains/budget.js';
import type { Clock } from '../../src/basics/clock.js';
import { Drain } from '../../src/drains/drain.js';
import type { Batch, DrainOptions } from '../../src/drains/options.js';
import { logplexFrames } from '../../src/drains/frame.js';
import { isPrivateAddress } from '../../src/drains/guard.js';
import { backoffMs, classify, isDelivered, reconnectMs, type Outcome } from '../../src/drains/retry.js';
import { displayUrl, parseDrainUrl } from '../../src/drains/url.js';
import { UnprocessableError } from '../../src/errors.js';
import { lineFrom, rfc3339 } from '../../src/line.js';


/** A drain whose deliveries the test answers one by one. */
class ScriptedDrain extends Drain {
  protected readonly encoder = logplexFrames;
  readonly sent: Array<{ batch: Batch; msgs: string[]; answer: (o: Outcome) => void }> = [];
  protected deliver(batch: Batch): Promise<Outcome> {
    const msgs: string[] = [];
    const body = batch.body.toString('utf8');
    let p = 0;
    while (p < body.length) {
      const sp = body.indexOf(' ', p);
      const len = Number(body.slice(p, sp));
      const frame = body.slice(sp + 1, sp + 1 + len);
      msgs.push(frame.split(' ').slice(6).join(' ').trimEnd());
      p = sp + 1 + len;
    }
    return new Promise((resolve) => this.sent.push({ batch, msgs, answer: resolve }));
  }
  protected release(): void {}
}

const target = parseDrainUrl('https://example.com/logs');
const line = (n: number) => lineFrom({ pri: 190, ts: 'T', source: 'app', dyno: 'web.1', msg: `m${n}` });
/** Queue bytes for n lines of line(10..99). */
const linesBytes = (n: number) => n * line(10).length;
function scripted(over: Partial<DrainOptions> = {}) {
  const clock = new ManualClock();
  const d = new ScriptedDrain({
    id: 'x', token: 'd.x', target, queueBytes: linesBytes(10), retries: 2, backoffBaseMs: 100, backoffMaxMs: 1000,
    connectTimeoutMs: 1, responseTimeoutMs: 1, reconnectBaseMs: 1, reconnectMaxMs: 1, allowPrivate: false,
    clock, random: () => 0.5, ...over,
  });
  return { d, clock };
}
const tick = () => new Promise((r) => setImmediate(r));
const OK: Outcome = { kind: 'status', status: 200 };
const E500: Outcome = { kind: 'status', status: 500 };

describe('drain queue and loss accounting', () => {
  test('offer is bounded: the oldest go, counted; wake-up once per tick', async () => {
    const { d } = scripted();
    for (let i = 0; i < 25; i++) d.offer(line(i));
    assert.equal(d.status().dropped, 15);
    assert.equal(d.status().queueDepth, 10);
    await tick();
    assert.equal(d.sent.length, 1);
    const first = d.sent[0]!;
    assert.match(first.msgs[0]!, /^Error L10 \(output buffer overflow\): 15 messages dropped since /);
    assert.deepEqual(first.msgs.slice(1), ['m15', 'm16', 'm17', 'm18', 'm19', 'm20', 'm21', 'm22', 'm23', 'm24']);
    assert.equal(first.batch.msgCount, 11);
    assert.equal(first.batch.lines, 10);
  });

  test('L10 counts are exact across drops during flight, failed batches and recovery', async () => {
    const { d, clock } = scripted({ queueBytes: linesBytes(5) });
    const t0 = clock.t;
    for (let i = 0; i < 8; i++) d.offer(line(i)); // 3 dropped at t0
    await tick();
    const b1 = d.sent[0]!;
    assert.match(b1.msgs[0]!, new RegExp(`^Error L10 \\(output buffer overflow\\): 3 messages dropped since ${rfc3339(t0).replace(/[.+]/g, '\\$&')}\\.$`));
    clock.t += 1000;
    const t1 = clock.t;
    for (let i = 8; i < 15; i++) d.offer(line(i)); // queue 5: 2 more dropped at t1 while b1 is in flight
    assert.equal(d.status().dropped, 5);
    b1.answer(OK); // b1 reported 3; 2 remain, since t1
    await tick();
    const b2 = d.sent[1]!;
    assert.equal(b2.msgs[0], `Error L10 (output buffer overflow): 2 messages dropped since ${rfc3339(t1)}.`);
    assert.deepEqual(b2.msgs.slice(1), ['m10', 'm11', 'm12', 'm13', 'm14']);
    // b2 fails through the budget (3 attempts): its 5 lines join the loss, its L10 was never delivered
    b2.answer(E500);
    await tick();
    assert.equal(d.status().state, 'backing off');
    clock.fire();
    await tick();
    assert.equal(d.sent.length, 3);
    assert.equal(d.sent[2]!.batch.frameId, b2.batch.frameId);
    d.sent[2]!.answer(E500);
    await tick();
    clock.fire();
    await tick();
    d.sent[3]!.answer(E500);
    await tick();
    assert.equal(d.status().dropped, 10);
    assert.equal(d.status().state, 'failing');
    assert.equal(d.status().delivered, 5);
    // an L10-only batch reports the 7 lost since t1, with nothing else queued
    clock.fire();
    await tick();
    const b3 = d.sent[4]!;
    assert.deepEqual(b3.msgs, [`Error L10 (output buffer overflow): 7 messages dropped since ${rfc3339(t1)}.`]);
    assert.equal(b3.batch.lines, 0);
    b3.answer(OK);
    await tick();
    assert.equal(d.status().state, 'idle');
    assert.equal(d.idle, true);
    assert.equal(d.status().delivered + d.status().dropped, 15);
    // all quiet: no more batches
    d.offer(line(15));
    await tick();
    assert.deepEqual(d.sent[5]!.msgs, ['m15']);
  });

  test('4xx drops at once (no retry); 408, 429, 5xx and errors retry with backoff', async () => {
    const { d, clock } = scripted();
    d.offer(line(0));
    await tick();
    d.sent[0]!.answer({ kind: 'status', status: 400 });
    await tick();
    assert.equal(d.status().dropped, 1);
    assert.equal(d.counters.droppedRejected.value, 1);
    assert.equal(d.status().lastError?.status, 400);
    assert.equal(d.status().nextRetryAt, clock.t + 75); // after a drop, the first backoff step
    assert.equal(clock.timers.length, 1);
  });

  test('an endpoint that rejects every batch is not hammered: the wait grows with each batch dropped in a row, a delivery resets it', async () => {
    const { d, clock } = scripted();
    d.offer(line(0));
    await tick();
    const waits: number[] = [];
    // the line's batch, then L10-only batches (the loss is still owed), all rejected
    for (let i = 0; i < 7; i++) {
      d.sent[i]!.answer({ kind: 'status', status: 404 });
      await tick();
      waits.push(clock.fire());
      await tick();
    }
    assert.deepEqual(waits, [75, 150, 300, 600, 750, 750, 750]); // backoff steps 1, 2, 3...: 0.75 x min(1000, 100 x 2^(n-1))
    assert.match(d.sent[7]!.msgs[0]!, /^Error L10 \(output buffer overflow\): 1 messages dropped since /);
    d.sent[7]!.answer(OK);
    await tick();
    d.offer(line(1));
    await tick();
    d.sent[8]!.answer({ kind: 'status', status: 404 });
    await tick();
    assert.equal(clock.fire(), 75); // delivered since: the first step again
  });

  test('status: state, next retry time, last error, last success, queue depth', async () => {
    const { d, clock } = scripted();
    // nothing to send: idle, not connecting
    assert.equal(d.status().state, 'idle');
    d.offer(line(0));
    d.offer(line(1));
    assert.equal(d.status().state, 'connecting');
    assert.equal(d.status().queueDepth, 2);
    await tick();
    assert.equal(d.status().queueDepth, 2); // in flight still counts
    d.sent[0]!.answer({ kind: 'error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 1.2.3.4:443' });
    await tick();
    const s = d.status();
    assert.equal(s.state, 'backing off');
    assert.deepEqual(s.lastError, { at: clock.t, errno: 'ECONNREFUSED', text: 'connect ECONNREFUSED 1.2.3.4:443' });
    assert.equal(s.nextRetryAt, clock.t + 75); // equal jitter, random 0.5: 100/2 + 0.5 * 50
    clock.fire();
    await tick();
    d.sent[1]!.answer(OK);
    await tick();
    const s2 = d.status();
    assert.equal(s2.state, 'idle'); // caught up
    assert.equal(s2.lastSuccessAt, clock.t);
    assert.equal(s2.nextRetryAt, null);
    assert.equal(s2.queueDepth, 0);
    assert.equal(s2.delivered, 2);
    d.offer(line(2));
    assert.equal(d.status().state, 'delivering'); // lines held, the last attempt succeeded
  });

  test('batches close at the byte limit', async () => {
    const { d } = scripted({ queueBytes: linesBytes(1000), batchBytes: 1000 });
    for (let i = 0; i < 100; i++) d.offer(line(i));
    await tick();
    const b = d.sent[0]!.batch;
    assert.ok(b.body.length <= 1000 && b.body.length > 1000 - 60, `${b.body.length}`);
  });

  test('the node budget: a drain within its share keeps its lines; drains over their share give back', async () => {
    const L = line(10).length;
    const due: Array<() => void> = [];
    const budget = new DrainBudget({ limitBytes: 30 * L, perDrainBytes: 20 * L, defer: (fn) => due.push(fn) });
    const { d: stuck } = scripted({ queueBytes: 20 * L, budget });
    const { d: healthy } = scripted({ queueBytes: 20 * L, budget });
    assert.equal(budget.share, 15 * L);
    // alone, the stuck drain may borrow beyond its share, up to its cap
    for (let i = 10; i < 30; i++) stuck.offer(line(i));
    assert.equal(stuck.queuedBytes, 20 * L);
    assert.equal(stuck.status().dropped, 0);
    // a burst within the healthy drain's share is kept whole, though the total passes the budget
    for (let i = 10; i < 25; i++) healthy.offer(line(i));
    assert.equal(healthy.status().dropped, 0);
    assert.equal(budget.used, 35 * L);
    // at the end of the tick the stuck drain gives back what it borrowed, oldest first
    assert.equal(due.length, 1, 'one reclaim is due');
    due.shift()!();
    assert.equal(stuck.status().dropped, 5);
    assert.equal(stuck.queuedBytes, 15 * L);
    assert.equal(budget.used, 30 * L);
    // at the budget, a drain over its share makes room from its own queue
    stuck.offer(line(30));
    assert.equal(stuck.status().dropped, 6);
    healthy.offer(line(25));
    assert.equal(healthy.status().dropped, 1);
    assert.equal(budget.used, 30 * L);
    // the L10 count is exact, the newest lines kept
    await tick();
    assert.match(stuck.sent[0]!.msgs[0]!, /^Error L10 \(output buffer overflow\): 6 messages dropped since /);
    assert.deepEqual(stuck.sent[0]!.msgs.slice(1), Array.from({ length: 15 }, (_, i) => `m${16 + i}`));
    // a destroyed drain's bytes leave the budget
    stuck.destroy();
    healthy.destroy();
    assert.equal(budget.used, 0);
    assert.equal(budget.members, 0);
  });

  test('a healthy drain borrows beyond its cap from the budget\'s free room, up to its burst ceiling and within the budget', () => {
    const L = line(10).length;
    const budget = new DrainBudget({ limitBytes: 60 * L, perDrainBytes: 10 * L, defer: () => {} });
    const { d } = scripted({ queueBytes: 10 * L, burstBytes: 40 * L, budget });
    const { d: other } = scripted({ queueBytes: 10 * L, burstBytes: 40 * L, budget });
    assert.equal(budget.share, 10 * L);
    // a new drain counts as healthy: a burst of 30 lines against a 10-line cap is kept whole
    for (let i = 10; i < 40; i++) d.offer(line(i));
    assert.equal(d.status().dropped, 0);
    assert.equal(d.queuedBytes, 30 * L);
    assert.equal(budget.borrowed(), 20 * L);
    // the budget bounds the borrowing: beside another drain's 25 lines it keeps 35 (over its share, it makes the room itself)
    for (let i = 10; i < 35; i++) other.offer(line(i));
    for (let i = 40; i < 50; i++) d.offer(line(i));
    assert.equal(budget.used, 60 * L);
    assert.equal(d.queuedBytes, 35 * L);
    assert.equal(d.status().dropped, 5);
    assert.equal(other.status().dropped, 0);
    // ... and so does its burst ceiling: with the other drain gone, 40 lines at most
    other.destroy();
    for (let i = 50; i < 60; i++) d.offer(line(i));
    assert.equal(d.queuedBytes, 40 * L);
    assert.equal(d.status().dropped, 10);
    d.destroy();
  });

  test('a drain whose delivery fails or times out is held to its cap at once: what it borrowed is dropped oldest first, with exact L10 counts', async () => {
    const L = line(10).length;
    const budget = new DrainBudget({ limitBytes: 100 * L, perDrainBytes: 10 * L });
    const { d, clock } = scripted({ queueBytes: 10 * L, burstBytes: 50 * L, budget });
    d.offer(line(0));
    await tick();
    const b1 = d.sent[0]!;
    // while the first batch is in flight a burst arrives: healthy, it is kept
    for (let i = 10; i < 40; i++) d.offer(line(i));
    assert.equal(d.status().dropped, 0);
    assert.equal(d.queuedBytes, 30 * L);
    // the batch times out: back to the cap at once, the 20 oldest lines go
    b1.answer({ kind: 'error', code: 'ETIMEDOUT', message: 'response timeout after 5000 ms' });
    await tick();
    assert.equal(d.status().state, 'backing off');
    assert.equal(d.queuedBytes, 10 * L);
    assert.equal(d.status().dropped, 20);
    assert.equal(d.counters.droppedOverflow.value, 20);
    assert.equal(budget.used, 10 * L);
    assert.equal(budget.borrowed(), 0);
    // not healthy, it holds no more than its cap
    for (let i = 40; i < 45; i++) d.offer(line(i));
    assert.equal(d.queuedBytes, 10 * L);
    assert.equal(d.status().dropped, 25);
    // the retry succeeds: the next batch reports the 25 exactly, the newest 10 kept
    clock.fire();
    await tick();
    assert.equal(d.sent[1]!.batch.frameId, b1.batch.frameId);
    d.sent[1]!.answer(OK);
    await tick();
    const b2 = d.sent[2]!;
    assert.match(b2.msgs[0]!, /^Error L10 \(output buffer overflow\): 25 messages dropped since /);
    assert.deepEqual(b2.msgs.slice(1), Array.from({ length: 10 }, (_, i) => `m${35 + i}`));
    // healthy again after a success: it may borrow again
    for (let i = 45; i < 75; i++) d.offer(line(i));
    assert.equal(d.status().dropped, 25);
    assert.equal(d.queuedBytes, 30 * L);
    // a failing answer (500) shrinks it too
    b2.answer(E500);
    await tick();
    assert.equal(d.queuedBytes, 10 * L);
    assert.equal(d.status().dropped, 45);
    d.destroy();
  });

  test('a drain within its share never drops while another borrows: reclaim takes the borrowed bytes first, oldest lines', async () => {
    const L = line(10).length;
    const due: Array<() => void> = [];
    const budget = new DrainBudget({ limitBytes: 30 * L, perDrainBytes: 10 * L, defer: (fn) => due.push(fn) });
    // a hanging drain (a failed attempt) at its cap, a bursting healthy drain, a steady one
    const { d: hanging } = scripted({ queueBytes: 10 * L, burstBytes: 30 * L, budget, batchBytes: 1 });
    const { d: bursty } = scripted({ queueBytes: 10 * L, burstBytes: 30 * L, budget });
    const { d: steady } = scripted({ queueBytes: 10 * L, burstBytes: 30 * L, budget });
    assert.equal(budget.share, 10 * L);
    hanging.offer(line(0));
    await tick();
    hanging.sent[0]!.answer(E500);
    await tick();
    for (let i = 10; i < 20; i++) hanging.offer(line(i));
    assert.equal(hanging.queuedBytes, 10 * L);
    // the healthy drain borrows what the budget has free
    for (let i = 10; i < 25; i++) bursty.offer(line(i));
    assert.equal(bursty.queuedBytes, 15 * L);
    assert.equal(bursty.status().dropped, 0, 'borrowing while the budget has room');
    assert.equal(budget.used, 25 * L);
    // the steady drain takes its share in one turn: it keeps every line, the total passes the budget
    const steadyLines = 10;
    for (let i = 10; i < 10 + steadyLines; i++) steady.offer(line(i));
    assert.equal(steady.status().dropped, 0);
    assert.equal(budget.used, 35 * L);
    assert.equal(budget.borrowed(), 5 * L);
    assert.equal(due.length, 1, 'one reclaim is due');
    due.shift()!();
    // the borrowed bytes went back, the bursting drain's oldest lines; the others kept theirs
    assert.equal(budget.used, 30 * L);
    assert.equal(budget.borrowed(), 0);
    assert.equal(bursty.status().dropped, 5);
    assert.equal(bursty.queuedBytes, 10 * L);
    assert.equal(steady.status().dropped, 0);
    assert.equal(steady.queuedBytes, steadyLines * L);
    assert.equal(hanging.queuedBytes, 10 * L);
    assert.equal(budget.reclaims, 1);
    await tick();
    assert.match(bursty.sent[0]!.msgs[0]!, /^Error L10 \(output buffer overflow\): 5 messages dropped since /);
    assert.deepEqual(bursty.sent[0]!.msgs.slice(1), Array.from({ length: 10 }, (_, i) => `m${15 + i}`));
    assert.deepEqual(steady.sent[0]!.msgs, Array.from({ length: steadyLines }, (_, i) => `m${10 + i}`));
    for (const d of [hanging, bursty, steady]) d.destroy();
  });

  test('destroy forgets what is held and reports it; flush of an idle drain is immediate', async () => {
    const { d } = scripted();
    assert.equal(await d.flush(10), true);
    d.offer(line(0));
    d.offer(line(1));
    assert.equal(d.destroy(), 2);
    d.offer(line(2));
    assert.equal(d.status().queueDepth, 0);
  });
});

describe('classify and backoff', () => {
  test('classify', () => {
    for (const s of [200, 201, 204, 299]) assert.equal(isDelivered({ kind: 'status', status: s }), true);
    for (const s of [400, 401, 403, 404, 410, 413, 422, 499, 301, 302, 100]) assert.equal(classify({ kind: 'status', status: s }), 'drop', `${s}`);
    for (const s of [408, 429, 500, 502, 503, 504, 599]) assert.equal(classify({ kind: 'status', status: s }), 'retry', `${s}`);
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPRIVATE', 'CERT_HAS_EXPIRED']) {
      assert.equal(classify({ kind: 'error', code, message: '' }), 'retry', code);
    }
  });

  test('jittered exponential backoff stays within [d/2, d], d = min(max, base 2^(n-1))', () => {
    for (let n = 1; n < 12; n++) {
      const d = Math.min(30_000, 500 * 2 ** (n - 1));
      assert.equal(backoffMs(n, 500, 30_000, () => 0), d / 2);
      assert.equal(backoffMs(n, 500, 30_000, () => 1), d);
    }
    assert.deepEqual([1, 2, 3, 8, 9, 10].map((f) => reconnectMs(f, 1000, 300_000)), [2000, 4000, 8000, 256_000, 300_000, 300_000]);
  });
});

describe('drain URLs', () => {
  test('parsed per SPEC 6.2', () => {
    const h = parseDrainUrl('https://u%40s:p%3Ass@logs.example.com/a%20b/c?x=1&y=%zz#insecure');
    assert.equal(h.kind, 'https');
    assert.equal(h.host, 'logs.example.com');
    assert.equal(h.port, 443);
    assert.equal(h.path, '/a%20b/c?x=1&y=%zz');
    assert.equal(h.authorization, `Basic ${Buffer.from('u@s:p:ss').toString('base64')}`);
    assert.equal(h.insecure, true);
    assert.equal(h.display, 'https://u%40s:***@logs.example.com/a%20b/c?x=***&y=***#insecure');
    assert.equal(parseDrainUrl('http://h:8080').path, '/');
    assert.equal(parseDrainUrl('http://h?q').path, '/?q');
    assert.equal(parseDrainUrl('http://h').port, 80);
    assert.equal(parseDrainUrl('syslog://h').port, 601);
    assert.equal(parseDrainUrl('syslog+tls://h').port, 6514);
    assert.equal(parseDrainUrl('syslog+tls://h:1234#insecure').insecure, true);
    assert.equal(parseDrainUrl('SYSLOG://[::1]:99').host, '::1');
    assert.equal(parseDrainUrl('https://user:pw@h/x').display, 'https://user:***@h/x');
  });

  test('displayUrl redacts the password, query values and key-like parts (SPEC 12)', () => {
    const cases: Array<[string, string]> = [
      ['https://user:pass@logs.example.com/x?apikey=abc', 'https://user:***@logs.example.com/x?apikey=***'],
      // uuids and long random tokens in the path; plain words and versions stay
      ['https://logs.example.com/v1/input/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/tag/web', 'https://logs.example.com/v1/input/***/tag/web'],
      ['https://collector.example.com/receiver/v1/http/ZaVnC4dhaV39Tn37Jfk2dPeXe8w==', 'https://collector.example.com/receiver/v1/http/***'],
      ['https://logs.example.com/bulk/production-logs/web', 'https://logs.example.com/bulk/production-logs/web'],
      ['https://logs.example.com/00000000-0000-4000-8000-000000000000', 'https://logs.example.com/***'],
      // a key as the user name, or as a bare query part
      ['https://ak1234567890abcdefgh@logs.example.com/', 'https://***@logs.example.com/'],
      ['https://:secret@logs.example.com/', 'https://:***@logs.example.com/'],
      ['https://h/?empty=&abc123def456ghi789&x', 'https://h/?empty=&***&x'],
      ['syslog+tls://logs.example.com:6514#insecure', 'syslog+tls://logs.example.com:6514#insecure'],
      // what parseDrainUrl refuses is shown as *** whole (a stored record of an older version)
      ['https://h/p#something-else', '***'],
      ['not a url', '***'],
    ];
    for (const [url, want] of cases) assert.equal(displayUrl(url), want, url);
  });

  test('bad URLs are 422 with the reason', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['ftp://h/', /unsupported scheme "ftp"/],
      ['not-a-url', /absolute URL/],
      ['https://', /not a valid URL|must have a host/],
      ['http://h:0/', /port|not a valid/],
      ['http://h:70000/', /not a valid URL|port/],
      ['http://h/a b', /not a valid URL|percent-encode/],
      ['http://h/#frag', /only fragment allowed is #insecure/],
      ['http://h/#insecure', /#insecure only applies/],
      ['syslog://h/path', /no path/],
      ['syslog://u:p@h', /no user:password/],
      [42, /must be a string/],
      ['', /must not be empty/],
    ];
    for (const [url, re] of cases) {
      assert.throws(() => parseDrainUrl(url), (e: unknown) => e instanceof UnprocessableError && e.status === 422 && re.test(e.message), String(url));
    }
  });
});

describe('private-address table', () => {
  test('refused ranges', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
      '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:10.1.2.3', '64:ff9b::a00:1', '64:ff9b::10.0.0.1',
      // IPv6 forms embedding a refused IPv4: 6to4 (2002:AABB:CCDD::/48), NAT64, IPv4-mapped, IPv4-compatible
      '2002:7f00:1::', '2002:a00:1:5::1', '2002:c0a8:101::', '64:ff9b::7f00:1', '::ffff:7f00:1', '::127.0.0.1', '::7f00:1']) {
      assert.equal(isPrivateAddress(a), true, a);
    }
    for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8', '2002:808:808::1']) {
      assert.equal(isPrivateAddress(a), false, a);
    }
  });
});
