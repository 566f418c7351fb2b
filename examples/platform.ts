// A small platform embedding logplane (docs/embedding.md): `npm run demo`.
//
// - logplane runs in this process (createLogplane), with its HTTP port for the dynos' shippers;
// - a "scheduler" starts two web dynos, each through `logplane run` (the dyno side), and says
//   so in the app's stream (`heroku web.1: State changed from starting to up`);
// - a "router" (an HTTP server) sends each request to a dyno, round robin, and writes one
//   `heroku router` line per request in Heroku's format;
// - a tail prints the app's stream as `heroku logs --tail` would.
//
// It sends a few requests itself; open the router's URL (printed) for more. Ctrl-C stops it
// (`--once`: stop after its own requests).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogplane } from 'logplane';

const APP = 'demo';
const once = process.argv.includes('--once');
/** The `logplane` command of this checkout (a platform would use its installed bin). */
const CLI = fileURLToPath(new URL('../src/cli/logplane.js', import.meta.url));

/** A web dyno: answers every request, says what it does on stdout and stderr. */
const DYNO = `
const http = require('node:http');
const port = Number(process.env.PORT);
http.createServer((req, res) => {
  console.log('handling ' + req.method + ' ' + req.url);
  if (req.url === '/slow') return setTimeout(() => res.end('slow\\n'), 120);
  res.end('hello from ' + process.env.DYNO + '\\n');
}).listen(port, '127.0.0.1', () => console.log('listening on ' + port));
process.on('SIGTERM', () => { console.error('received SIGTERM, shutting down'); process.exit(0); });
`;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'logplane-demo-'));
  const lp = await createLogplane({ dataDir, http: { port: 0 }, syslog: false, logger: false });
  const app = await lp.apps.create(APP, { tokens: ['app', 'heroku'] });

  // the tail: every line of the app, as `heroku logs --tail` prints them
  const tail = lp.tail(APP);
  const printing = (async () => {
    for await (const ev of tail) {
      if (ev.type === 'gap') process.stdout.write(`(${ev.dropped} lines skipped)\n`);
      else process.stdout.write(`${ev.time} ${ev.source}[${ev.dyno}]: ${ev.msg}\n`);
    }
  })();

  // the scheduler: two web dynos, each under `logplane run`
  const dynos: { name: string; port: number; proc: ChildProcess }[] = [];
  for (const [i, port] of [await freePort(), await freePort()].entries()) {
    const name = `web.${i + 1}`;
    lp.emit.platform(APP, { dyno: name, text: 'State changed from down to starting' });
    lp.emit.platform(APP, { dyno: name, text: 'Starting process with command `node web.js`' });
    const proc = spawn(process.execPath, [CLI, 'run', '-a', APP, '--dyno', name, '--url', lp.url!, '--token', app.tokens['app']!, '--heroku-token', app.tokens['heroku']!, '--', process.execPath, '-e', DYNO], {
      env: { ...process.env, PORT: String(port), DYNO: name },
      stdio: 'inherit',
    });
    dynos.push({ name, port, proc });
    await waitForPort(port);
    lp.emit.platform(APP, { dyno: name, text: 'State changed from starting to up' });
  }

  // the router: round robin over the dynos, one router line per request
  let next = 0;
  const router = createServer((req: IncomingMessage, res: ServerResponse) => {
    const dyno = dynos[next++ % dynos.length]!;
    const t0 = performance.now();
    let connected = t0;
    const up = request({ host: '127.0.0.1', port: dyno.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      let bytes = 0;
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.on('data', (c: Buffer) => (bytes += c.length));
      r.pipe(res);
      r.on('end', () =>
        lp.emit.router(APP, {
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          host: req.headers.host ?? 'localhost',
          request_id: randomUUID(),
          fwd: req.socket.remoteAddress ?? '',
          dyno: dyno.name,
          connect: connected - t0,
          service: performance.now() - connected,
          status: r.statusCode ?? 502,
          bytes,
          protocol: 'http',
        }),
      );
    });
    up.on('socket', (s) => s.once('connect', () => (connected = performance.now())));
    up.on('error', () => {
      res.writeHead(503).end();
      lp.emit.router(APP, { code: 'H13', method: req.method ?? 'GET', path: req.url ?? '/', host: req.headers.host ?? 'localhost', request_id: randomUUID(), fwd: req.socket.remoteAddress ?? '', dyno: dyno.name, status: 503, bytes: 0, protocol: 'http' });
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => router.listen(0, '127.0.0.1', r));
  const routerUrl = `http://127.0.0.1:${(router.address() as { port: number }).port}`;
  process.stdout.write(`demo: router at ${routerUrl}, logplane at ${lp.url}; Ctrl-C stops\n`);

  for (const path of ['/', '/users/42', '/slow', '/']) await (await fetch(`${routerUrl}${path}`)).text();
  lp.emit.platform(APP, { dyno: 'web.2', code: 'R14' });
  lp.emit.build(APP, { msg: 'Build succeeded' });

  const stop = async (): Promise<void> => {
    router.close();
    for (const d of dynos) {
      lp.emit.platform(APP, { dyno: d.name, text: 'Stopping all processes with SIGTERM' });
      // (after a Ctrl-C in the terminal the dynos may have gone already)
      if (d.proc.exitCode === null && d.proc.signalCode === null) {
        const exited = new Promise((r) => d.proc.once('exit', r));
        d.proc.kill('SIGTERM');
        await exited;
      }
      lp.emit.platform(APP, { dyno: d.name, text: `Process exited with status ${d.proc.exitCode ?? 128}` });
    }
    // let the tail print the last lines, then stop
    await new Promise((r) => setTimeout(r, 100));
    tail.close();
    await printing;
    await lp.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  if (once) {
    // the dynos' shippers deliver within a few ms; give them a moment
    await new Promise((r) => setTimeout(r, 500));
    await stop();
    return;
  }
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/health`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`dyno on port ${port} did not start`);
}

main().catch((err: Error) => {
  process.stderr.write(`demo: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
