// The live log view: lines and gaps arrive in bursts (one WebSocket frame per
// server tick); they are queued and rendered once per animation frame, and
// the DOM keeps at most MAX_ROWS rows (the oldest go). At 10,000 lines/s a
// frame adds ~170 rows and removes as many; lines
// that would be removed in the same frame are never built. Rows are made
// from escaped HTML in one insertAdjacentHTML per frame (format.ts). Paused, the view
// holds what arrives (at most MAX_ROWS; beyond that the oldest held lines are
// dropped and shown as skipped) and shows "N new lines"; resume renders them.
import { h } from './dom.js';
import { DynoColors, gapHtml, lineHtml, type Line } from './format.js';

/** Rows kept in the DOM. */
export const MAX_ROWS = 1000;

/** A line, or a gap of `gap` lines (lowerBound: at least that many, maybe 0: gapText). */
type Item = { line: Line } | { gap: number; why: string; lowerBound: boolean };

export class LogView {
  readonly el: HTMLElement;
  readonly #colors = new DynoColors();
  /** Waiting for the next frame. */
  #pending: Item[] = [];
  /** The requested animation frame, 0 when none. */
  #frame = 0;
  #paused = false;
  /** Arrived while paused. */
  #held: Item[] = [];
  #heldLines = 0;
  #heldDropped = 0;
  readonly #onHeld: (n: number) => void;

  constructor(onHeld: (n: number) => void) {
    this.#onHeld = onHeld;
    this.el = h('div', { class: 'log', role: 'log', 'aria-live': 'off', 'aria-label': 'Log lines', tabindex: '0' });
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Empty the view (filters changed: a new stream starts). */
  reset(): void {
    this.#pending = [];
    this.#held = [];
    this.#heldLines = 0;
    this.#heldDropped = 0;
    this.el.replaceChildren();
    this.#onHeld(0);
  }

  addLines(lines: readonly Line[]): void {
    if (this.#paused) {
      for (const line of lines) this.#held.push({ line });
      this.#heldLines += lines.length;
      this.#trimHeld();
      this.#onHeld(this.#heldLines);
      return;
    }
    for (const line of lines) this.#pending.push({ line });
    this.#schedule();
  }

  addGap(n: number, why: string, lowerBound = false): void {
    const item = { gap: n, why, lowerBound };
    if (this.#paused) this.#held.push(item);
    else {
      this.#pending.push(item);
      this.#schedule();
    }
  }

  setPaused(p: boolean): void {
    if (p === this.#paused) return;
    this.#paused = p;
    if (p) return;
    if (this.#heldDropped > 0) this.#pending.push({ gap: this.#heldDropped, why: 'while paused', lowerBound: false });
    for (const it of this.#held) this.#pending.push(it);
    this.#held = [];
    this.#heldLines = 0;
    this.#heldDropped = 0;
    this.#onHeld(0);
    this.#schedule();
  }

  #trimHeld(): void {
    const over = this.#held.length - MAX_ROWS;
    if (over <= 0) return;
    let dropped = 0;
    for (let i = 0; i < over; i++) if ('line' in this.#held[i]!) dropped++;
    this.#held.splice(0, over);
    this.#heldDropped += dropped;
  }

  #schedule(): void {
    if (this.#frame !== 0) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#flush();
    });
  }

  #flush(): void {
    const el = this.el;
    let items = this.#pending;
    this.#pending = [];
    if (items.length === 0) return;
    // read layout once, before any change
    const stuck = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    if (items.length > MAX_ROWS) {
      // only the newest MAX_ROWS could stay on screen; keep the gaps among the rest
      const cut = items.length - MAX_ROWS;
      const gaps = items.slice(0, cut).filter((it) => !('line' in it));
      items = gaps.concat(items.slice(cut));
    }
    let html = '';
    for (const it of items) {
      if ('line' in it) {
        html += lineHtml(it.line, this.#colors);
      } else html += gapHtml(it.gap, it.why, it.lowerBound);
    }
    el.insertAdjacentHTML('beforeend', html);
    const extra = el.childElementCount - MAX_ROWS;
    if (extra > 0) {
      // the oldest rows go in one range operation
      const range = document.createRange();
      range.setStartBefore(el.firstElementChild!);
      range.setEndAfter(el.children[extra - 1]!);
      range.deleteContents();
    }
    if (stuck) el.scrollTop = el.scrollHeight;
  }
}
