// Reading a session (SPEC 5.2, 5.3) over WebSocket, SSE and chunked text:
// every byte of every format, history then live, filters on both, ping and
// keepalive. Lines come in through route() and through the syslog TCP port.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { HttpStream, WsClient, line, push, session, setup, textOf, type Setup } from '../support/tail.js';
import { until } from '../support/wait.js';

let s: Setup;

before(async () => {
  s = await setup();
  push(s.app, 1, 4);
  // a line with bytes that need escaping in JSON and repair in WebSocket text frames
  push(s.app, 4, 5, (i) => line(i, { source: 'heroku', dyno: 'router', msg: Buffer.from('at=info path="/a\\b"\t\u00e9\xff', 'latin1') }));
});
after(async () => {
  await s.ts.close();
});

/** The same message as valid UTF-8: the lone bytes 0xE9 0xFF each become U+FFFD. */
const L4_MSG_UTF8 = 'at=info path="/a\\b"\t\ufffd\ufffd';

test('WebSocket, no tail: hello, one lines frame with the history, end, close 1000 (exact frames)', async () => {
  const url = await session(s.ts, { channel_id: 'myapp', num: 3 });
  const w = new WsClient(url);
  const c = await w.closed;
  assert.equal(c.code, 1000);
  assert.deepEqual(w.frames, [
    '{"type":"hello","app":"myapp","head":4}',
    '{"type":"lines","lines":[' +
      '{"seq":2,"ts":"2024-05-01T12:00:02.000000+00:00","source":"app","dyno":"web.1","pri":190,"msg":"line 2"},' +
      '{"seq":3,"ts":"2024-05-01T12:00:03.000000+00:00","source":"app","dyno":"web.1","pri":190,"msg":"line 3"},' +
      `{"seq":4,"ts":"2024-05-01T12:00:04.000000+00:00","source":"heroku","dyno":"router","pri":190,"msg":${JSON.stringify(L4_MSG_UTF8)}}]}`,
    '{"type":"end"}',
  ]);
});

test('WebSocket ?format=text: one text frame per line, then close 1000', async () => {
  const url = await session(s.ts, { channel_id: 'myapp', num: 2 });
  const w = new WsClient(`${url}?format=text`);
  const c = await w.closed;
  assert.equal(c.code, 1000);
  assert.deepEqual(w.frames, [textOf(3), `2024-05-01T12:00:04.000000+00:00 heroku[router]: ${L4_MSG_UTF8}`]);
});

test('SSE, no tail: 200 text/event-stream, `id: <seq>\\ndata: <text line>\\n\\n` per line, closed after history', async () => {
  const url = await session(s.ts, { channel_id: 'myapp', num: 2 });
  const h = new HttpStream(url, { accept: 'text/event-stream' });
  await h.done;
  assert.equal(h.status, 200);
  assert.equal(h.headers['content-type'], 'text/event-stream');
  assert.equal(h.headers['cache-control'], 'no-cache');
  assert.ok(h.headers['request-id']);
  assert.deepEqual(
    h.body,
    Buffer.concat([
      Buffer.from(`id: 3\ndata: ${textOf(3)}\n\n`),
      Buffer.from('id: 4\ndata: 2024-05-01T12:00:04.000000+00:00 heroku[router]: at=info path="/a\\b"\t\u00e9\xff\n\n', 'latin1'),
    ]),
  );
});

test('chunked text, no tail: text/plain, `TS source[dyno]: msg\\n` per line, bytes as sent', async () => {
  const url = await session(s.ts, { channel_id: 'myapp', num: 100 });
  const h = new HttpStream(url);
  await h.done;
  assert.equal(h.status, 200);
  assert.equal(h.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(h.headers['transfer-encoding'], 'chunked');
  assert.deepEqual(
    h.body,
    Buffer.concat([
      Buffer.from(`${textOf(1)}\n${textOf(2)}\n${textOf(3)}\n`),
      Buffer.from('2024-05-01T12:00:04.000000+00:00 heroku[router]: at=info path="/a\\b"\t\u00e9\xff\n', 'latin1'),
    ]),
  );
});

test('num larger than the ring, num 0, and the default of 100', async () => {
  const none = new HttpStream(await session(s.ts, { channel_id: 'myapp', num: '0' }));
  await none.done;
  assert.equal(none.text, '');
  const dflt = new HttpStream(await session(s.ts, { channel_id: 'myapp' }));
  await dflt.done;
  assert.equal(dflt.text.split('\n').length - 1, 4);
});

test('tail over all three transports: history, then live lines in order, as they are routed', async () => {
  const url = await session(s.ts, { channel_id: 'myapp', num: 1, tail: true });
  const w = new WsClient(url);
  const sse = new HttpStream(url, { accept: 'text/event-stream' });
  const txt = new HttpStream(url);
  await w.opened;
  await until('history on every transport', () => w.frames.length >= 2 && sse.text.length > 0 && txt.text.length > 0);
  const head = s.app.seq;
  push(s.app, 100, 103);
  await until('live lines', () => w.lines().length === 4 && sse.text.split('\n\n').length === 5 && txt.text.split('\n').length === 5);
  assert.deepEqual(w.json()[0], { type: 'hello', app: 'myapp', head });
  assert.deepEqual(w.lines().map((l) => l.seq), [head, head + 1, head + 2, head + 3]);
  // one tick's lines go in one frame
  assert.equal(w.json()[2].lines.length, 3);
  assert.equal(
    sse.text.slice(sse.text.indexOf(`id: ${head + 1}`)),
    [100, 101, 102].map((i, k) => `id: ${head + 1 + k}\ndata: ${textOf(i)}\n\n`).join(''),
  );
  assert.equal(txt.text.slice(txt.text.indexOf(textOf(100))), [100, 101, 102].map((i) => `${textOf(i)}\n`).join(''));
  w.ws.close();
  sse.close();
  txt.close();
  await until('tails to close', () => s.service.tailCount === 0);
  assert.equal(s.service.hub('myapp'), undefined, 'the hub leaves app.sinks with its last tail');
  assert.equal(s.app.sinks.length, 0);
});

test('filters apply alike to history and live lines: source, ps prefix with a dot, grep', async () => {
  const { app } = await s.ts.server.ctx.registry.putApp('filtered', ['app', 'heroku']);
  const mk = (i: number) => {
    const dynos = ['web.1', 'webhook.1', 'worker.2', 'web.2', 'router'];
    const dyno = dynos[i % dynos.length]!;
    return line(i, { dyno, source: dyno === 'router' ? 'heroku' : 'app', msg: i % 3 === 0 ? `needle ${i}` : `hay ${i}` });
  };
  push(app, 0, 30, mk);
  const urls = {
    web: await session(s.ts, { channel_id: 'filtered', num: 100, tail: true, ps: 'web' }),
    heroku: await session(s.ts, { channel_id: 'filtered', num: 100, tail: true, source: 'heroku' }),
    grep: await session(s.ts, { channel_id: 'filtered', num: 100, tail: true, grep: 'needle', dyno: 'web.1' }),
    newest: await session(s.ts, { channel_id: 'filtered', num: 2, tail: true, ps: 'worker' }),
  };
  const ws = Object.fromEntries(Object.entries(urls).map(([k, u]) => [k, new WsClient(u)])) as Record<keyof typeof urls, WsClient>;
  const sse = new HttpStream(urls.web, { accept: 'text/event-stream' });
  await Promise.all(Object.values(ws).map((w) => w.opened));
  push(app, 30, 60, mk);
  const expect = (pred: (i: number) => boolean, from = 0) => Array.from({ length: 60 }, (_, i) => i).filter((i) => i >= from && pred(i)).map((i) => i + 1);
  const web = expect((i) => i % 5 === 0 || i % 5 === 3);
  const heroku = expect((i) => i % 5 === 4);
  const grep = expect((i) => i % 5 === 0 && i % 3 === 0);
  const worker = expect((i) => i % 5 === 2).filter((q) => q > 30 || q >= 23); // the newest 2 of history (seq 23, 28) then live
  await until('filtered lines', () => ws.web.lines().length === web.length && ws.heroku.lines().length === heroku.length && ws.grep.lines().length === grep.length && ws.newest.lines().length === worker.length);
  await until('filtered SSE events', () => sse.text.split('\n\n').length - 1 === web.length);
  assert.deepEqual(ws.web.lines().map((l) => l.seq), web);
  assert.deepEqual(ws.heroku.lines().map((l) => l.seq), heroku);
  assert.deepEqual(ws.grep.lines().map((l) => l.seq), grep);
  assert.deepEqual(ws.newest.lines().map((l) => l.seq), worker);
  assert.deepEqual(sse.text.split('\n\n').slice(0, -1).map((e) => Number(e.slice(4, e.indexOf('\n')))), web);
  for (const w of Object.values(ws)) w.ws.close();
  sse.close();
});

test('lines sent to the syslog TCP port reach a WebSocket tail (token in APP-NAME, source = token name)', async () => {
  const token = s.app.record.tokens.find((t) => t.name === 'app')!.token;
  const url = await session(s.ts, { channel_id: 'myapp', num: 0, tail: true });
  const w = new WsClient(url);
  await w.opened;
  await until('hello', () => w.frames.length === 1);
  const sock = connect(s.ts.server.ports.syslog!, '127.0.0.1');
  const msgs = ['first', 'second\nthird'];
  const frames = msgs.map((m) => {
    const body = `<134>1 2024-05-01T13:00:00.5Z host ${token} worker.3 - - ${m}`;
    return `${Buffer.byteLength(body)} ${body}`;
  });
  sock.end(frames.join(''));
  await until('three lines (an LF splits a message)', () => w.lines().length === 3);
  assert.deepEqual(
    w.lines().map(({ ts, source, dyno, pri, msg }) => ({ ts, source, dyno, pri, msg })),
    ['first', 'second', 'third'].map((msg) => ({ ts: '2024-05-01T13:00:00.5Z', source: 'app', dyno: 'worker.3', pri: 134, msg })),
  );
  w.ws.close();
});

test('SSE tail sends `: keepalive` comments while idle', async () => {
  s.service.configure({ keepaliveMs: 30 });
  try {
    const url = await session(s.ts, { channel_id: 'myapp', num: 0, tail: true });
    const h = new HttpStream(url, { accept: 'text/event-stream' });
    await until('two keepalives', () => h.text.startsWith(': keepalive\n\n: keepalive\n\n'));
    h.close();
  } finally {
    s.service.configure({ keepaliveMs: 15_000 });
  }
});

test('text tail sends an empty line as keepalive while idle, only between whole lines', async () => {
  s.service.configure({ keepaliveMs: 30 });
  try {
    const url = await session(s.ts, { channel_id: 'myapp', num: 0, tail: true });
    const h = new HttpStream(url);
    await until('two keepalives', () => h.text.startsWith('\n\n'));
    push(s.app, 5, 7);
    await until('the live lines', () => h.text.includes(`${textOf(6)}\n`));
    await until('a keepalive after the lines', () => h.text.endsWith(`${textOf(6)}\n\n`));
    h.close();
    // every line is whole: the lines as sent, and empty lines between them
    assert.deepEqual(h.text.split('\n').filter((l) => l !== ''), [textOf(5), textOf(6)]);
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-type'], 'text/plain; charset=utf-8');
  } finally {
    s.service.configure({ keepaliveMs: 15_000 });
  }
});

test('WebSocket ping: a peer that answers stays; one that misses two pongs is closed', async () => {
  // 200 ms, not less: the good peer runs in this process, and a loaded machine can stall the event
  // loop long enough for a shorter interval to see its pongs late
  s.service.configure({ pingIntervalMs: 200 });
  try {
    const url = await session(s.ts, { channel_id: 'myapp', num: 0, tail: true });
    const good = new WsClient(url);
    let pings = 0;
    good.ws.on('ping', () => pings++);
    const mute = new WsClient(url, { autoPong: false });
    const start = Date.now();
    const c = await mute.closed;
    assert.equal(c.code, 1006, 'terminated');
    assert.ok(Date.now() - start >= 400, 'not before two pings went unanswered');
    await until('pings to the good peer', () => pings >= 4);
    assert.equal(good.ws.readyState, good.ws.OPEN);
    good.ws.close();
  } finally {
    s.service.configure({ pingIntervalMs: 30_000 });
  }
});

test('bad resume point: 400', async () => {
  const url = await session(s.ts, { channel_id: 'myapp', num: 0 });
  const h = new HttpStream(`${url}?after=abc`);
  await h.done;
  assert.equal(h.status, 400);
  const w = new WsClient(`${url}?after=-1`);
  await w.closed;
  assert.equal(w.status, 400);
  // a malformed escape in the path is a 404, not a crash
  const bad = new WsClient(`${s.ts.url}/sessions/%E0%A4%A`);
  await bad.closed;
  assert.equal(bad.status, 404);
});
