#!/usr/bin/env node
// `logplane logs -a APP [-t] [-n N] [-s SOURCE] [-d DYNO] [--json]` (SPEC 8):
// creates a session with the key the CLI found, reads it over the WebSocket tail
// protocol, prints lines coloured like `heroku logs` on a TTY (plain
// otherwise). When the connection drops (server restart, network cut) it
// reconnects with `after=<last seq>`: no duplicates, and any loss is printed.
// Ctrl-C exits 0; the app destroyed while it is read is one line and exit 1.
// Also runnable on its own: `node dist/src/cli/tail.js -a APP` (the same parser).
import { CliError, UsageError, discover, networkReason, parseCommandArgs, requireApp, unreachable, type Target } from './client.js';
import { DynoColors, ansi, formatLine, type PrintedLine } from './colors.js';
import { droppedWords } from '../tail/encode.js';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';

export const LOGS_USAGE = `usage: logplane logs -a APP [-t] [-n N] [-s SOURCE] [-d DYNO] [--json] [--no-color]

  -a, --app APP        app to read (required)
  -t, --tail           keep streaming new lines
  -n, --num N          lines of history (default 100; more than the app
                       keeps gives what it keeps)
  -s, --source SOURCE  only lines of this source (token name), e.g. app
  -d, --dyno DYNO      only this dyno, or dyno type: web matches web.1
                       (--ps DYNO: the same, as heroku logs spells it)
      --json           one JSON object per line
      --no-color       never colour (also NO_COLOR=1); --color (or
                       --force-colors) forces it

Short options combine: -tn 20. If the app is destroyed while it is read:
one line on stderr and exit 1.
`;

export interface LogsOptions {
  app: string;
  tail: boolean;
  num: number | null;
  source: string | null;
  dyno: string | null;
  json: boolean;
  /** null: colour when stdout is a TTY. */
  color: boolean | null;
}

/** The most -n takes: a session's `num` is any non-negative safe integer (SPEC 5.1; the server caps it at the ring size). */
const NUM = /^\d{1,16}$/;

/**
 * The one parser of `logplane logs` (and of `node dist/src/cli/tail.js`):
 * node:util parseArgs, so `-tn 20`, `-n20` and `--num=20` work; every error
 * is one line (a UsageError, exit 2). `--help` throws the usage with exit 0.
 */
export function parseLogsArgs(argv: readonly string[]): LogsOptions {
  const { values, positionals } = parseCommandArgs('logs', argv, {
    app: { type: 'string', short: 'a' },
    num: { type: 'string', short: 'n' },
    source: { type: 'string', short: 's' },
    dyno: { type: 'string', short: 'd' },
    ps: { type: 'string' },
    tail: { type: 'boolean', short: 't' },
    json: { type: 'boolean' },
    color: { type: 'boolean' },
    'force-colors': { type: 'boolean' },
    'no-color': { type: 'boolean' },
  });
  if (values.help) throw new CliError(LOGS_USAGE, 0);
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, 'logs');
  const app = requireApp('logs', values.app);
  let num: number | null = null;
  if (values.num !== undefined) {
    num = NUM.test(values.num) ? Number(values.num) : NaN;
    if (!Number.isSafeInteger(num)) throw new UsageError(`-n must be a whole number, 0 to ${Number.MAX_SAFE_INTEGER} (got ${JSON.stringify(values.num)})`, 'logs');
  }
  if (values.dyno !== undefined && values.ps !== undefined && values.dyno !== values.ps) throw new UsageError('-d and --ps are the same option: give one', 'logs');
  const color = values['no-color'] ? false : values.color || values['force-colors'] ? true : null;
  if (color === false && (values.color || values['force-colors'])) throw new UsageError('--no-color and --color: give one', 'logs');
  return {
    app,
    tail: values.tail ?? false,
    num,
    source: values.source || null,
    dyno: values.dyno || values.ps || null,
    json: values.json ?? false,
    color,
  };
}

// ---- the session reader -------------------------------------------------

export interface LogsIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Aborting ends the command with exit 0 (Ctrl-C). */
  signal?: AbortSignal;
}

interface Gap {
  dropped: number;
  since: string;
  from: number;
  to: number;
  /** dropped is only what is known lost (distributed mode: other nodes' lines could not be read). */
  lower_bound?: boolean;
}

type Outcome = { kind: 'end' } | { kind: 'aborted' } | { kind: 'deleted' } | { kind: 'lost'; status: number | null; why: string; connected: boolean };

/** The close reason of a WebSocket tail whose app was destroyed (src/tail/ws.ts): close 1000 without `end`. */
const APP_DELETED = 'app deleted';

const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 5_000;
/** Without -t, give up after this many failed reconnects. */
const HISTORY_RETRIES = 5;
/** Gap keys remembered so that a report repeated on a resume is not printed twice (two a gap). */
const PRINTED_GAPS = 2000;

async function api(base: string, key: string, path: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: res.status, json };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Print a CliError as the command would (the usage on stdout for --help); its exit code. */
function report(e: unknown, out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  const ce = e as CliError;
  (ce.exitCode === 0 ? out : err).write(ce.exitCode === 0 ? ce.message : `logplane: ${ce.message}\n`);
  return ce.exitCode ?? 1;
}

/** Run `logs` from its arguments (parsed here, the one time); resolves to the exit code. */
export async function logs(argv: readonly string[], io: Partial<LogsIo> = {}): Promise<number> {
  let opts: LogsOptions;
  try {
    opts = parseLogsArgs(argv);
  } catch (e) {
    return report(e, io.stdout ?? process.stdout, io.stderr ?? process.stderr);
  }
  return readLogs(opts, io);
}

/** Run `logs` with options parseLogsArgs made; resolves to the exit code. */
export async function readLogs(opts: LogsOptions, io: Partial<LogsIo> = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const signal = io.signal;
  let server: { url: string; apiKey: string; target: Target };
  try {
    const target = await discover(env);
    server = { url: target.url, apiKey: target.key, target };
  } catch (e) {
    return report(e, out, err);
  }
  const useColor = !opts.json && (opts.color ?? (Boolean(out.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb'));
  const colors = useColor ? new DynoColors() : null;

  /** Highest seq printed or reported lost: the resume point. */
  let lastSeq: number | null = null;
  /**
   * Highest seq printed: a line at or below it is not printed again. Not the
   * resume point: a gap may end at a seq a line then has (distributed mode: a
   * loss notice's gap is at the seq after the line before it, which another
   * node's line stamped in the same millisecond can have).
   */
  let lastLine: number | null = null;
  /**
   * Gaps printed, each by count, time and bound and by count, seqs and bound
   * (the newest PRINTED_GAPS keys): a resume can report a loss notice again
   * (the server cannot tell whether this client had it; docs/tail.md), with
   * the same count and time, and late lines again, with the same seqs and
   * count; printed once.
   */
  const printedGaps = new Set<string>();
  let helloHead: number | null = null;
  let sessionUrl: string | null = null;
  let everConnected = false;
  let failures = 0;
  let announcedLoss = false;

  const print = (s: string): boolean => out.write(s);

  const createSession = async (): Promise<string> => {
    const body: Record<string, unknown> = { channel_id: opts.app, num: opts.num ?? 100 };
    if (opts.tail) body.tail = true;
    if (opts.source) body.source = opts.source;
    if (opts.dyno) body.ps = opts.dyno;
    const r = await api(server.url, server.apiKey, '/v3/sessions', body, signal);
    if (r.status === 201 && typeof r.json.url === 'string') return r.json.url;
    if (r.status === 422) throw new CliError(`app ${JSON.stringify(opts.app)} not found`);
    if (r.status === 401) throw new CliError(`the server at ${server.url} refused the API key (from ${server.target.keyFrom})`);
    // a key of other apps (SPEC 12): the server's sentence says which key and which app
    if (r.status === 403 && typeof r.json.error === 'string') throw new CliError(`${r.json.error} (key from ${server.target.keyFrom})`);
    throw new CliError(`could not create a session: HTTP ${r.status} ${typeof r.json.error === 'string' ? r.json.error : ''}`.trim());
  };

  const resumeAfter = (): number | null => {
    if (lastSeq !== null) return lastSeq;
    // nothing received: with -t, go on from where the first connection started
    if (opts.tail && helloHead !== null) return helloHead;
    return null;
  };

  const printGap = (g: Gap): void => {
    if (opts.json) {
      const bound = g.lower_bound === true ? { lower_bound: true } : {};
      print(`${JSON.stringify({ type: 'gap', dropped: g.dropped, since: g.since, from: g.from, to: g.to, ...bound })}\n`);
      return;
    }
    const text = `${g.since} logplane[tail]: ${droppedWords(g.dropped, g.lower_bound === true)} lines were not delivered (seq ${g.from}-${g.to})`;
    print(`${colors ? ansi.red(text) : text}\n`);
  };

  const readOnce = (url: string): Promise<Outcome> =>
    new Promise<Outcome>((resolve) => {
      const after = resumeAfter();
      // what this connection asked for: the seqs above it (a resume point past the head is the head, as the server takes it)
      let asked = after;
      const wsUrl = url.replace(/^http/, 'ws') + (after !== null ? `?after=${after}` : '');
      const ws = new WebSocket(wsUrl, { perMessageDeflate: false, handshakeTimeout: 10_000 });
      let connected = false;
      let settled = false;
      let ended = false;
      const finish = (o: Outcome): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        resolve(o);
      };
      const onAbort = (): void => {
        ws.close(1000);
        // do not wait for the close handshake on Ctrl-C
        setTimeout(() => ws.terminate(), 200).unref();
        finish({ kind: 'aborted' });
      };
      if (signal?.aborted) return finish({ kind: 'aborted' });
      signal?.addEventListener('abort', onAbort, { once: true });
      ws.on('unexpected-response', (_req, res) => {
        ws.terminate();
        finish({ kind: 'lost', status: res.statusCode ?? null, why: `HTTP ${res.statusCode}`, connected: false });
      });
      ws.on('open', () => {
        connected = true;
        everConnected = true;
        failures = 0;
        if (announcedLoss) {
          err.write('logplane: reconnected\n');
          announcedLoss = false;
        }
      });
      ws.on('message', (data: Buffer) => {
        let m: { type?: string; head?: number; lines?: PrintedLine[] } & Partial<Gap>;
        try {
          m = JSON.parse(data.toString('utf8')) as typeof m;
        } catch {
          return;
        }
        switch (m.type) {
          case 'hello':
            if (typeof m.head !== 'number') break;
            if (helloHead === null) helloHead = m.head;
            if (after !== null && m.head < after) {
              // the server came back without its history (seq restarted): what we had is gone
              err.write(`logplane: the server restarted without its history (head seq ${m.head} < ${after}); lines sent meanwhile may be lost\n`);
              lastSeq = m.head;
              lastLine = m.head;
              asked = m.head;
            }
            break;
          case 'lines': {
            let chunk = '';
            for (const l of m.lines ?? []) {
              if (lastLine !== null && l.seq <= lastLine) continue; // never print twice
              lastLine = l.seq;
              if (lastSeq === null || l.seq > lastSeq) lastSeq = l.seq;
              chunk += opts.json ? `${JSON.stringify(l)}\n` : `${formatLine(l, colors)}\n`;
            }
            if (chunk && !print(chunk)) {
              // a slow terminal or pipe: stop reading; the server queues and reports any loss
              ws.pause();
              out.once('drain', () => ws.resume());
            }
            break;
          }
          case 'gap': {
            const g = m as Gap;
            // seqs at or below the resume point: a report printed before this connection, or (distributed mode) a
            // resume's count of lines appended after the line it resumed from with older seqs, which are news
            // unless a gap of the same seqs and count was printed (a resume made again, or the live count of the
            // same lines; its `since` is its own time). Any other gap is news, also one below the last line
            // printed: in distributed mode the start's lower bound ends at the head (usually the last line
            // sent), and the exact count of other nodes' lines that came too late is of seqs passed already; one
            // with the count, `since` and bound of a gap printed is a loss notice a resume reported again (docs/tail.md)
            const bound = g.lower_bound === true;
            const bySince = `${g.dropped} ${g.since} ${bound}`;
            const bySeqs = `${g.dropped} ${g.from}-${g.to} ${bound}`;
            if (asked !== null && g.to <= asked ? g.dropped === 0 || printedGaps.has(bySeqs) : g.dropped > 0 && printedGaps.has(bySince)) break;
            printGap(g);
            printedGaps.add(bySince).add(bySeqs);
            while (printedGaps.size > PRINTED_GAPS) printedGaps.delete(printedGaps.values().next().value!);
            // the resume point moves past what was reported, never back
            if (lastSeq === null || g.to > lastSeq) lastSeq = g.to;
            break;
          }
          case 'end':
            ended = true;
            break;
        }
      });
      ws.on('close', (code: number, reason: Buffer) => {
        // also after an `end` (older servers sent one before this close): the history may have been cut short
        if (code === 1000 && reason.toString() === APP_DELETED) return finish({ kind: 'deleted' });
        if (ended) return finish({ kind: 'end' });
        finish({ kind: 'lost', status: null, why: `connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`, connected });
      });
      ws.on('error', (e: Error) => {
        if (!settled && ws.readyState === WebSocket.CLOSED) finish({ kind: 'lost', status: null, why: e.message, connected });
      });
    });

  for (;;) {
    if (signal?.aborted) return 0;
    try {
      sessionUrl ??= await createSession();
    } catch (e) {
      if (signal?.aborted) return 0;
      if (e instanceof CliError) {
        err.write(`logplane: ${e.message}\n`);
        return e.exitCode;
      }
      // network error: fatal before we ever connected, else keep trying
      if (!everConnected) {
        err.write(`logplane: ${unreachable(server.target, networkReason(e))}\n`);
        return 1;
      }
      if (!(await backoff(`cannot reach ${server.url}`))) return 1;
      continue;
    }
    const o = await readOnce(sessionUrl);
    if (o.kind === 'end' || o.kind === 'aborted') return 0;
    if (o.kind === 'deleted') {
      err.write(`logplane: app ${JSON.stringify(opts.app)} was destroyed\n`);
      return 1;
    }
    if (o.status === 404) {
      // session gone (server restarted, or expired): a new one, resuming after lastSeq
      sessionUrl = null;
      if (!everConnected) {
        err.write('logplane: session not found\n');
        return 1;
      }
      continue;
    }
    if (!everConnected) {
      err.write(`logplane: cannot read the session: ${o.why}\n`);
      return 1;
    }
    if (!(await backoff(o.why))) return 1;
  }

  async function backoff(why: string): Promise<boolean> {
    failures++;
    if (!opts.tail && failures > HISTORY_RETRIES) {
      err.write(`logplane: ${why}; giving up\n`);
      return false;
    }
    if (!announcedLoss) {
      err.write(`logplane: ${why}; reconnecting...\n`);
      announcedLoss = true;
    }
    await sleep(Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(failures - 1, 10)), signal);
    return true;
  }
}

/** Entry when run directly: Ctrl-C / SIGTERM end the command with exit 0. */
export async function main(argv: readonly string[]): Promise<never> {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  const code = await logs(argv, { signal: ac.signal });
  process.exit(code);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv.slice(2));
}
