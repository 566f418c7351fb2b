// `logplane logs -a APP [-n N]`: the app's history (GET /v3/channels/:app/logs),
// printed as Heroku's text lines `TS source[dyno]: msg`, coloured on a TTY.
import { FrameError, OctetFramer, frameErrorText } from '../ingest/framing.js';
import { CliError, UsageError, appPath, connect, parseCommandArgs, requireApp, type Command } from './client.js';

/** One line of a history response. */
export interface HistoryLine {
  pri: number;
  ts: string;
  source: string;
  dyno: string;
  msg: Buffer;
}

const SP = 0x20;

/** Index of the next SP at or after i, or -1. */
function nextSp(buf: Buffer, i: number, end: number): number {
  const j = buf.indexOf(SP, i);
  return j === -1 || j >= end ? -1 : j;
}

/** Parse one history frame body `<PRI>1 TS host SOURCE DYNO - MSG\n`; null when it is not one. */
export function parseHistoryFrame(buf: Buffer, start: number, end: number): HistoryLine | null {
  if (buf[start] !== 0x3c) return null;
  const gt = buf.indexOf(0x3e, start);
  if (gt === -1 || gt >= end || gt - start > 4) return null;
  const pri = Number(buf.toString('latin1', start + 1, gt));
  if (!Number.isInteger(pri) || buf[gt + 1] !== 0x31 || buf[gt + 2] !== SP) return null;
  const fields: [number, number][] = [];
  let i = gt + 3;
  for (let k = 0; k < 5; k++) {
    const j = nextSp(buf, i, end);
    if (j === -1) return null;
    fields.push([i, j]);
    i = j + 1;
  }
  // fields: TS, host, SOURCE, DYNO, "-" (nil structured data)
  const nil = fields[4]!;
  if (nil[1] - nil[0] !== 1 || buf[nil[0]] !== 0x2d) return null;
  const msgEnd = end > i && buf[end - 1] === 0x0a ? end - 1 : end;
  const f = (n: number, enc: BufferEncoding) => buf.toString(enc, fields[n]![0], fields[n]![1]);
  return { pri, ts: f(0, 'latin1'), source: f(2, 'utf8'), dyno: f(3, 'utf8'), msg: Buffer.from(buf.subarray(i, msgEnd)) };
}

/** Parse a whole `application/logplex-1` history body. */
export function parseHistory(body: Buffer): HistoryLine[] {
  const lines: HistoryLine[] = [];
  let bad = false;
  const framer = new OctetFramer((buf, s, e) => {
    const l = parseHistoryFrame(buf, s, e);
    if (l) lines.push(l);
    else bad = true;
  });
  let err = framer.push(body);
  if (err === FrameError.NONE) err = framer.end();
  if (err !== FrameError.NONE) throw new CliError(`the server sent history that cannot be read: ${frameErrorText[err]}`);
  if (bad) throw new CliError('the server sent a history frame that is not `<PRI>1 TS host SOURCE DYNO - MSG`');
  return lines;
}

/** `ps`/`dyno` filter: equal, or a prefix followed by `.` (web matches web.1, not webhook.1). */
export function dynoMatches(dyno: string, filter: string): boolean {
  return dyno === filter || (dyno.startsWith(filter) && dyno.charCodeAt(filter.length) === 0x2e);
}

const COLOURS = [36, 33, 32, 35, 31, 34] as const; // cyan yellow green magenta red blue

/** Heroku-style: the `TS source[dyno]:` prefix coloured by dyno type; platform lines blue. */
function colourFor(source: string, dyno: string): number {
  if (source === 'heroku') return 34;
  const dot = dyno.indexOf('.');
  const type = dot === -1 ? dyno : dyno.slice(0, dot);
  if (type === 'web') return 32;
  if (type === 'run') return 35;
  let h = 0;
  for (let i = 0; i < type.length; i++) h = (h * 31 + type.charCodeAt(i)) >>> 0;
  return COLOURS[h % COLOURS.length]!;
}

export function formatText(l: HistoryLine, colour: boolean): Buffer {
  const prefix = `${l.ts} ${l.source}[${l.dyno}]:`;
  const head = colour ? `\x1b[${colourFor(l.source, l.dyno)}m${prefix}\x1b[0m ` : `${prefix} `;
  return Buffer.concat([Buffer.from(head, 'utf8'), l.msg, Buffer.from('\n')]);
}

export const logs: Command = {
  name: 'logs',
  summary: "show an app's recent log lines",
  usage: `usage: logplane logs -a APP [-n N] [-s SOURCE] [-d DYNO] [--json]

Print the newest N lines of APP's history (oldest first) as
\`TIMESTAMP source[dyno]: message\`, coloured when stdout is a terminal
(set NO_COLOR to turn colour off).

  -a, --app APP        the app (required)
  -n, --num N          how many lines (default 100; at most the history size)
  -s, --source SOURCE  only lines with this source (e.g. app, heroku)
  -d, --dyno DYNO      only lines of this dyno: web matches web.1, web.2
      --json           one JSON object per line: {"ts","source","dyno","pri","msg"}

Filters apply to the N lines fetched.`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('logs', argv, {
      app: { type: 'string', short: 'a' },
      num: { type: 'string', short: 'n' },
      source: { type: 'string', short: 's' },
      dyno: { type: 'string', short: 'd' },
      tail: { type: 'boolean', short: 't' },
      json: { type: 'boolean' },
    });
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, 'logs');
    const app = requireApp('logs', values.app);
    if (values.num !== undefined && !/^\d{1,9}$/.test(values.num)) throw new UsageError('-n must be a whole number', 'logs');
    if (values.tail) throw new CliError('live tail (-t) is not available in this version; showing history needs no -t');
    const client = await connect();
    const q = values.num !== undefined ? `?num=${values.num}` : '';
    const res = await client.request('GET', `${appPath(app)}/logs${q}`, { headers: { accept: 'application/logplex-1' } });
    if (res.status !== 200) throw client.failure(res, app);
    let lines = parseHistory(res.body);
    if (values.source !== undefined) lines = lines.filter((l) => l.source === values.source);
    if (values.dyno !== undefined) lines = lines.filter((l) => dynoMatches(l.dyno, values.dyno!));
    const colour = !values.json && process.stdout.isTTY === true && !process.env['NO_COLOR'];
    const out: Buffer[] = [];
    for (const l of lines) {
      out.push(values.json ? Buffer.from(`${JSON.stringify({ ts: l.ts, source: l.source, dyno: l.dyno, pri: l.pri, msg: l.msg.toString('utf8') })}\n`) : formatText(l, colour));
    }
    await new Promise<void>((resolve, reject) => process.stdout.write(Buffer.concat(out), (err) => (err ? reject(err) : resolve())));
  },
};
