// The shipper's accounting (SPEC 14): against a real HTTP endpoint on
// loopback that refuses, then takes, every line is delivered or counted,
// exactly, and the counts reach the app as L12/L13 lines once delivery works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { Shipper, shipperDefaults } from '../../src/shipper/shipper.js';
import { parseFrames } from '../support/drain-receivers.js';
import { until } from '../support/wait.js';

interface Post {
  token: string;
  frameId: string;
  msgs: string[];
}

async function endpoint(): Promise<{ url: string; posts: Post[]; attempts: string[]; failing: { on: boolean; status?: number }; close: () => Promise<void> }> {
  const posts: Post[] = [];
  /** The Frame-Id of every request, refused or not. */
  const attempts: string[] = [];
  /** While on, every request is answered `status` (default 503). */
  const failing: { on: boolean; status?: number } = { on: true };
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      attempts.push(String(req.headers['logplex-frame-id']));
      if (failing.on) return res.writeHead(failing.status ?? 503).end();
      const frames: Buffer[] = [];
      parseFrames(Buffer.concat(chunks), frames);
      const token = Buffer.from((req.headers.authorization ?? '').slice(6), 'base64').toString().slice(6);
      posts.push({ token, frameId: String(req.headers['logplex-frame-id']), msgs: frames.map((f) => f.toString().replace(/^<\d+>1 \S+ \S+ \S+ \S+ - - /, '')) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, posts, attempts, failing, close: () => new Promise((r) => server.close(() => r())) };
}

test('shipper: while delivery fails the buffer drops its oldest lines; L12 and L13 report them exactly once delivery works', async () => {
  const ep = await endpoint();
  const shipper = new Shipper({ ...shipperDefaults, url: ep.url, token: 't.app', noticeToken: 't.heroku', dyno: 'web.1', host: 'h', bufferLines: 50, retryForMs: 0, backoffMinMs: 5, backoffMaxMs: 20, userAgent: 'test' });
  try {
    const line = (s: string) => {
      const b = Buffer.from(s);
      shipper.line(b, 0, b.length, Date.now());
    };
    line('first');
    // refused, given up at once (retry-for 0): one line for L13
    await until('the first batch is given up', () => shipper.stats.undelivered === 1, 10_000);
    for (let i = 1; i <= 200; i++) line(`line ${i}`);
    assert.equal(shipper.stats.dropped, 150, 'the 150 oldest dropped, counted');
    ep.failing.on = false;
    // (a notice attempt in flight when the endpoint recovers may carry the L13 line alone)
    const count = (re: RegExp) =>
      ep.posts
        .filter((p) => p.token === 't.heroku')
        .flatMap((p) => p.msgs)
        .reduce((n, m) => n + Number(re.exec(m)?.[1] ?? 0), 0);
    const L12 = /^Error L12 \(Local buffer overflow\): (\d+) messages dropped since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00\.$/;
    const L13 = /^Error L13 \(Local delivery error\): (\d+) messages could not be delivered since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00\.$/;
    await until('delivered and reported', () => count(L12) === 150 && count(L13) === 1, 10_000);
    const lines = ep.posts.filter((p) => p.token === 't.app').flatMap((p) => p.msgs);
    assert.deepEqual(lines, Array.from({ length: 50 }, (_, i) => `line ${151 + i}`));
    const notices = ep.posts.filter((p) => p.token === 't.heroku').flatMap((p) => p.msgs);
    assert.ok(notices.every((m) => L12.test(m) || L13.test(m)), notices.join('\n'));
    assert.equal(await shipper.flush(1000), 0, 'nothing left to deliver or report');
  } finally {
    await shipper.flush(0);
    await ep.close();
  }
});

test('shipper: a batch retried after a refusal keeps its Frame-Id (the server stores it once)', async () => {
  const ep = await endpoint();
  const shipper = new Shipper({ ...shipperDefaults, url: ep.url, token: 't.app', noticeToken: null, dyno: 'web.1', host: 'h', backoffMinMs: 5, backoffMaxMs: 20, userAgent: 'test' });
  try {
    const b = Buffer.from('hello');
    shipper.line(b, 0, b.length, Date.now());
    await until('refused twice', () => ep.attempts.length >= 2, 10_000);
    ep.failing.on = false;
    await until('delivered', () => shipper.stats.delivered === 1, 10_000);
    assert.equal(ep.posts.length, 1);
    assert.match(ep.attempts[0]!, /^[0-9A-F]{32}$/);
    assert.deepEqual(new Set(ep.attempts), new Set([ep.attempts[0]]), 'the same Frame-Id on every attempt');
    assert.equal(shipper.stats.undelivered, 0);
  } finally {
    await shipper.flush(0);
    await ep.close();
  }
});

test('shipper: while the server refuses the token (401), a process writing a line every 10 ms costs a few POSTs and stderr lines, not one per line; every line is counted', async () => {
  const ep = await endpoint();
  ep.failing.status = 401;
  const shipper = new Shipper({ ...shipperDefaults, url: ep.url, token: 't.revoked', noticeToken: null, dyno: 'web.1', host: 'h', backoffMinMs: 10, backoffMaxMs: 200, userAgent: 'test' });
  const refused: string[] = [];
  shipper.onRefusedNotice = (frames) => refused.push(frames);
  const t0 = Date.now();
  try {
    for (let i = 0; i < 200; i++) {
      const b = Buffer.from(`line ${i}`);
      shipper.line(b, 0, b.length, Date.now());
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await shipper.flush(5_000), 0, 'everything reported (on stderr: the notices were refused too)');
    // about one POST per 200 ms (backoffMaxMs) once the wait has grown, however slow this machine is
    // today (one POST per line, and a refused notice for almost every one, before)
    const most = (Date.now() - t0) / 200 + 10;
    assert.ok(ep.attempts.length <= most, `${ep.attempts.length} POSTs for 200 lines (at most ${most})`);
    assert.ok(refused.length <= ep.attempts.length / 2 + 1, `${refused.length} refused notices (stderr lines) for ${ep.attempts.length} POSTs`);
    const counted = refused.reduce((n, f) => n + Number(/Error L13 \(Local delivery error\): (\d+) messages/.exec(f)?.[1] ?? 0), 0);
    assert.equal(counted, 200, 'every refused line is in an L13 written on stderr');
    assert.equal(shipper.stats.undelivered, 200);
  } finally {
    await ep.close();
  }
});
