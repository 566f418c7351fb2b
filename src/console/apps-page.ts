// The apps page: the apps the key can see, each with lines/s now, a
// sparkline of the last 5 minutes, its drains and their worst state, and the
// lines its drains dropped. Refreshed every few seconds while shown: the list
// itself too (as many pages as are shown), so an app created or destroyed, or
// given to or taken from the key, shows as it would after a reload.
import { ApiError, call, enc } from './api.js';
import { clear, h } from './dom.js';
import { sparkline, type Stats } from './chart.js';

interface Channel {
  channel: string;
  drains: number;
}

export const APPS_POLL_MS = 5000;
const PAGE = 100;

export class AppsPage {
  readonly el: HTMLElement;
  readonly #body: HTMLTableSectionElement;
  readonly #msg: HTMLElement;
  readonly #more: HTMLButtonElement;
  /** Pages of the list shown ("More apps" adds one). */
  #pages = 1;
  #channels: Channel[] = [];
  #timer = 0;
  #stopped = false;

  constructor() {
    this.#body = h('tbody');
    this.#msg = h('p', { class: 'msg-line', role: 'status', 'aria-live': 'polite' });
    this.#more = h('button', { type: 'button', hidden: true }, 'More apps');
    this.#more.addEventListener('click', () => {
      this.#pages++;
      void this.#refresh();
    });
    const open = h('input', { id: 'open-app', name: 'app', placeholder: 'app name', autocomplete: 'off', required: true });
    const openForm = h('form', { class: 'open-app', 'aria-label': 'Open an app by name' }, h('label', { for: 'open-app' }, 'Open app'), open, h('button', { type: 'submit' }, 'Open'));
    openForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (open.value.trim()) location.hash = `#/apps/${enc(open.value.trim())}`;
    });
    this.el = h(
      'main',
      { id: 'main', class: 'apps-page' },
      h('h1', {}, 'Apps'),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'apps-table' },
          h('caption', { class: 'sr-only' }, 'Apps with their current rate, the last 5 minutes, drains and drops'),
          h('thead', {}, h('tr', {}, ...['App', 'Lines/s', 'Last 5 min', 'Drains', 'Drops'].map((t) => h('th', { scope: 'col' }, t)))),
          this.#body,
        ),
      ),
      this.#more,
      this.#msg,
      openForm,
    );
  }

  start(): void {
    void this.#refresh();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Reads the list again from its start, as many pages as are shown. */
  async #load(): Promise<void> {
    try {
      const channels: Channel[] = [];
      let after: string | null = null;
      for (let i = 0; i < this.#pages; i++) {
        const r: { channels: Channel[]; next: string | null } = await call('GET', `/v3/channels?limit=${PAGE}${after ? `&after=${enc(after)}` : ''}`);
        channels.push(...r.channels);
        after = r.next;
        if (after === null) break;
      }
      this.#channels = channels;
      this.#more.hidden = after === null;
      this.#msg.textContent = channels.length === 0 ? 'No apps yet. Create one with `logplane apps:create APP`.' : '';
    } catch (e) {
      // the apps listed last time stay, with this sentence under them
      this.#msg.textContent = (e as ApiError).status === 403 ? 'This key cannot list apps: open an app by name below.' : `Could not list apps: ${(e as Error).message}`;
    }
  }

  async #refresh(): Promise<void> {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    await this.#load();
    if (this.#stopped) return;
    const stats = await Promise.all(this.#channels.map((c) => call<Stats>('GET', `/v3/channels/${enc(c.channel)}/stats`).catch(() => null)));
    if (this.#stopped) return;
    clear(this.#body);
    this.#channels.forEach((c, i) => {
      const s = stats[i] ?? null;
      const worst = s?.drains.worst_state ?? null;
      this.#body.appendChild(
        h(
          'tr',
          { 'data-app': c.channel },
          h('th', { scope: 'row' }, h('a', { href: `#/apps/${enc(c.channel)}` }, c.channel)),
          h('td', { class: 'num rate', title: s?.partial ? 'this node only: Redis unreachable' : null }, s ? `${s.lines_per_sec}${s.partial ? '*' : ''}` : '—'),
          h('td', {}, sparkline(s, `${c.channel}: lines per second over the last 5 minutes`)),
          h('td', {}, `${s?.drains.count ?? c.drains}`, worst ? h('span', { class: `state s-${worst.replace(' ', '-')}` }, worst) : null),
          h('td', { class: 'num drops' }, s ? String(s.drains.dropped) : '—'),
        ),
      );
    });
    // a "More apps" click may have started a refresh while this one ran: one timer either way
    clearTimeout(this.#timer);
    this.#timer = window.setTimeout(() => void this.#refresh(), APPS_POLL_MS);
  }
}
