// `logplane logs` (src/cli/tail.ts) as a user runs it: the built entry in a
// child process against a real server. History, --json, colours, errors,
// and -t surviving a network cut and a server restart without duplicates or
// silent gaps; Ctrl-C exits 0. Gaps as a server may send them, from a
// scripted one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stablePort } from '../support/net.js';
import { startServer, tempDir, type TestServer } from '../support/server.js';
import { line, push, textOf } from '../support/tail.js';
import { formatLine, DynoColors } from '../../src/cli/colors.js';
import { parseLogsArgs } from '../../src/cli/tail.js';
import { until } from '../support/wait.js';
import { WebSocketServer } from 'ws';

const CLI = fileURLToPath(new URL('../../src/cli/tail.js', import.meta.url));

interface Run {
  child: ChildProcess;
  out: string;
  err: string;
  exit: Promise<number | null>;
}

/** tail.js run on its own (entry), or `logplane logs` (LOGS). */
function run(ts: { url: string; apiKey: string }, args: string[], env: Record<string, string> = {}, entry: readonly string[] = [CLI]): Run {
  const child = spawn(process.execPath, [...entry, ...args], {
    env: { PATH: process.env.PATH ?? '', LOGPLANE_URL: ts.url, LOGPLANE_API_KEY: ts.apiKey, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r: Run = { child, out: '', err: '', exit: new Promise((res) => child.on('exit', (code) => res(code))) };
  child.stdout!.on('data', (d: Buffer) => (r.out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (r.err += d.toString()));
  return r;
}

let ts: TestServer;
before(async () => {
  ts = await startServer();
  const { app } = await ts.server.ctx.registry.putApp('cliapp', ['app', 'heroku']);
  push(app, 1, 6);
  push(app, 6, 7, (i) => line(i, { source: 'heroku', dyno: 'router', msg: 'at=info method=GET path="/" dyno=web.1 connect=1ms service=7ms status=200 bytes=12' }));
});
after(async () => {
  await ts.close();
});

test('logs -a APP -n N: the newest N lines as plain text lines (not a TTY), exit 0', async () => {
  const r = run(ts, ['-a', 'cliapp', '-n', '3']);
  assert.equal(await r.exit, 0);
  assert.equal(r.out, `${textOf(4)}\n${textOf(5)}\n2024-05-01T12:00:06.000000+00:00 heroku[router]: at=info method=GET path="/" dyno=web.1 connect=1ms service=7ms status=200 bytes=12\n`);
  assert.equal(r.err, '');
});

test('filters and --json: one JSON object per line', async () => {
  const r = run(ts, ['--app=cliapp', '-s', 'app', '-d', 'web', '-n2', '--json']);
  assert.equal(await r.exit, 0);
  assert.deepEqual(
    r.out.trim().split('\n').map((l) => JSON.parse(l)),
    [4, 5].map((i) => ({ seq: i, ts: `2024-05-01T12:00:0${i}.000000+00:00`, source: 'app', dyno: 'web.1', pri: 190, msg: `line ${i}` })),
  );
});

test('--color: headers coloured per dyno type, router fields highlighted', async () => {
  const r = run(ts, ['-a', 'cliapp', '-n', '2', '--color']);
  assert.equal(await r.exit, 0);
  const [web, router] = r.out.trim().split('\n');
  assert.equal(web, `\u001b[36m2024-05-01T12:00:05.000000+00:00 app[web.1]:\u001b[0m line 5`);
  assert.ok(router!.startsWith('\u001b[32m2024-05-01T12:00:06.000000+00:00 heroku[router]:\u001b[0m '));
  assert.ok(router!.includes('\u001b[2mmethod=\u001b[0m\u001b[35mGET\u001b[0m'));
  assert.ok(router!.includes('\u001b[2mstatus=\u001b[0m\u001b[32m200\u001b[0m'));
  assert.ok(router!.includes('\u001b[2mdyno=\u001b[0m\u001b[36mweb.1\u001b[0m'), 'the dyno field in the colour of its type');
  // same type, same colour; a new type gets the next colour
  const colors = new DynoColors();
  const view = { seq: 1, ts: 'T', source: 'app', dyno: 'web.2', pri: 190, msg: 'm' };
  assert.equal(formatLine(view, colors), '\u001b[36mT app[web.2]:\u001b[0m m');
  assert.equal(formatLine({ ...view, dyno: 'worker.1' }, colors), '\u001b[1;32mT app[worker.1]:\u001b[0m m');
  assert.equal(formatLine({ ...view, dyno: 'worker.1' }, null), 'T app[worker.1]: m');
});

test('errors are one clear line and a non-zero exit', async () => {
  const unknown = run(ts, ['-a', 'nope']);
  assert.equal(await unknown.exit, 1);
  assert.equal(unknown.err, 'logplane: app "nope" not found\n');
  const badKey = run({ url: ts.url, apiKey: 'not-the-key-not-the-key' }, ['-a', 'cliapp']);
  assert.equal(await badKey.exit, 1);
  assert.match(badKey.err, /^logplane: the server at \S+ refused the API key \(from LOGPLANE_API_KEY\)\n$/);
  const down = run({ url: 'http://127.0.0.1:1', apiKey: 'k' }, ['-a', 'cliapp']);
  assert.equal(await down.exit, 1);
  assert.match(down.err, /^logplane: cannot reach the server at http:\/\/127\.0\.0\.1:1: /);
  const usage = run(ts, ['-t']);
  assert.equal(await usage.exit, 2);
  assert.equal(usage.err, 'logplane: missing app: pass -a APP (see: logplane logs --help)\n');
  assert.throws(() => parseLogsArgs(['-a', 'x', '-n', 'ten']), /-n must be a whole number/);
});

/** The `logplane` command itself (dispatcher, then cli/logs.ts), as opposed to tail.js run on its own. */
const LOGS = [fileURLToPath(new URL('../../src/cli/logplane.js', import.meta.url)), 'logs'];
const logplane = (target: { url: string; apiKey: string }, args: string[]): Run => run(target, args, {}, LOGS);

test('logs parses its arguments once, with one parser: -tn 2, -n up to a session\'s num (any safe integer), --ps; every error one line', async () => {
  // -n bigger than the ring: what the app keeps (the server caps num at the ring size)
  const many = logplane(ts, ['-a', 'cliapp', '-n', '12345678']);
  assert.equal(await many.exit, 0, many.err);
  assert.equal(many.out.trim().split('\n').length, 6);
  // --ps: heroku logs' spelling of -d
  const ps = logplane(ts, ['-a', 'cliapp', '--ps', 'router', '-n', '5']);
  assert.equal(await ps.exit, 0, ps.err);
  assert.match(ps.out, /^\S+ heroku\[router\]: at=info [^\n]+\n$/);
  // combined short options: tails after the 2 newest lines
  const tail = logplane(ts, ['-a', 'cliapp', '-tn', '2']);
  try {
    await until('the 2 newest lines, then tailing', () => tail.out.split('\n').length === 3 && ts.server.tails.tailCount === 1);
    assert.equal(tail.out.split('\n')[0], textOf(5));
    tail.child.kill('SIGINT');
    assert.equal(await tail.exit, 0, tail.err);
    assert.equal(tail.err, '');
  } finally {
    tail.child.kill('SIGKILL');
  }
  for (const args of [['-a', 'cliapp', '-n', 'ten'], ['-a', 'cliapp', '-n', '99999999999999999'], ['-a', 'cliapp', '--bogus'], ['-a', 'cliapp', '-x'], ['-a', 'cliapp', 'extra'], ['-n', '3']]) {
    for (const r of [logplane(ts, args), run(ts, args)]) {
      assert.equal(await r.exit, 2, args.join(' '));
      assert.match(r.err, /^logplane: [^\n]+ \(see: logplane logs --help\)\n$/, args.join(' '));
      assert.equal(r.out, '');
    }
  }
});

test('logs -t: the app destroyed while it is read is one line on stderr and exit 1 (not a finished history, exit 0)', async () => {
  const { app } = await ts.server.ctx.registry.putApp('doomed', ['app']);
  push(app, 1, 3);
  const r = logplane(ts, ['-a', 'doomed', '-t']);
  try {
    await until('the history, then tailing', () => r.out.includes(textOf(2)) && ts.server.tails.tailCount === 1);
    assert.equal((await fetch(`${ts.url}/v3/channels/doomed`, { method: 'DELETE', headers: { authorization: ts.auth } })).status, 204);
    assert.equal(await r.exit, 1);
    assert.equal(r.err, 'logplane: app "doomed" was destroyed\n');
    assert.equal(r.out, `${textOf(1)}\n${textOf(2)}\n`);
  } finally {
    r.child.kill('SIGKILL');
  }
});

test('logs -t survives a network cut and a server restart: no duplicate, the loss printed, Ctrl-C exits 0', async () => {
  const dataDir = tempDir();
  const env = { LOGPLANE_HISTORY_LINES: '20' };
  // restarted on the same port: one below the ephemeral range, which the CLI's retries cannot take as their own
  let srv = await startServer({ ...env, LOGPLANE_PORT: String(await stablePort()) }, { dataDir });
  const port = String(srv.server.ports.http);
  let app = (await srv.server.ctx.registry.putApp('live', ['app'])).app;
  const r = run(srv, ['-a', 'live', '-t', '-n', '0']);
  try {
    await until('the CLI to connect', () => srv.server.tails.tailCount === 1);
    push(app, 1, 6);
    await until('lines 1..5', () => r.out.split('\n').length === 6);

    // network cut; 30 lines arrive before it can reconnect, the ring keeps 20 → 10 are lost
    for (const t of srv.server.tails.tails()) t.sink.close('shutdown');
    push(app, 6, 36);
    await until('lines after the cut', () => r.out.includes(textOf(35)));

    // restart on the same port with the same data dir: rings and seq come back
    await srv.close({ keepData: true });
    srv = await startServer({ ...env, LOGPLANE_PORT: port }, { dataDir });
    app = srv.server.ctx.registry.get('live')!;
    assert.equal(app.seq, 35);
    push(app, 36, 39); // history or live for the CLI, depending on when it is back: once either way
    await until('the CLI to reconnect', () => srv.server.tails.tailCount === 1, 20_000);
    push(app, 39, 41);
    await until('lines after the restart', () => r.out.includes(textOf(40)), 20_000);

    const out = r.out.trim().split('\n');
    const expected = [
      ...[1, 2, 3, 4, 5].map((i) => textOf(i)),
      `${new Date(Date.UTC(2024, 4, 1, 12) + 16).toISOString().slice(0, 23)}000+00:00 logplane[tail]: 10 lines were not delivered (seq 6-15)`,
      ...Array.from({ length: 25 }, (_, k) => textOf(16 + k)),
    ];
    assert.deepEqual(out, expected);
    assert.match(r.err, /reconnecting/);

    r.child.kill('SIGINT');
    assert.equal(await r.exit, 0);
  } finally {
    r.child.kill('SIGKILL');
    await srv.close();
  }
});

test('logs -t after a crash that lost the rings (seq restarts): says so and prints the new lines', async () => {
  const dataDir = tempDir();
  let srv = await startServer({ LOGPLANE_PORT: String(await stablePort()) }, { dataDir });
  const port = String(srv.server.ports.http);
  let app = (await srv.server.ctx.registry.putApp('crashy', ['app'])).app;
  const r = run(srv, ['-a', 'crashy', '-t', '-n', '0']);
  try {
    await until('the CLI to connect', () => srv.server.tails.tailCount === 1);
    push(app, 1, 9);
    await until('lines 1..8', () => r.out.includes(textOf(8)));
    await srv.close({ keepData: true });
    rmSync(join(dataDir, 'rings.bin'), { force: true }); // as if it had crashed: config kept, rings lost
    srv = await startServer({ LOGPLANE_PORT: port }, { dataDir });
    app = srv.server.ctx.registry.get('crashy')!;
    assert.equal(app.seq, 0);
    await until('the CLI to reconnect', () => srv.server.tails.tailCount === 1, 20_000);
    push(app, 101, 104); // seq 1..3 again
    await until('the new lines', () => r.out.includes(textOf(103)), 20_000);
    assert.deepEqual(r.out.trim().split('\n'), [...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => textOf(i)), textOf(101), textOf(102), textOf(103)]);
    assert.match(r.err, /restarted without its history \(head seq 0 < 8\)/);
    r.child.kill('SIGINT');
    assert.equal(await r.exit, 0);
  } finally {
    r.child.kill('SIGKILL');
    await srv.close();
  }
});

/**
 * A server of one session whose n-th WebSocket connection is sent the
 * frames of script[n], then closed: as a `{close: [code, reason]}` item
 * says, else 1000 after an `end` frame, else cut (as a network cut would).
 * The resume points the connections asked for.
 */
async function scripted(script: unknown[][]): Promise<{ url: string; apiKey: string; afters: Array<string | null>; close(): Promise<void> }> {
  const http = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/v3/sessions') return void res.writeHead(404).end();
    req.resume();
    req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ url: `${url}/sessions/s1` })));
  });
  const wss = new WebSocketServer({ server: http });
  const afters: Array<string | null> = [];
  wss.on('connection', (ws, req) => {
    const frames = script[afters.length] ?? [];
    afters.push(new URL(req.url!, 'http://x').searchParams.get('after'));
    const close = (frames.find((f) => (f as { close?: unknown }).close) as { close: [number, string] } | undefined)?.close;
    for (const f of frames) if (!(f as { close?: unknown }).close) ws.send(JSON.stringify(f));
    if (close) ws.close(...close);
    else if (frames.some((f) => (f as { type: string }).type === 'end')) ws.close(1000);
    else setTimeout(() => ws.terminate(), 50);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    url,
    apiKey: 'scripted-key',
    afters,
    close: () => new Promise<void>((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      http.close(() => r());
    }),
  };
}

test('a line whose seq a gap ended at is printed (distributed mode: a loss notice\'s gap is at the seq after the line before it, which another node\'s line of the same millisecond can have)', async () => {
  const at = (i: number) => ({ seq: i, ts: `T${i}`, source: 'app', dyno: 'web.1', pri: 190, msg: `line ${i}` });
  const srv = await scripted([[{ type: 'hello', app: 'a', head: 3 }, { type: 'lines', lines: [at(1)] }, { type: 'gap', dropped: 4, since: 'S', from: 2, to: 2 }, { type: 'lines', lines: [at(2), at(3)] }, { type: 'end' }]]);
  try {
    const r = run(srv, ['-a', 'a', '-n', '100']);
    assert.equal(await r.exit, 0, r.err);
    assert.deepEqual(r.out.trim().split('\n'), ['T1 app[web.1]: line 1', 'S logplane[tail]: 4 lines were not delivered (seq 2-2)', 'T2 app[web.1]: line 2', 'T3 app[web.1]: line 3']);
  } finally {
    await srv.close();
  }
});

test('gaps: each printed once where it came, also one of seqs below the last line printed (a lower bound, lines that came too late); a report of seqs before the resume point is not printed again', async () => {
  const at = (i: number) => ({ seq: i, ts: `T${i}`, source: 'app', dyno: 'web.1', pri: 190, msg: `line ${i}` });
  const gap = (dropped: number, from: number, to: number, lowerBound = false) => ({ type: 'gap', dropped, since: `S${from}`, from, to, ...(lowerBound ? { lower_bound: true } : {}) });
  const srv = await scripted([
    // lines 3..5 lost for this reader, then the connection is cut after line 6
    [{ type: 'hello', app: 'a', head: 9 }, { type: 'lines', lines: [at(1), at(2)] }, gap(3, 3, 5), { type: 'lines', lines: [at(6)] }],
    [
      { type: 'hello', app: 'a', head: 9 },
      // reported before the cut: not again
      gap(3, 3, 5),
      { type: 'lines', lines: [at(6), at(7), at(9)] },
      // distributed mode: line 8 came after line 9 went out (an exact count of seqs passed already)
      gap(1, 8, 8),
      // and the start without the other nodes' lines: up to the head, the last line sent
      gap(0, 7, 9, true),
      { type: 'end' },
    ],
  ]);
  try {
    const r = run(srv, ['-a', 'a', '-n', '100']);
    assert.equal(await r.exit, 0, r.err);
    assert.deepEqual(srv.afters, [null, '6'], 'resumed after the last line printed');
    assert.deepEqual(r.out.trim().split('\n'), [
      'T1 app[web.1]: line 1',
      'T2 app[web.1]: line 2',
      'S3 logplane[tail]: 3 lines were not delivered (seq 3-5)',
      'T6 app[web.1]: line 6',
      'T7 app[web.1]: line 7',
      'T9 app[web.1]: line 9',
      'S8 logplane[tail]: 1 lines were not delivered (seq 8-8)',
      'S7 logplane[tail]: an unknown number of lines were not delivered (seq 7-9)',
    ]);
  } finally {
    await srv.close();
  }
});

test('logs: a server that sends `end` before close 1000 "app deleted" (as earlier versions did at a deletion) is still a destroyed app, exit 1', async () => {
  const at = (i: number) => ({ seq: i, ts: `T${i}`, source: 'app', dyno: 'web.1', pri: 190, msg: `line ${i}` });
  const srv = await scripted([[{ type: 'hello', app: 'a', head: 1 }, { type: 'lines', lines: [at(1)] }, { type: 'end' }, { close: [1000, 'app deleted'] }]]);
  try {
    const r = run(srv, ['-a', 'a', '-t']);
    assert.equal(await r.exit, 1);
    assert.equal(r.out, 'T1 app[web.1]: line 1\n');
    assert.equal(r.err, 'logplane: app "a" was destroyed\n');
  } finally {
    await srv.close();
  }
});
