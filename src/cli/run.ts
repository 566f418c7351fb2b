// `logplane run -a APP [--dyno web.1] [--url URL --token TOKEN] -- CMD ARGS...`
// (SPEC 14): the dyno side. Runs CMD; every line of its stdout and stderr
// goes to APP (source app, the given dyno) through the shipper (shipper/);
// signals are passed on; at CMD's exit what is held is flushed (bounded)
// and logplane run exits with CMD's status (128 + N after signal N, as a
// shell reports it).
import { spawn } from 'node:child_process';
import { constants as osConstants, hostname } from 'node:os';
import { isatty } from 'node:tty';
import { LineSplitter } from '../shipper/splitter.js';
import { Shipper, shipperDefaults } from '../shipper/shipper.js';
import { appPath, connect, parseCommandArgs, requireApp, UsageError, type ApiClient, type Command } from './client.js';
import { packageVersion } from './invocation.js';
import { within } from '../basics/within.js';

const NAME_OK = /^[!-~]{1,64}$/;
/** Default bounded flush at exit, ms. */
const FLUSH_MS = 5_000;
/** After CMD exits, how long its pipes may stay open (a grandchild holding them) before we stop reading. */
const PIPE_GRACE_MS = 1_000;

/** Signals passed on to CMD. SIGINT is handled apart (see below). */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** The app's token with this name, created when missing. */
async function tokenNamed(client: ApiClient, app: string, name: string): Promise<string> {
  const { data } = await client.json<{ tokens: Record<string, string> }>('GET', appPath(app), [200], { app });
  const t = data.tokens[name];
  if (t) return t;
  const made = await client.json<{ token: string }>('POST', `${appPath(app)}/tokens`, [200, 201], { json: { name }, app });
  return made.data.token;
}

function wholeNumber(v: string | undefined, flag: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${flag}: must be a whole number of at least ${min}`, 'run');
  return Number(v);
}

/** The exit status a shell would report for this end of CMD. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? osConstants.signals[signal] : undefined;
  return 128 + (n ?? 0);
}

export const run: Command = {
  name: 'run',
  summary: "run a command and ship its stdout and stderr to an app (the dyno side)",
  usage: `usage: logplane run -a APP [--dyno DYNO] [--url URL --token TOKEN [--heroku-token TOKEN]] -- CMD [ARGS...]

Run CMD and send every line of its stdout and stderr to APP as log lines
(source "app", dyno DYNO), in batches of up to 500 lines over HTTP
(POST /logs), as Heroku's log-shuttle does for a dyno. Signals are passed
on to CMD (Ctrl-C reaches it once, as in a shell); logplane run exits with
CMD's exit status (128 + N when CMD died of signal N) after delivering
what it holds, for at most --flush-timeout ms.

Lines are held in a bounded buffer. While the server takes them, CMD is
slowed at the bound as by a pipe; while it does not, the oldest are dropped
and the app is told once delivery works again:
  Error L12 (Local buffer overflow): N messages dropped since T.
  Error L13 (Local delivery error): N messages could not be delivered since T.
(source heroku, dyno logplane, whichever of the app's tokens sends them:
the server takes exactly these two texts from any of them).

Without --url and --token the server and admin key are found as by every
command, and the app's tokens "app" and "heroku" are used (created when
missing). With --url and --token no admin key is needed, and no heroku
token either.

  -a, --app APP            the app (required)
  -d, --dyno DYNO          the dyno (PROCID) of the lines (default: $DYNO, else run.1)
  --url URL                the server's base URL (POST URL/logs)
  --token TOKEN            the app's token named "app"
  --heroku-token TOKEN     send the L12/L13 lines with this token (not needed)
  --buffer-lines N         lines held at most (default ${shipperDefaults.bufferLines})
  --retry-for MS           retry one batch this long, then count it in L13 (default ${shipperDefaults.retryForMs})
  --flush-timeout MS       at exit, deliver what is held for at most this long (default ${FLUSH_MS})

example: logplane run -a myapp --dyno web.1 -- node server.js`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('run', argv, {
      app: { type: 'string', short: 'a' },
      dyno: { type: 'string', short: 'd' },
      url: { type: 'string' },
      token: { type: 'string' },
      'heroku-token': { type: 'string' },
      'buffer-lines': { type: 'string' },
      'retry-for': { type: 'string' },
      'flush-timeout': { type: 'string' },
    });
    const app = requireApp('run', values.app);
    const dyno = values.dyno ?? process.env['DYNO'] ?? 'run.1';
    if (!NAME_OK.test(dyno)) throw new UsageError('dyno: 1-64 printable characters, no spaces', 'run');
    if (positionals.length === 0) throw new UsageError('a command to run is required, after --', 'run');
    if ((values.url === undefined) !== (values.token === undefined)) throw new UsageError('--url and --token go together', 'run');
    const bufferLines = wholeNumber(values['buffer-lines'], 'buffer-lines', 1) ?? shipperDefaults.bufferLines;
    const retryForMs = wholeNumber(values['retry-for'], 'retry-for', 0) ?? shipperDefaults.retryForMs;
    const flushMs = wholeNumber(values['flush-timeout'], 'flush-timeout', 0) ?? FLUSH_MS;

    let url: string;
    let token: string;
    let noticeToken: string | null;
    if (values.url !== undefined && values.token !== undefined) {
      url = values.url;
      token = values.token;
      noticeToken = values['heroku-token'] ?? null;
      try {
        const u = new URL(url);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      } catch {
        throw new UsageError(`--url: must be an http:// or https:// URL (got ${JSON.stringify(url)})`, 'run');
      }
    } else {
      const client = await connect();
      url = client.target.url;
      token = await tokenNamed(client, app, 'app');
      noticeToken = await tokenNamed(client, app, 'heroku');
    }
    let host = hostname().replace(/[^!-~]/g, '').slice(0, 255);
    if (!host) host = 'localhost';

    const shipper = new Shipper({ ...shipperDefaults, url, token, noticeToken, dyno, host, bufferLines, retryForMs, userAgent: `logplane-run/${packageVersion()}` });
    const [cmd, ...args] = positionals as [string, ...string[]];
    const child = spawn(cmd, args, { stdio: ['inherit', 'pipe', 'pipe'] });
    shipper.onRefusedNotice = (frames, status) => process.stderr.write(`logplane run: the server refused the L12/L13 notice (status ${status}): ${frames.replace(/\d+ <\d+>1 \S+ \S+ heroku logplane - - /g, '').trim()}\n`);
    const pipes = [child.stdout, child.stderr];
    shipper.onFlow = (paused) => {
      for (const p of pipes) {
        if (paused) p.pause();
        else p.resume();
      }
    };
    /** Per pipe: stop reading it, keeping what was read (see the grace below). */
    const cutters: Array<() => void> = [];
    const open = pipes.map(
      (p) =>
        new Promise<void>((resolve) => {
          const splitter = new LineSplitter((buf, s, e) => shipper.line(buf, s, e, now));
          let now = Date.now();
          let done = false;
          const onData = (chunk: Buffer) => {
            now = Date.now();
            splitter.push(chunk);
          };
          p.on('data', onData);
          p.on('end', () => {
            done = true;
            now = Date.now();
            splitter.end();
            resolve();
          });
          p.on('error', () => {
            done = true;
            resolve();
          });
          cutters.push(() => {
            if (done) return;
            done = true;
            // chunks the stream already holds (it may be paused for backpressure) are read
            // here, not through 'data', then the partial last line is shipped
            p.off('data', onData);
            for (let c: Buffer | null = p.read(); c !== null; c = p.read()) onData(c);
            now = Date.now();
            splitter.end();
            p.destroy();
            resolve();
          });
        }),
    );

    // Signals: passed on. With a terminal, SIGINT is Ctrl-C, which the terminal sent to the
    // whole foreground process group, CMD included: it is not sent twice. Without one it is passed on.
    const forward = (sig: NodeJS.Signals) => () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of FORWARDED) handlers.set(sig, forward(sig));
    handlers.set('SIGINT', isatty(0) || isatty(1) || isatty(2) ? () => {} : forward('SIGINT'));
    for (const [sig, h] of handlers) process.on(sig, h);

    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | { error: Error }>((resolve) => {
      child.on('error', (error) => resolve({ error }));
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    if ('error' in ended) {
      for (const p of pipes) p.destroy();
      process.stderr.write(`logplane run: cannot run ${JSON.stringify(cmd)}: ${ended.error.message}\n`);
      await shipper.flush(flushMs);
      process.exitCode = 127;
      return;
    }
    // what CMD wrote before it exited is still in the pipes: read to the end (bounded, a grandchild may hold them)
    for (const p of pipes) p.resume();
    await within(Promise.all(open), PIPE_GRACE_MS, undefined);
    // a pipe still open: what was read (and what the stream holds) is shipped, the rest is not read
    shipper.onFlow = null;
    for (const cut of cutters) cut();
    const left = await shipper.flush(flushMs);
    for (const [sig, h] of handlers) process.off(sig, h);
    if (left > 0) process.stderr.write(`logplane run: ${left} lines could not be delivered or reported (the server did not answer within ${flushMs} ms)\n`);
    process.exitCode = exitStatus(ended.code, ended.signal);
  },
};
