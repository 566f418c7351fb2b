// The app page: the live tail (history first, pause/resume, filters applied
// by the server, gaps inline), the lines/s chart and the drain health table.
// Keys: `/` focuses the grep box, space pauses and resumes (outside text
// fields), Escape leaves a filter box.
import { call, enc } from './api.js';
import { h, typing } from './dom.js';
import { RateChart, type Stats } from './chart.js';
import { DrainPanel } from './drains.js';
import { skippedText } from './format.js';
import { LogView } from './logview.js';
import { TailStream, type Filters, type StreamState } from './stream.js';

export const STATS_POLL_MS = 2000;

export class AppPage {
  readonly el: HTMLElement;
  readonly #app: string;
  readonly #view: LogView;
  readonly #chart = new RateChart();
  readonly #drains: DrainPanel;
  readonly #state: HTMLElement;
  readonly #pause: HTMLButtonElement;
  readonly #held: HTMLElement;
  readonly #inputs: Record<keyof Filters, HTMLInputElement>;
  readonly #rate: HTMLElement;
  /** Shown when the key may not read this app (403). */
  readonly #notice: HTMLElement;
  /** Lines skipped since this view opened (gap rows scroll away with the lines; this stays). */
  readonly #skipped: HTMLElement;
  #skippedTotal = 0;
  /** Some gap since this view opened was a lower bound: the total is "at least". */
  #skippedBound = false;
  #stream: TailStream | null = null;
  #statsTimer = 0;
  #stopped = false;

  constructor(app: string) {
    this.#app = app;
    this.#held = h('span', { class: 'held', role: 'status', 'aria-live': 'polite' });
    this.#view = new LogView((n) => {
      this.#held.textContent = n > 0 ? `${n} new ${n === 1 ? 'line' : 'lines'}` : '';
    });
    this.#drains = new DrainPanel(app);
    this.#state = h('span', { class: 'conn', role: 'status', 'aria-live': 'polite' }, 'connecting');
    this.#rate = h('span', { class: 'rate-now' });
    this.#notice = h('p', { class: 'notice', role: 'alert', hidden: true });
    this.#skipped = h('span', { class: 'skipped', role: 'status', 'aria-live': 'polite' });
    this.#pause = h('button', { type: 'button', class: 'pause', 'aria-pressed': 'false', 'aria-keyshortcuts': 'Space', title: 'Pause (space)' }, 'Pause');
    this.#pause.addEventListener('click', () => this.#togglePause());
    const field = (name: keyof Filters, label: string, placeholder: string, extra: Record<string, string> = {}) =>
      h('input', { id: `f-${name}`, name, type: name === 'grep' ? 'search' : 'text', placeholder, autocomplete: 'off', spellcheck: 'false', 'aria-label': label, ...extra });
    this.#inputs = {
      source: field('source', 'Source (exact, e.g. app)', 'source'),
      dyno: field('dyno', 'Dyno or dyno type (web matches web.1)', 'dyno'),
      grep: field('grep', 'Search text (press / to focus)', 'grep  /', { 'aria-keyshortcuts': '/' }),
    };
    const filters = h(
      'form',
      { class: 'filters', role: 'search', 'aria-label': 'Filters, applied by the server' },
      h('label', { for: 'f-source', class: 'sr-only' }, 'Source'),
      this.#inputs.source,
      h('label', { for: 'f-dyno', class: 'sr-only' }, 'Dyno'),
      this.#inputs.dyno,
      h('label', { for: 'f-grep', class: 'sr-only' }, 'Grep'),
      this.#inputs.grep,
      h('button', { type: 'submit' }, 'Apply'),
    );
    filters.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#restart();
    });
    // apply a little after typing stops, without reloading
    let debounce = 0;
    for (const i of Object.values(this.#inputs)) {
      i.addEventListener('input', () => {
        clearTimeout(debounce);
        debounce = window.setTimeout(() => this.#restart(), 400);
      });
      i.addEventListener('keydown', (ev) => {
        if (ev.key === 'Escape') i.blur();
      });
    }
    this.el = h(
      'main',
      { id: 'main', class: 'app-page' },
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Apps'), ' / ', h('span', { 'aria-current': 'page' }, app)),
      h('h1', { class: 'sr-only' }, `App ${app}`),
      h('div', { class: 'toolbar' }, this.#notice, filters, h('div', { class: 'live-controls' }, this.#pause, this.#held, this.#skipped, this.#state)),
      this.#view.el,
      h('section', { class: 'rates', 'aria-labelledby': 'rates-h' }, h('h2', { id: 'rates-h' }, 'Lines/s, last 5 minutes ', this.#rate), this.#chart.el),
      this.#drains.el,
    );
  }

  start(): void {
    document.addEventListener('keydown', this.#onKey);
    this.#restart();
    this.#drains.start();
    void this.#pollStats();
  }

  stop(): void {
    this.#stopped = true;
    document.removeEventListener('keydown', this.#onKey);
    this.#stream?.stop();
    this.#drains.stop();
    clearTimeout(this.#statsTimer);
    this.#chart.destroy();
  }

  readonly #onKey = (ev: KeyboardEvent): void => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing()) return;
    if (ev.key === '/') {
      ev.preventDefault();
      this.#inputs.grep.focus();
      this.#inputs.grep.select();
    } else if (ev.key === ' ' && !(document.activeElement instanceof HTMLButtonElement) && !(document.activeElement instanceof HTMLAnchorElement)) {
      ev.preventDefault();
      this.#togglePause();
    }
  };

  #togglePause(): void {
    const p = !this.#view.paused;
    this.#view.setPaused(p);
    this.#pause.textContent = p ? 'Resume' : 'Pause';
    this.#pause.setAttribute('aria-pressed', String(p));
    this.#pause.title = p ? 'Resume (space)' : 'Pause (space)';
    this.el.classList.toggle('is-paused', p);
  }

  #filters(): Filters {
    return { source: this.#inputs.source.value.trim(), dyno: this.#inputs.dyno.value.trim(), grep: this.#inputs.grep.value };
  }

  #restart(): void {
    const f = this.#filters();
    const key = JSON.stringify(f);
    if (this.#stream && this.el.dataset.filters === key) return;
    this.el.dataset.filters = key;
    this.#stream?.stop();
    this.#view.reset();
    this.#skippedTotal = 0;
    this.#skippedBound = false;
    this.#skipped.textContent = '';
    const stream = new TailStream(this.#app, f, {
      lines: (lines) => this.#view.addLines(lines),
      gap: (g) => {
        const since = g.since ? `since ${g.since}` : 'lost';
        const bound = g.lower_bound === true;
        this.#view.addGap(g.dropped, bound ? `other nodes' lines could not be read, ${since}` : since, bound);
        this.#skippedTotal += g.dropped;
        if (bound) this.#skippedBound = true;
        this.#skipped.textContent = skippedText(this.#skippedTotal, this.#skippedBound);
        this.#skipped.title = 'Lines the server could not deliver to this view (too fast for it, gone from history while disconnected, or, in distributed mode, of other nodes that could not be read)';
      },
      state: (s, detail, status) => {
        this.#setState(s, detail);
        if (status === 403) this.#forbidden();
      },
    });
    this.#stream = stream;
    stream.start();
  }

  #setState(s: StreamState, detail?: string): void {
    const text: Record<StreamState, string> = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', stopped: detail ?? 'stopped' };
    this.#state.textContent = text[s];
    this.#state.className = `conn conn-${s}`;
  }

  /** The key may not read this app (or it does not exist: a scoped key gets the same 403 either way). */
  #forbidden(): void {
    this.#notice.textContent = `This key is not allowed to read the app ${this.#app}. Sign in with a key for it, or go back to your apps.`;
    this.#notice.hidden = false;
    this.#drains.forbidden();
  }

  async #pollStats(): Promise<void> {
    if (this.#stopped) return;
    try {
      const s = await call<Stats>('GET', `/v3/channels/${enc(this.#app)}/stats`);
      if (this.#stopped) return;
      this.#chart.update(s);
      this.#rate.textContent = s.partial ? `(now ${s.lines_per_sec}/s, this node only: Redis unreachable)` : `(now ${s.lines_per_sec}/s)`;
    } catch {
      /* shown as a stale chart; the tail's state says when the server is gone */
    }
    this.#statsTimer = window.setTimeout(() => void this.#pollStats(), STATS_POLL_MS);
  }
}
