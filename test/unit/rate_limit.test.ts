// The per-app token bucket: integer credits on the lines' receive times; the
// accounting of what it drops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppRateBucket, rateLimitLine } from '../../src/ingest/rate-limit.js';
import { msgOf, sourceOf, dynoOf, newLineParts } from '../../src/line.js';
import { App, TokenEntry } from '../../src/apps.js';
import { TokenTable } from '../../src/tokens.js';
import { SyslogMessageHandler } from '../../src/ingest/message.js';
import { routeMessage } from '../../src/ingest/route-writer.js';
import { BatchWriter, CLASS_MASK, CLASS_SHIFT, LEN_MASK, TRANSPORT_MASK, TRANSPORT_SHIFT } from '../../src/ingest/batch.js';
import { T_HTTP } from '../../src/ingest/worker-protocol.js';
import { rateShare } from '../../src/cluster/limit-share.js';

test('a bucket admits a burst of twice the rate, then the rate, and counts every line it drops', () => {
  const first: AppRateBucket[] = [];
  const counts = { rateLimited: 0 };
  const b = new AppRateBucket(10, (x) => first.push(x), counts);
  let admitted = 0;
  for (let i = 0; i < 50; i++) if (b.admit(1000)) admitted++;
  assert.equal(admitted, 20, 'burst = 2 x rate');
  assert.equal(counts.rateLimited, 30);
  assert.equal(b.dropped, 30);
  assert.equal(b.since, 1000);
  assert.equal(first.length, 1, 'told once per announcement period');
  // 1 s later: 10 more credits
  admitted = 0;
  for (let i = 0; i < 50; i++) if (b.admit(2000)) admitted++;
  assert.equal(admitted, 10);
  assert.equal(counts.rateLimited, 70, "the app's drops since start (the channel stats' rate_limited)");
  assert.equal(b.dropped, 70, 'not announced yet');
  // 100 ms: one line
  assert.equal(b.admit(2100), true);
  assert.equal(b.admit(2100), false);
  // a clock that goes back (another thread's receive time) refills nothing
  assert.equal(b.admit(2050), false);
});

test('a steady sender at the rate loses nothing', () => {
  const counts = { rateLimited: 0 };
  const b = new AppRateBucket(1000, () => {}, counts);
  for (let ms = 1; ms <= 10_000; ms++) assert.ok(b.admit(ms), `line at ${ms} ms`);
  assert.equal(counts.rateLimited, 0);
});

test('the announcement is the SPEC line from heroku[logplane]', () => {
  const rec = rateLimitLine(42, Date.UTC(2026, 0, 2, 3, 4, 5), Date.UTC(2026, 0, 2, 3, 4, 6));
  assert.equal(sourceOf(rec), 'heroku');
  assert.equal(dynoOf(rec), 'logplane');
  assert.match(msgOf(rec).toString(), /^Rate limit exceeded: 42 messages dropped since 2026-01-02T03:04:05\.000[0-9]*(Z|\+00:00)\.$/);
});

// SPEC 10: accepted = routed; the lines the limit drops are counted under
// their transport's rate_limited, not also as accepted.
test('syslog on the main thread: lines counts only what was routed, rate_limited the rest, and the app keeps its own count', () => {
  const app = new App({ id: 'rl', uuid: 'u', createdAt: '', updatedAt: '', tokens: [], drains: [] }, 1000);
  app.admission = new AppRateBucket(10, () => {}, app);
  const entry = new TokenEntry('t.01234567-89ab-4def-8123-456789abcdef', 'app', app);
  const tokens = new TokenTable<TokenEntry>();
  tokens.add(entry);
  const c = { lines: { value: 0 }, bytes: { value: 0 }, malformed: { value: 0 }, unknownToken: { value: 0 }, rateLimited: { value: 0 } };
  const h = new SyslogMessageHandler(tokens, c, routeMessage);
  // 25 one-line messages, then one message of 10 lines (split at LF): 35 lines at one instant, burst 20
  for (let i = 0; i < 25; i++) {
    const m = Buffer.from(`<190>1 - host ${entry.token} web.1 - - line ${i}`, 'latin1');
    h.handle(m, 0, m.length, 1000);
  }
  const multi = Buffer.from(`<190>1 - host ${entry.token} web.1 - - ${Array.from({ length: 10 }, (_, i) => `part ${i}`).join('\n')}`, 'latin1');
  h.handle(multi, 0, multi.length, 1000);
  assert.equal(c.lines.value, 20, 'accepted = routed');
  assert.equal(c.rateLimited.value, 15);
  assert.equal(c.lines.value + c.rateLimited.value, 35, 'accepted + rate_limited = lines sent');
  assert.equal(app.linesIn, 20);
  assert.equal(app.rateLimited, 15);
});

test('an ingest worker batch record carries its transport beside the source class', () => {
  const buf = Buffer.alloc(4096);
  const w = new BatchWriter(false, () => buf, () => assert.fail('full'));
  w.token = { slot: 7, nameBuf: Buffer.from('app'), classBits: 2 << CLASS_SHIFT };
  w.transportBits = T_HTTP << TRANSPORT_SHIFT;
  const p = newLineParts();
  const msg = Buffer.from('hello', 'latin1');
  p.pri = 190;
  p.tsBuf = p.dynoBuf = p.msgBuf = msg;
  p.tsStart = p.tsEnd = p.dynoStart = p.dynoEnd = 0;
  p.msgStart = 0;
  p.msgEnd = msg.length;
  p.receivedMs = 1000;
  w.line(p);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  assert.equal(v.getUint32(0, true), 7);
  const lw = v.getUint32(4, true);
  assert.equal((lw >>> TRANSPORT_SHIFT) & TRANSPORT_MASK, T_HTTP);
  assert.equal((lw >>> CLASS_SHIFT) & CLASS_MASK, 2);
  assert.equal(lw & LEN_MASK, w.pos - 8);
});

// Distributed mode: each node's bucket runs at its share of the limit, from
// the lines/s each node was sent for the app over the last period.
test('the share of a node: the whole limit when alone, proportional to where the lines arrive, at least L/N as weight', () => {
  assert.equal(rateShare(100, 500, 0, 2), 100, 'no other node reports the app');
  assert.equal(rateShare(100, 200, 200, 2), 50);
  assert.equal(rateShare(100, 300, 100, 2), 75);
  assert.equal(rateShare(100, 0, 1000, 2), (100 * 50) / 1050, 'a node that just started getting lines: weight L/N');
  assert.equal(rateShare(100, 100, 200, 3), 100 / 3);
});

test('a bucket set to a share refills at it with a burst of twice it; credit over the new burst is cut', () => {
  const b = new AppRateBucket(100, () => {}, { rateLimited: 0 });
  assert.equal(b.admit(1000), true);
  b.setRate(10);
  assert.equal(b.rate, 10);
  let n = 0;
  while (b.admit(1000)) n++;
  assert.equal(n, 20, 'burst cut to 2 x 10');
  n = 0;
  for (let i = 0; i < 100; i++) if (b.admit(2000)) n++;
  assert.equal(n, 10, 'refilled at 10/s');
  b.setRate(0.2);
  assert.equal(b.rate, 1, 'at least 1 line/s');
});

test('two nodes, each sent 2x the limit, exchanging once a second: together they admit about the limit, not twice it', () => {
  const L = 100;
  const nodes = [new AppRateBucket(L, () => {}, { rateLimited: 0 }), new AppRateBucket(L, () => {}, { rateLimited: 0 })];
  const admitted = [0, 0];
  let steady = 0;
  for (let sec = 0; sec < 10; sec++) {
    // 200 lines/s at each node, one every 5 ms
    for (let ms = 0; ms < 1000; ms += 5) {
      for (let k = 0; k < 2; k++) {
        if (nodes[k]!.admit(1000 + sec * 1000 + ms + k)) {
          admitted[k]!++;
          if (sec >= 2) steady++;
        }
      }
    }
    const seen = nodes.map((b) => b.seen);
    for (let k = 0; k < 2; k++) {
      nodes[k]!.setRate(rateShare(L, seen[k]!, seen[1 - k]!, 2));
      nodes[k]!.seen = 0;
    }
  }
  // 8 s after the first exchanges: L x 8, within one line a second of rounding
  assert.ok(Math.abs(steady - L * 8) <= 8, `admitted ${steady} in 8 s`);
  assert.ok(Math.abs(admitted[0]! - admitted[1]!) <= 2, 'evenly split');
});
