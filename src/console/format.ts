// Line formatting like the CLI (`logplane logs`, itself like `heroku logs`):
// a colour per dyno type, assigned in order of appearance after a fixed start,
// and router lines' key=value fields highlighted. Colours are CSS classes
// (c0..c9, styles.css), so the strict CSP needs no inline style.

export interface Line {
  seq: number;
  ts: string;
  source: string;
  dyno: string;
  pri: number;
  msg: string;
}

const PALETTE = 10;

export class DynoColors {
  readonly #assigned = new Map<string, string>();
  constructor() {
    for (const t of ['run', 'router', 'web', 'postgres', 'heroku-postgres']) this.for(t);
  }
  /** The class of a dyno's type (`web` for web.1). */
  for(dyno: string): string {
    const dot = dyno.indexOf('.');
    const type = dot === -1 ? dyno : dyno.slice(0, dot);
    let c = this.#assigned.get(type);
    if (c === undefined) {
      c = `c${this.#assigned.size % PALETTE}`;
      this.#assigned.set(type, c);
    }
    return c;
  }
}

function statusClass(v: string): string {
  const n = Number(v);
  if (!(n >= 200)) return 'dim';
  if (n < 300) return 'green';
  if (n < 400) return 'cyan';
  if (n < 500) return 'yellow';
  if (n < 600) return 'red';
  return 'dim';
}

function msClass(v: string): string {
  const n = parseInt(v, 10);
  if (!n) return 'dim';
  if (n < 100) return 'bgreen';
  if (n < 500) return 'green';
  if (n < 5000) return 'yellow';
  if (n < 10000) return 'byellow';
  return 'red';
}

function routerField(k: string, v: string, colors: DynoColors): string {
  switch (k) {
    case 'at':
      return v === 'error' ? 'red' : 'dim';
    case 'code':
      return 'bred';
    case 'method':
      return 'magenta';
    case 'path':
      return 'green';
    case 'dyno':
      return colors.for(v);
    case 'status':
      return statusClass(v);
    case 'connect':
    case 'service':
      return msClass(v);
    default:
      return 'dim';
  }
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const NEEDS_ESC = /[&<>"']/;
const ESC_ALL = /[&<>"']/g;

/** Text made safe to place in HTML (element content or a quoted attribute). */
export function esc(s: string): string {
  return NEEDS_ESC.test(s) ? s.replace(ESC_ALL, (c) => ESC[c]!) : s;
}

/** The message of a router line: keys dim, interesting values highlighted (HTML, escaped). */
function routerMessage(msg: string, colors: DynoColors): string {
  const toks = msg.split(' ');
  let out = '';
  for (let i = 0; i < toks.length; i++) {
    if (i > 0) out += ' ';
    const tok = toks[i]!;
    const eq = tok.indexOf('=');
    if (eq === -1) {
      out += `<span class="dim">${esc(tok)}</span>`;
      continue;
    }
    const k = tok.slice(0, eq);
    const v = tok.slice(eq + 1);
    out += `<span class="dim">${esc(k)}=</span><span class="${routerField(k, v, colors)}">${esc(v)}</span>`;
  }
  return out;
}

export function isRouter(dyno: string): boolean {
  return dyno === 'router' || dyno.startsWith('router.');
}

/**
 * One row as HTML: `TS source[dyno]: msg`, coloured. Every piece of the line
 * is escaped; a frame's rows are parsed in one insertAdjacentHTML, far cheaper
 * than building thousands of elements one by one at 10,000 lines/s.
 */
export function lineHtml(l: Line, colors: DynoColors): string {
  const msg = isRouter(l.dyno) ? routerMessage(l.msg, colors) : esc(l.msg);
  return `<div class="row"><span class="ts">${esc(l.ts)}</span> <span class="hdr ${colors.for(l.dyno)}">${esc(l.source)}[${esc(l.dyno)}]:</span> <span class="msg">${msg}</span></div>`;
}

/**
 * What a gap lost, in the words of `logplane logs` and the L11 line: `N
 * lines skipped`; for a count that is only a lower bound (distributed mode,
 * other nodes' lines could not be read) `at least N lines skipped`, or, when
 * nothing is known lost (N 0), `an unknown number of lines may be missing`:
 * never "0 lines skipped", which reads as nothing lost.
 */
export function gapText(n: number, lowerBound: boolean): string {
  const lines = `${n} ${n === 1 ? 'line' : 'lines'} skipped`;
  if (!lowerBound) return lines;
  return n > 0 ? `at least ${lines}` : 'an unknown number of lines may be missing';
}

/** An inline gap row: `⋯ N lines skipped (why)` (gapText). */
export function gapHtml(n: number, why: string, lowerBound = false): string {
  return `<div class="row gap" role="note">⋯ ${gapText(n, lowerBound)} (${esc(why)})</div>`;
}

/** The total skipped since a view opened: `N skipped`, `at least N skipped` once a gap was a lower bound, `lines may be missing` when that is all. */
export function skippedText(total: number, lowerBound: boolean): string {
  const n = `${total.toLocaleString('en-US')} skipped`;
  if (!lowerBound) return n;
  return total > 0 ? `at least ${n}` : 'lines may be missing';
}
