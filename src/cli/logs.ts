// `logplane logs -a APP [-t] [-n N] [-s SOURCE] [-d DYNO] [--json]`: history and
// live lines over a WebSocket session (cli/tail.ts). Also the client-side codec
// for the v3 history format (GET /v3/channels/:app/logs).
import { SP } from '../basics/chars.js';
import { FrameError, OctetFramer, frameErrorText } from '../ingest/framing.js';
import { CliError, type Command } from './client.js';
import { LOGS_USAGE, parseLogsArgs, readLogs } from './tail.js';

/** One line of a history response. */
export interface HistoryLine {
  pri: number;
  ts: string;
  source: string;
  dyno: string;
  msg: Buffer;
}


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

export const logs: Command = {
  name: 'logs',
  summary: "show an app's log lines; -t to keep tailing",
  usage: LOGS_USAGE.trimEnd(),
  async run(argv) {
    // the one parse (cli/tail.ts); its errors are one line (exit 2), which the dispatcher prints
    const opts = parseLogsArgs(argv);
    // History and live lines both come over a WebSocket session (cli/tail.ts).
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const code = await readLogs(opts, { signal: ac.signal });
      if (code !== 0) process.exitCode = code;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};
