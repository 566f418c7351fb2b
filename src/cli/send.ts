// `logplane send -a APP`: stdin lines -> POST /logs (SPEC 3.1), in batches of
// octet-counted RFC 5424 frames. The credential is the app's token named
// "app" (created when the app has none), which an admin or developer key
// gets (SPEC 12); a viewer key cannot send.
import { hostname } from 'node:os';
import { rfc3339 } from '../line.js';
import { LineSplitter } from '../shipper/splitter.js';
import { CliError, UsageError, appPath, connect, parseCommandArgs, requireApp, type ApiClient, type Command } from './client.js';

/** A POST closes at about this many bytes ... */
const BATCH_BYTES = 512 * 1024;
/** ... or this many lines. */
const BATCH_LINES = 2_000;
/** local7.info, what Heroku uses for app output. */
const PRI = 190;
/** Token name used (and created when missing) for sending. */
export const SEND_TOKEN_NAME = 'app';

const NAME_OK = /^[!-~]{1,64}$/;

/** Collects `LEN <PRI>1 TS HOST app DYNO - - MSG` frames for one POST. */
export class FrameBatch {
  readonly #parts: Buffer[] = [];
  bytes = 0;
  lines = 0;
  /** `<PRI>1 TS HOST NAME DYNO - - ` for lines added from now on. */
  header: Buffer = Buffer.alloc(0);

  setHeader(ts: string, host: string, name: string, dyno: string): void {
    this.header = Buffer.from(`<${PRI}>1 ${ts} ${host} ${name} ${dyno} - - `, 'utf8');
  }
  add(buf: Buffer, start: number, end: number): void {
    const len = this.header.length + (end - start);
    const prefix = Buffer.from(`${len} `, 'latin1');
    this.#parts.push(prefix, this.header, buf.subarray(start, end));
    this.bytes += prefix.length + len;
    this.lines++;
  }
  get full(): boolean {
    return this.bytes >= BATCH_BYTES || this.lines >= BATCH_LINES;
  }
  take(): { body: Buffer; lines: number } {
    const out = { body: Buffer.concat(this.#parts, this.bytes), lines: this.lines };
    this.#parts.length = 0;
    this.bytes = 0;
    this.lines = 0;
    return out;
  }
}

/** A token value as the server stores it (`t.<uuid4>`); GET answers to a non-admin key show `***` instead (SPEC 12). */
const TOKEN = /^t\.[0-9a-f-]{36}$/;

/**
 * The app's token named `app`, created when missing. An admin key reads it
 * from GET /v3/channels/:app; a developer key sees `***` there (SPEC 12),
 * so a value that is not a token counts as missing and the token comes from
 * POST /v3/channels/:app/tokens, which answers the name's token (made if
 * the app has none: one token per name) to a key that may create tokens. A
 * viewer key may not: one line saying so.
 */
export async function sendToken(client: ApiClient, app: string): Promise<string> {
  const { data } = await client.json<{ tokens: Record<string, string> }>('GET', appPath(app), [200], { app });
  const t = data.tokens[SEND_TOKEN_NAME];
  if (t !== undefined && TOKEN.test(t)) return t;
  const res = await client.request('POST', `${appPath(app)}/tokens`, { json: { name: SEND_TOKEN_NAME } });
  if (res.status === 403) throw new CliError(`this key cannot send to ${JSON.stringify(app)} (${await roleOf(client)}: sending needs a developer or admin key)`);
  if (res.status !== 200 && res.status !== 201) throw client.failure(res, app);
  let made: unknown;
  try {
    made = (JSON.parse(res.body.toString('utf8')) as { token?: unknown }).token;
  } catch {
    made = undefined;
  }
  if (typeof made !== 'string' || !TOKEN.test(made)) throw new CliError(`the server at ${client.target.url} did not give the "${SEND_TOKEN_NAME}" token of app ${JSON.stringify(app)}`);
  return made;
}

/** `role viewer` for the key in use (GET /v3/account), or less when that cannot be read. */
async function roleOf(client: ApiClient): Promise<string> {
  try {
    const res = await client.request('GET', '/v3/account');
    const role = (JSON.parse(res.body.toString('utf8')) as { role?: unknown }).role;
    if (res.status === 200 && typeof role === 'string') return `role ${role}`;
  } catch {
    /* said without the role */
  }
  return 'its role';
}

/** Whether to say what was sent: only to a person (stderr is a terminal), never into a pipe or file. */
export function reportsProgress(stderr: { isTTY?: boolean }): boolean {
  return stderr.isTTY === true;
}

/** `sent 200,000 lines in 1.2 s (166,667 lines/s)`. */
export function sendReport(lines: number, ms: number): string {
  const sec = Math.max(ms, 1) / 1000;
  const shown = sec < 1 ? sec.toFixed(2) : sec < 100 ? sec.toFixed(1) : String(Math.round(sec));
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  return `sent ${n(lines)} line${lines === 1 ? '' : 's'} in ${shown} s (${n(lines / sec)} lines/s)`;
}

async function post(client: ApiClient, app: string, token: string, body: Buffer, lines: number): Promise<void> {
  const res = await client.request('POST', '/logs', {
    body,
    authorization: `Basic ${Buffer.from(`token:${token}`).toString('base64')}`,
    headers: { 'content-type': 'application/logplex-1', 'logplex-msg-count': String(lines) },
  });
  if (res.status >= 200 && res.status < 300) return;
  if (res.status === 401) throw new CliError(`the server refused the token of app ${JSON.stringify(app)} (was the app destroyed?)`);
  if (res.status === 404) throw new CliError(`the server at ${client.target.url} does not accept POST /logs`);
  throw client.failure(res, app);
}

export const send: Command = {
  name: 'send',
  summary: 'send stdin lines to an app',
  usage: `usage: logplane send -a APP [-d DYNO]

Read lines from stdin and send each as one log line of APP over HTTP
(POST /logs, octet-counted RFC 5424 frames in batches). Lines get the time
they were read, source "app" and dyno DYNO. Lines longer than 10,000 bytes
are split. Uses the app's token named "app" (created if the app has none),
so it needs an admin or developer key of APP (a viewer key cannot send).
When stderr is a terminal, says at the end how many lines were sent and how
fast (nothing when it is a pipe or a file).

  -a, --app APP     the app to send to (required)
  -d, --dyno DYNO   the dyno (PROCID) of the lines (default: cli)

example: tail -f server.log | logplane send -a myapp -d web.1`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('send', argv, { app: { type: 'string', short: 'a' }, dyno: { type: 'string', short: 'd' } });
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, 'send');
    const app = requireApp('send', values.app);
    const dyno = values.dyno ?? 'cli';
    if (!NAME_OK.test(dyno)) throw new UsageError('dyno: 1-64 printable characters, no spaces', 'send');
    let host = hostname().replace(/[^!-~]/g, '').slice(0, 255);
    if (!host) host = 'localhost';

    const client = await connect();
    const token = await sendToken(client, app);
    const batch = new FrameBatch();
    const pending: { body: Buffer; lines: number }[] = [];
    const splitter = new LineSplitter((buf, s, e) => {
      batch.add(buf, s, e);
      if (batch.full) pending.push(batch.take());
    });
    let sent = 0;
    const started = performance.now();
    const flush = async (): Promise<void> => {
      if (batch.lines) pending.push(batch.take());
      while (pending.length) {
        const b = pending.shift()!;
        await post(client, app, token, b.body, b.lines);
        sent += b.lines;
      }
    };
    // One POST (or more, for big chunks) per stdin chunk: prompt for `tail -f`,
    // batched for files; awaiting each POST gives backpressure.
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      batch.setHeader(rfc3339(Date.now()), host, SEND_TOKEN_NAME, dyno);
      splitter.push(chunk);
      await flush();
    }
    batch.setHeader(rfc3339(Date.now()), host, SEND_TOKEN_NAME, dyno);
    splitter.end();
    await flush();
    if (reportsProgress(process.stderr)) process.stderr.write(`${sendReport(sent, performance.now() - started)}\n`);
  },
};
