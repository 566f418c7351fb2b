// Resume without loss (SPEC 5.2, 5.3): after=<seq> over WebSocket and
// Last-Event-ID over SSE give every line after that seq still in the ring, no
// duplicates, and an explicit gap for what the ring no longer holds. The SSE
// side is read with the `eventsource` package (v4), the way the heroku CLI
// reads `logplex_url`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { rfc3339 } from '../../src/line.js';
import { WsClient, line, push, session, setup, textOf, type Setup } from '../support/tail.js';
import { api } from '../support/api.js';
import { until } from '../support/wait.js';

const RING = 50;
let s: Setup;
before(async () => {
  s = await setup({ LOGPLANE_HISTORY_LINES: String(RING) });
});
after(async () => {
  await s.ts.close();
});

test('WebSocket after=<seq>: every later line in the ring, then live, with no duplicate across reconnects', async () => {
  const { app } = await s.ts.server.ctx.registry.putApp('resume', ['app']);
  push(app, 1, 11);
  const url = await session(s.ts, { channel_id: 'resume', num: 100, tail: true });
  const first = new WsClient(`${url}?after=3`);
  await first.opened;
  await until('lines 4..10', () => first.lines().length === 7);
  push(app, 11, 14);
  await until('live 11..13', () => first.lines().length === 10);
  const seen = first.lines().map((l) => l.seq);
  assert.deepEqual(seen, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  assert.equal(first.frames.filter((f) => f.includes('"type":"gap"')).length, 0);
  first.ws.close();
  await first.closed;
  // lines arrive while nobody reads; the reconnect resumes after the last seq seen
  push(app, 14, 20);
  const second = new WsClient(`${url}?after=${seen.at(-1)}`);
  await second.opened;
  await until('the lines missed while away', () => second.lines().length === 6);
  push(app, 20, 22);
  await until('then live', () => second.lines().length === 8);
  assert.deepEqual(second.json()[0], { type: 'hello', app: 'resume', head: 19 });
  assert.deepEqual(second.lines().map((l) => l.seq), [14, 15, 16, 17, 18, 19, 20, 21]);
  assert.deepEqual(second.lines().map((l) => l.msg), [14, 15, 16, 17, 18, 19, 20, 21].map((i) => `line ${i}`));
  second.ws.close();
});

test('WebSocket after=<seq> older than the ring: an exact gap frame first, then what the ring holds', async () => {
  const { app } = await s.ts.server.ctx.registry.putApp('lossy', ['app']);
  push(app, 1, 101); // ring keeps seq 51..100
  const url = await session(s.ts, { channel_id: 'lossy', num: 0 });
  const w = new WsClient(`${url}?after=10`);
  const c = await w.closed;
  assert.equal(c.code, 1000);
  assert.equal(w.frames[0], '{"type":"hello","app":"lossy","head":100}');
  // since = when the oldest line still held was received (the lost ones came before it)
  assert.equal(w.frames[1], `{"type":"gap","dropped":40,"since":"${rfc3339(Date.UTC(2024, 4, 1, 12) + 51)}","from":11,"to":50}`);
  assert.deepEqual(w.lines().map((l) => l.seq), Array.from({ length: 50 }, (_, i) => 51 + i));
  assert.equal(w.frames.at(-1), '{"type":"end"}');
  // after at or past the head: nothing old, no gap
  const w2 = new WsClient(`${url}?after=100`);
  await w2.closed;
  assert.deepEqual(w2.frames, ['{"type":"hello","app":"lossy","head":100}', '{"type":"end"}']);
});

test('text transport honours ?after and prints the L11 line for lines the ring lost', async () => {
  const { app } = await s.ts.server.ctx.registry.putApp('lossytext', ['app']);
  push(app, 1, 61); // ring keeps 11..60
  const url = await session(s.ts, { channel_id: 'lossytext', num: 0 });
  const res = await fetch(`${url}?after=5`);
  const body = await res.text();
  const lines = body.split('\n');
  assert.match(
    lines[0]!,
    new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}\\+00:00 heroku\\[logplex\\]: Error L11 \\(Tail buffer overflow\\) -> This tail session dropped 5 messages since ${rfc3339(Date.UTC(2024, 4, 1, 12) + 11).replace(/[.+]/g, '\\$&')}\\.$`),
  );
  assert.deepEqual(lines.slice(1, -1), Array.from({ length: 50 }, (_, i) => textOf(11 + i)));
});

interface Event {
  id: string;
  data: string;
}

function collect(es: EventSource): { events: Event[]; errors: { code?: number; message?: string }[]; opens: number } {
  const out = { events: [] as Event[], errors: [] as { code?: number; message?: string }[], opens: 0 };
  es.addEventListener('open', () => out.opens++);
  es.addEventListener('message', (e) => out.events.push({ id: e.lastEventId, data: e.data }));
  es.addEventListener('error', (e) => out.errors.push({ code: (e as { code?: number }).code, message: (e as { message?: string }).message }));
  return out;
}

test('heroku CLI flow, history only: POST /apps/:app/log-sessions, then EventSource reads the lines until the server closes', async () => {
  const { app } = await s.ts.server.ctx.registry.putApp('herokuapp', ['app', 'heroku']);
  push(app, 1, 8, (i) => line(i, i % 2 ? { dyno: 'web.1' } : { source: 'heroku', dyno: 'router' }));
  const r = await api(s.ts, 'POST', '/apps/herokuapp/log-sessions', { dyno: 'web', lines: 3, tail: false }, { accept: 'application/vnd.heroku+json; version=3.sdk' });
  assert.equal(r.status, 201);
  const es = new EventSource(r.json.logplex_url);
  const got = collect(es);
  try {
    // without tail the server closes after history; the client sees an error without a status
    await until('the end of the stream', () => got.errors.length > 0);
    assert.equal(got.errors[0]!.code, undefined);
    assert.deepEqual(got.events, [3, 5, 7].map((i) => ({ id: String(i), data: textOf(i) })));
  } finally {
    es.close();
  }
  // an unknown session is an error with status 404 (the CLI says "Log stream timed out")
  const gone = new EventSource(`${s.ts.url}/sessions/00000000-0000-4000-8000-000000000000`);
  const g = collect(gone);
  await until('the 404', () => g.errors.length > 0);
  assert.equal(g.errors[0]!.code, 404);
  gone.close();
});

test('SSE resume with Last-Event-ID (eventsource v4): a cut, lines meanwhile, reconnect: no loss, no duplicate, L11 for what the ring lost', async () => {
  const { app } = await s.ts.server.ctx.registry.putApp('ssetail', ['app']);
  push(app, 1, 11);
  const r = await api(s.ts, 'POST', '/apps/ssetail/log-sessions', { lines: 5, tail: true, source: 'app' });
  const es = new EventSource(r.json.logplex_url);
  const got = collect(es);
  try {
    await until('history', () => got.events.length === 5);
    push(app, 11, 21);
    await until('live lines', () => got.events.length === 15);
    // cut the stream server-side, as a proxy would: the response ends with no
    // retry hint (a server stop adds `retry: 15000`, the restart budget, which
    // test/e2e/tail_restart.test.ts covers), so the client reconnects after its own delay
    const cut = (): void => {
      for (const t of s.service.tails()) if (t.app === app) t.sink.finish();
    };
    cut();
    await until('the client to notice', () => got.errors.length === 1);
    // while it is away: fewer lines than the ring holds → all come back
    push(app, 21, 31);
    await until('resumed after Last-Event-ID', () => got.events.length === 25, 15_000);
    assert.deepEqual(got.events.map((e) => Number(e.id)), Array.from({ length: 25 }, (_, i) => 6 + i));
    assert.deepEqual(got.events.map((e) => e.data), Array.from({ length: 25 }, (_, i) => textOf(6 + i)));
    assert.equal(got.opens, 2);

    // second cut, and more lines than the ring holds: an explicit L11 event, then the ring
    cut();
    await until('the client to notice again', () => got.errors.length === 2);
    push(app, 31, 111); // seq 31..110; ring keeps 61..110; 31..60 are lost
    await until('resumed with a gap', () => got.events.length === 25 + 1 + RING, 15_000);
    const l11 = got.events[25]!;
    assert.equal(l11.id, '60', 'the L11 event carries the last lost seq, so a reconnect resumes after it');
    assert.match(l11.data, /^\S+ heroku\[logplex\]: Error L11 \(Tail buffer overflow\) -> This tail session dropped 30 messages since \S+\.$/);
    assert.deepEqual(got.events.slice(26).map((e) => Number(e.id)), Array.from({ length: RING }, (_, i) => 61 + i));
  } finally {
    es.close();
  }
});
