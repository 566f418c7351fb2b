// A loss notice appended while a reader was away, and its resume (SPEC 5.3
// "Loss is explicit", SPEC 9). A reader resumes with `after` (WebSocket
// `?after=`, SSE Last-Event-ID, `logplane logs` reconnecting); a node that
// could not write lines to Redis announced them with a loss notice in the
// app's stream while that reader was not connected. Regression: a resume
// replayed the lines after its point but never the notices among them, so a
// reader away when a notice was appended lost those lines silently. Now a
// notice appended after the line the reader resumes from is reported (a gap,
// the L11 line), and `logplane logs` prints it once over any number of
// reconnects. Regression: the lines such a node wrote when it was back have
// seqs older than the lines other nodes wrote meanwhile, so a reader that had
// one of those and resumed after it was neither sent them nor told (SPEC 5.3):
// now they are counted in a gap of their seqs, on every transport, and
// `logplane logs` prints it once. docs/tail.md, "Loss is explicit".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { logs } from '../../src/cli/tail.js';
import { API_KEY, api, cutPair, fastCluster, historyOn as historyOnNode, metricMatch, postLogs, postRange, refusedRange, sessionOn, startNode, syslog, type CutPair, type Node } from '../support/cluster.js';
import { freePort } from '../support/net.js';
import { TcpProxy } from '../support/proxy.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { HttpStream, WsClient, seen } from '../support/tail.js';
import { settled, until } from '../support/wait.js';

const range = (prefix: string, from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

/** A proxy to node b that is its public URL (so a session's URL goes through it too): b's environment, and b not through it. */
async function proxyToB(): Promise<{ proxy: TcpProxy; env: Record<string, string>; direct: (b: Node) => Node }> {
  const port = await freePort();
  const proxy = await TcpProxy.start(port);
  return { proxy, env: { LOGPLANE_PORT: String(port), LOGPLANE_PUBLIC_URL: proxy.url }, direct: (b) => ({ ...b, url: `http://127.0.0.1:${port}` }) };
}

/**
 * `logplane logs -a <app> ...args` run in process against node b through
 * `proxy` (b's public URL): what it printed, and its connection cut
 * (away) and let through again (back), each waited for on b.
 */
function logsVia(proxy: TcpProxy, b: Node, app: string, args: string[]) {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const ac = new AbortController();
  const env = { LOGPLANE_URL: proxy.url, LOGPLANE_API_KEY: API_KEY, NO_COLOR: '1' };
  const cli = logs(['-a', app, ...args], { stdout: out, stderr: new PassThrough(), env, signal: ac.signal });
  const away = async (): Promise<void> => {
    proxy.cut();
    await until('the CLI cut off', () => b.server.tails.tailCount === 0, 10_000);
  };
  const back = async (): Promise<void> => {
    proxy.restore();
    await until('the CLI back', () => b.server.tails.tailCount === 1, 20_000);
  };
  return {
    text: () => text,
    printed: (msg: string) => () => text.split('\n').some((l) => l.endsWith(`: ${msg}`)),
    reading: () => until('the CLI reading', () => b.server.tails.tailCount === 1, 10_000),
    away,
    back,
    reconnect: async (): Promise<void> => {
      await away();
      await back();
    },
    /** Away and back, then `node` takes the line `${prefix}${i}`: until it is printed. */
    async reconnectThenLine(node: Node, token: string, prefix: string, i: number): Promise<void> {
      await this.reconnect();
      await postRange(node, token, prefix, i, i + 1);
      await until(`${prefix}${i} printed`, this.printed(`${prefix}${i}`), 10_000);
    },
    /** Ctrl-C: its exit code. */
    stop: (): Promise<number> => {
      ac.abort();
      return cli;
    },
  };
}

describe('a reader away while a node that was cut off from Redis announced its lost lines', () => {
  const APP = 'away';
  let pair: CutPair;
  let a: Node;
  let b: Node;
  let token: string;
  /** The session read from b (a tail), and the seqs it saw. */
  let url: string;
  let seqOf: Map<string, number>;
  /** A session read from a while it was cut off: it had a's lines live. */
  let onA: { url: string; seqOf: Map<string, number> };

  before(async () => {
    // a keeps at most 5 lines for Redis while it cannot reach it: older ones are lost, announced once it is back
    pair = await cutPair(APP, {}, { ...fastCluster, maxPendingLines: 5 });
    ({ a, b, token } = pair);
    url = await sessionOn(b, APP, { num: 0, tail: true });
    const reader = new WsClient(url);
    onA = { url: await sessionOn(a, APP, { num: 0, tail: true }), seqOf: new Map() };
    const readerOnA = new WsClient(onA.url);
    await Promise.all([reader.opened, readerOnA.opened]);
    await until('both tails started', () => reader.json().length > 0 && readerOnA.json().length > 0, 10_000);

    pair.proxy.cut();
    await until('a sees Redis down', () => !a.server.cluster!.history.up, 10_000);
    // a takes y0..y7 while cut off: y0..y2 are dropped from its queue (lost), y3..y7 wait
    await postRange(a, token, 'y', 0, 8);
    await until('y0..y2 lost', async () => (await metricMatch(a.url, /^logplane_redis_lines_dropped_total\{reason="overflow"\} (\d+)$/m)) === 3, 10_000);
    // then b takes c0..c2 (newer seqs than a's): the reader on b sees them, then goes away
    await postRange(b, token, 'c', 0, 3);
    await until('c0..c2 read on b', () => seen(reader).items.includes('c2'), 10_000);
    await until('y0..y7 read on a', () => seen(readerOnA).items.includes('y7'), 10_000);
    assert.deepEqual(seen(reader).items, range('c', 0, 3), 'the reader on b: no notice yet, a is still cut off');
    seqOf = seen(reader).seqOf;
    onA.seqOf = seen(readerOnA).seqOf;
    reader.release();
    readerOnA.release();
    await until('both readers gone', () => b.server.tails.tailCount === 0 && a.server.tails.tailCount === 0, 10_000);

    // a is back: its notice of the 3 lost lines, then y3..y7, reach the shared history while nobody reads
    pair.proxy.restore();
    await until('y3..y7 written', async () => (await historyOnNode(b, APP, 1000)).includes('y7'), 20_000);
    await postRange(b, token, 'c', 3, 4);
    await until('c3 written', async () => (await historyOnNode(a, APP, 1000)).includes('c3'), 10_000);
  });
  after(() => pair?.close());

  test('resuming after the last line it saw, on either node: the notice\'s gap, then the late lines\' gap, before the lines after its point', async () => {
    for (const x of [b, a]) {
      const t0 = Date.now();
      const ws = new WsClient(`${url.replace(b.url, x.url)}?after=${seqOf.get('c2')}`);
      await until('c3', () => seen(ws).items.includes('c3'), 10_000);
      const { items, gaps } = await settled('the resumed tail', () => seen(ws));
      ws.release();
      assert.deepEqual(items, ['gap', 'gap', 'c3']);
      for (const g of gaps) assert.deepEqual(Object.keys(g), ['type', 'dropped', 'since', 'from', 'to'], 'the gap frame of SPEC 5.3');
      assert.equal(gaps[0].dropped, 3, 'y0..y2');
      // its lines' place is before the resume point: the gap comes first, after what the reader had
      assert.equal(gaps[0].from, seqOf.get('c2')! + 1);
      assert.equal(gaps[0].to, gaps[0].from);
      // y3..y7 reached the shared history after c2 with older seqs: a resume does not send them (they are below its
      // point), it counts them, with their seqs, as the live path counts lines that came too late
      assert.equal(gaps[1].dropped, 5, 'y3..y7');
      assert.equal(gaps[1].from, onA.seqOf.get('y3'));
      assert.equal(gaps[1].to, onA.seqOf.get('y7'));
      assert.ok(Date.parse(gaps[1].since) >= t0 - 1, `since ${gaps[1].since}: when the resume counted them, as the live path`);
    }
    assert.equal(await metricMatch(b.url, /^logplane_tail_dropped_total\{reason="resume_late"\} (\d+)$/m), 5);
    assert.equal(await metricMatch(a.url, /^logplane_tail_dropped_total\{reason="resume_late"\} (\d+)$/m), 5);
  });

  test('text and SSE (Last-Event-ID): the L11 line for each, and the late lines\' event keeps the resume point as its id', async () => {
    const c2 = seqOf.get('c2')!;
    // a session without tail: the resumed history, then the end
    const once = await sessionOn(b, APP, { num: 0 });
    for (const x of [b, a]) {
      const text = new HttpStream(`${once.replace(b.url, x.url)}?after=${c2}`);
      await text.done;
      const lines = text.text.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 3, text.text);
      assert.match(lines[0]!, /heroku\[logplex\]: Error L11 \(Tail buffer overflow\) -> This tail session dropped 3 messages since \S+\.$/);
      assert.match(lines[1]!, /heroku\[logplex\]: Error L11 \(Tail buffer overflow\) -> This tail session dropped 5 messages since \S+\.$/);
      assert.ok(lines[2]!.endsWith(': c3'));

      const sse = new HttpStream(once.replace(b.url, x.url), { Accept: 'text/event-stream', 'Last-Event-ID': String(c2) });
      await sse.done;
      const events = sse.text.split('\n\n').filter((e) => e !== '');
      assert.equal(events.length, 3, sse.text);
      assert.match(events[0]!, new RegExp(`^id: ${c2 + 1}\ndata: .* dropped 3 messages since \\S+\\.$`));
      // the late lines' seqs are below c2: as its id the highest sent (c2 + 1), so a reconnect does not go back before c2
      assert.match(events[1]!, new RegExp(`^id: ${c2 + 1}\ndata: .* dropped 5 messages since \\S+\\.$`));
      assert.match(events[2]!, /^id: \d+\ndata: .*: c3$/);
    }
  });

  test('resuming before the late lines\' seqs: they are sent, and only the notice is reported', async () => {
    for (const x of [b, a]) {
      const ws = new WsClient(`${url.replace(b.url, x.url)}?after=${onA.seqOf.get('y3')! - 1}`);
      await until('c3', () => seen(ws).items.includes('c3'), 10_000);
      const { items, gaps } = await settled('the resumed tail', () => seen(ws));
      ws.release();
      assert.deepEqual(items, ['gap', ...range('y', 3, 8), ...range('c', 0, 4)]);
      assert.equal(gaps[0].dropped, 3, 'y0..y2, the notice');
    }
  });

  test('a reader that read from the node that lost the lines, resuming after a line appended after the notice: nothing reported', async () => {
    // y7 went to Redis behind the notice: the reader that had y7 was reading when the lines were routed (it had them live)
    const ws = new WsClient(`${onA.url}?after=${onA.seqOf.get('y7')}`);
    await until('c3', () => seen(ws).items.includes('c3'), 10_000);
    const { items } = await settled('the resumed tail', () => seen(ws));
    ws.release();
    assert.deepEqual(items, range('c', 0, 4));
  });
});

describe('logplane logs: a loss notice appended while it was disconnected is printed once, over several reconnects', () => {
  const APP = 'cli';
  let redis: TestRedis;
  let a: Node;
  let b: Node;
  /** Between the CLI and node b (b's public URL, so the session's URL goes through it too). */
  let proxy: TcpProxy;
  /** b itself, not through the proxy (b.url is its public URL: the proxy's). */
  let bDirect: Node;
  let token: string;

  before(async () => {
    redis = await startRedis();
    const via = await proxyToB();
    proxy = via.proxy;
    [a, b] = await Promise.all([startNode(redis.url), startNode(redis.url, fastCluster, via.env)]);
    bDirect = via.direct(b);
    token = (await api(a.url, 'PUT', `/v3/channels/${APP}`, { tokens: ['app'] })).json.tokens.app as string;
    await until('the app on b', () => b.server.ctx.registry.get(APP), 10_000);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await proxy?.close();
    await redis?.close();
  });

  test('printed where it happened, and not again when a resume reports it again', async () => {
    // web dynos only: a's line after the notice (a worker's) is not sent, so the gap is the last thing a reconnect replays
    const cli = logsVia(proxy, b, APP, ['-t', '-n', '0', '-d', 'web']);
    try {
      await cli.reading();
      await postRange(a, token, 'h', 0, 3);
      await until('h0..h2 printed', cli.printed('h2'), 10_000);

      // the CLI is cut off; meanwhile a cannot write x0..x4 (Redis refuses), then writes the notice and w0
      await cli.away();
      await refusedRange(redis.url, a, token, 'x', 0, 5);
      assert.equal(await postLogs(a.url, token, [syslog('w0', 'worker.1')]), 204);
      await until('w0 written', async () => (await historyOnNode(bDirect, APP, 100)).includes('w0'), 10_000);
      proxy.restore();
      await until('the gap printed', () => cli.text().includes('logplane[tail]'), 20_000);

      // twice more away and back: the second resume is after the gap's seq, which no line has (the notice is reported again)
      await cli.reconnectThenLine(a, token, 'h', 3);
      await cli.reconnectThenLine(a, token, 'h', 4);
    } finally {
      assert.equal(await cli.stop(), 0);
    }
    const text = cli.text();
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, 6, text);
    assert.deepEqual([0, 1, 2, 4, 5].map((i) => lines[i]!.slice(lines[i]!.lastIndexOf(': ') + 2)), ['h0', 'h1', 'h2', 'h3', 'h4']);
    assert.match(lines[3]!, /^\S+ logplane\[tail\]: 5 lines were not delivered \(seq (\d+)-\1\)$/);
  });
});

describe('logplane logs: the lines a node cut off from Redis wrote late, while it was disconnected, are printed once as a gap', () => {
  const APP = 'late';
  /** Node a cut off from Redis by pair.proxy; the CLI reaches node b through proxy, b's public URL. */
  let pair: CutPair;
  let proxy: TcpProxy;
  let a: Node;
  let b: Node;
  let bDirect: Node;
  let token: string;

  before(async () => {
    const via = await proxyToB();
    proxy = via.proxy;
    pair = await cutPair(APP, {}, fastCluster, via.env);
    ({ a, b, token } = pair);
    bDirect = via.direct(b);
  });
  after(async () => {
    await pair?.close();
    await proxy?.close();
  });

  test('printed where it happened, and not again when a resume reports it again; a resume before their seqs gets them and no gap', async () => {
    const cli = logsVia(proxy, b, APP, ['-t', '-n', '0']);
    try {
      await cli.reading();
      // a is cut off from Redis and takes y0..y4 (queued: none lost); b takes c0..c2, which the CLI prints
      pair.proxy.cut();
      await until('a sees Redis down', () => !a.server.cluster!.history.up, 10_000);
      await postRange(a, token, 'y', 0, 5);
      await postRange(bDirect, token, 'c', 0, 3);
      await until('c0..c2 printed', cli.printed('c2'), 10_000);
      // the CLI goes away; a is back and writes y0..y4 after c0..c2, with older seqs
      await cli.away();
      pair.proxy.restore();
      await until('y0..y4 written', async () => (await historyOnNode(bDirect, APP, 1000)).includes('y4'), 20_000);
      await cli.back();
      await until('the gap printed', () => cli.text().includes('logplane[tail]'), 10_000);
      // away and back again before any line: the resume is after c2 again, and reports them again; then after c3
      await cli.reconnectThenLine(bDirect, token, 'c', 3);
      await cli.reconnectThenLine(bDirect, token, 'c', 4);
    } finally {
      assert.equal(await cli.stop(), 0);
    }
    const text = cli.text();
    const ws = new WsClient(await sessionOn(bDirect, APP, { num: 100 }));
    await ws.closed;
    const { seqOf } = seen(ws);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, 6, text);
    assert.deepEqual([0, 1, 2, 4, 5].map((i) => lines[i]!.slice(lines[i]!.lastIndexOf(': ') + 2)), range('c', 0, 5));
    assert.match(lines[3]!, new RegExp(`^\\S+ logplane\\[tail\\]: 5 lines were not delivered \\(seq ${seqOf.get('y0')}-${seqOf.get('y4')}\\)$`));

    // a resume from before y0: y0..y4 themselves, no gap
    const early = new WsClient(`${await sessionOn(bDirect, APP, { num: 0 })}?after=${seqOf.get('y0')! - 1}`.replace(b.url, bDirect.url));
    await early.closed;
    assert.deepEqual(seen(early).items, [...range('y', 0, 5), ...range('c', 0, 5)]);
  });

  test('resumed while the node is still cut off: its late lines arrive live, and are counted as lines that came too late (were dropped as seen)', async () => {
    const url = await sessionOn(bDirect, APP, { num: 0, tail: true });
    const reader = new WsClient(url.replace(b.url, bDirect.url));
    await until('the tail started', () => reader.json().length > 0, 10_000);
    pair.proxy.cut();
    await until('a sees Redis down', () => !a.server.cluster!.history.up, 10_000);
    await postRange(a, token, 'z', 0, 3);
    await postRange(bDirect, token, 'd', 0, 1);
    await until('d0 read', () => seen(reader).items.includes('d0'), 10_000);
    const d0 = seen(reader).seqOf.get('d0')!;
    reader.release();
    // resumed after d0 while a still holds z0..z2: nothing to send yet
    const ws = new WsClient(`${url}?after=${d0}`.replace(b.url, bDirect.url));
    await until('the resumed tail started', () => ws.json().length > 0, 10_000);
    pair.proxy.restore();
    await until('z0..z2 written', async () => (await historyOnNode(bDirect, APP, 1000)).includes('z2'), 20_000);
    await postRange(bDirect, token, 'd', 1, 2);
    await until('d1', () => seen(ws).items.includes('d1'), 10_000);
    const { items, gaps } = await settled('the resumed tail', () => seen(ws));
    ws.release();
    assert.deepEqual(items, ['gap', 'd1']);
    assert.equal(gaps[0].dropped, 3, 'z0..z2');
    assert.ok(gaps[0].from < gaps[0].to && gaps[0].to < d0, 'their seqs, below the resume point');
  });
});
