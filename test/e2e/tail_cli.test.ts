// `logplane logs` (src/cli/tail.ts) as a user runs it: the built entry in a
// child process against a real server. History, --json, colours, errors,
// and -t surviving a network cut and a server restart without duplicates or
// silent gaps; Ctrl-C exits 0.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stablePort } from '../support/net.js';
import { startServer, tempDir, type TestServer } from '../support/server.js';
import { line, push, textOf } from '../support/tail.js';
import { formatLine, DynoColors } from '../../src/cli/colors.js';
import { parseLogsArgs } from '../../src/cli/tail.js';
import { until } from '../support/wait.js';

const CLI = fileURLToPath(new URL('../../src/cli/tail.js', import.meta.url));

interface Run {
  child: ChildProcess;
  out: string;
  err: string;
  exit: Promise<number | null>;
}

function run(ts: { url: string; apiKey: string }, args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [CLI, ...args], {
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
  assert.match(usage.err, /missing -a APP/);
  assert.throws(() => parseLogsArgs(['-a', 'x', '-n', 'ten']), /--num must be a whole number/);
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
