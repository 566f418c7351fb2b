// Line colours like `heroku logs`: a colour per dyno type, router lines'
// key=value pairs with the interesting values highlighted. Plain text when
// colours are off (not a TTY, NO_COLOR, --no-color).
import type { LineView } from '../line.js';

const ESC = '\u001b[';
const paint = (code: string) => (s: string) => `${ESC}${code}m${s}${ESC}0m`;
/** The ANSI colours the CLI uses. */
export const ansi = {
  dim: paint('2'),
  red: paint('31'),
  boldRed: paint('1;31'),
  green: paint('32'),
  yellow: paint('33'),
  blue: paint('34'),
  magenta: paint('35'),
  cyan: paint('36'),
  brightGreen: paint('92'),
  brightYellow: paint('93'),
};
const PALETTE = [ansi.yellow, ansi.green, ansi.cyan, ansi.magenta, ansi.blue, paint('1;32'), paint('1;36'), paint('1;35'), paint('1;33'), paint('1;34')];

/** A colour per dyno type (`web` for web.1), assigned in order of appearance after a fixed start. */
export class DynoColors {
  readonly #assigned = new Map<string, (s: string) => string>();
  constructor() {
    for (const t of ['run', 'router', 'web', 'postgres', 'heroku-postgres']) this.for(t);
  }
  for(dyno: string): (s: string) => string {
    const dot = dyno.indexOf('.');
    const type = dot === -1 ? dyno : dyno.slice(0, dot);
    let f = this.#assigned.get(type);
    if (!f) {
      f = PALETTE[this.#assigned.size % PALETTE.length]!;
      this.#assigned.set(type, f);
    }
    return f;
  }
}

function statusColor(v: string): string {
  const n = Number(v);
  if (!(n >= 200)) return v;
  if (n < 300) return ansi.green(v);
  if (n < 400) return ansi.cyan(v);
  if (n < 500) return ansi.yellow(v);
  if (n < 600) return ansi.red(v);
  return v;
}

function msColor(v: string): string {
  const n = parseInt(v, 10);
  if (!n) return v;
  if (n < 100) return ansi.brightGreen(v);
  if (n < 500) return ansi.green(v);
  if (n < 5000) return ansi.yellow(v);
  if (n < 10000) return ansi.brightYellow(v);
  return ansi.red(v);
}

/** Router lines: `key=value` pairs, keys dim, the interesting values highlighted. */
export function colorRouter(body: string, colors: DynoColors): string {
  return body
    .split(' ')
    .map((tok) => {
      const eq = tok.indexOf('=');
      if (eq === -1) return ansi.dim(tok);
      const k = tok.slice(0, eq);
      const v = tok.slice(eq + 1);
      let out: string;
      switch (k) {
        case 'at': out = v === 'error' ? ansi.red(v) : ansi.dim(v); break;
        case 'code': out = ansi.boldRed(v); break;
        case 'method': out = ansi.magenta(v); break;
        case 'path': out = ansi.green(v); break;
        case 'dyno': out = colors.for(v)(v); break;
        case 'status': out = statusColor(v); break;
        case 'connect':
        case 'service': out = msColor(v); break;
        default: out = ansi.dim(v);
      }
      return ansi.dim(`${k}=`) + out;
    })
    .join(' ');
}

/** What the WebSocket protocol sends per line (the JSON view of a cooked line). */
export type PrintedLine = LineView;

/** `TS source[dyno]: msg`, coloured or plain. */
export function formatLine(l: PrintedLine, colors: DynoColors | null): string {
  const header = `${l.ts} ${l.source}[${l.dyno}]:`;
  if (!colors) return `${header} ${l.msg}`;
  const body = l.dyno === 'router' || l.dyno.startsWith('router.') ? colorRouter(l.msg, colors) : l.msg;
  return `${colors.for(l.dyno)(header)} ${body}`;
}
