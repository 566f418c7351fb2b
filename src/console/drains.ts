// The drain health table (SPEC 6.5), polled while the app page is open, and
// adding / removing drains. A key that may not change drains (a viewer key,
// known from its role, asked again each time the page opens, or any key the
// server answers 403) gets the table without the controls.
import { ApiError, call, enc, storedRole, storeRole } from './api.js';
import { clear, h } from './dom.js';
import type { DrainJson } from '../api/wire.js';

export const DRAIN_POLL_MS = 2000;

function ago(iso: string | null): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : new Date(iso).toLocaleString();
}

function errorText(e: DrainJson['status']['last_error']): string {
  if (!e) return '—';
  const code = e.status !== undefined ? `HTTP ${e.status}` : e.errno ?? '';
  return `${code ? `${code}: ` : ''}${e.text} (${ago(e.at)})`;
}

export class DrainPanel {
  readonly el: HTMLElement;
  readonly #app: string;
  readonly #body: HTMLTableSectionElement;
  readonly #form: HTMLFormElement;
  readonly #input: HTMLInputElement;
  readonly #msg: HTMLElement;
  #canChange = true;
  /** The server refused this key here (403): no role answer gives the controls back. */
  #refused = false;
  #timer = 0;
  #stopped = false;

  constructor(app: string) {
    this.#app = app;
    this.#body = h('tbody');
    this.#input = h('input', { id: 'drain-url', name: 'url', type: 'url', required: true, placeholder: 'https://user:pass@logs.example.com/drain', autocomplete: 'off' });
    this.#msg = h('p', { class: 'msg-line', role: 'status', 'aria-live': 'polite' });
    this.#form = h(
      'form',
      { class: 'drain-add', 'aria-label': 'Add a drain' },
      h('label', { for: 'drain-url' }, 'Drain URL'),
      this.#input,
      h('button', { type: 'submit' }, 'Add drain'),
    );
    this.#form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.#add();
    });
    this.el = h(
      'section',
      { class: 'drains', 'aria-labelledby': 'drains-h' },
      h('h2', { id: 'drains-h' }, 'Drains'),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'drain-table' },
          h('caption', { class: 'sr-only' }, 'Drain health: state, delivered and dropped lines, queue, last success and last error'),
          h('thead', {}, h('tr', {}, ...['URL', 'State', 'Delivered', 'Dropped', 'Queue', 'Last success', 'Last error', 'Next retry', ''].map((t) => h('th', { scope: 'col' }, t)))),
          this.#body,
        ),
      ),
      this.#form,
      this.#msg,
    );
    if (storedRole() === 'viewer') this.#readOnly();
  }

  start(): void {
    void this.#checkRole();
    void this.#poll();
  }

  /** The role may have changed since sign-in (an admin raised or lowered the key): asked again as the page opens. */
  async #checkRole(): Promise<void> {
    let role: string;
    try {
      role = (await call<{ role: string }>('GET', '/v3/account')).role;
    } catch {
      return; // a 401 signs out; otherwise the role known so far stands
    }
    storeRole(role);
    if (this.#stopped) return;
    if (role === 'viewer') this.#readOnly();
    else if (!this.#refused) this.#editable();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #poll(): Promise<void> {
    if (this.#stopped) return;
    try {
      this.#render(await call<DrainJson[]>('GET', `/v3/channels/${enc(this.#app)}/drains`));
    } catch (e) {
      if ((e as ApiError).status === 403) return this.forbidden();
    }
    if (!this.#stopped) this.#timer = window.setTimeout(() => void this.#poll(), DRAIN_POLL_MS);
  }

  /** The key may not read this app: no table rows, no controls. */
  forbidden(): void {
    this.stop();
    this.#refused = true;
    this.#canChange = false;
    this.#form.hidden = true;
    this.#render([], 'Not allowed for this key.');
  }

  #render(list: DrainJson[], empty = 'No drains.'): void {
    const rows = list.map((d) => {
      const s = d.status;
      const remove = this.#canChange ? h('button', { type: 'button', class: 'remove', 'aria-label': `Remove drain ${d.url}` }, 'Remove') : null;
      remove?.addEventListener('click', () => void this.#remove(d));
      return h(
        'tr',
        { 'data-drain': d.id },
        h('td', { class: 'url' }, d.url),
        h('td', {}, h('span', { class: `state s-${s.state.replace(' ', '-')}` }, s.state)),
        h('td', { class: 'num' }, String(s.delivered)),
        h('td', { class: 'num' }, String(s.dropped)),
        h('td', { class: 'num' }, String(s.queue_depth)),
        h('td', {}, ago(s.last_success_at)),
        h('td', { class: 'last-error' }, errorText(s.last_error)),
        h('td', {}, s.next_retry_at ? new Date(s.next_retry_at).toLocaleTimeString() : '—'),
        h('td', {}, remove),
      );
    });
    // keep keyboard focus on a Remove button across refreshes
    const focused = document.activeElement?.closest('tr')?.getAttribute('data-drain');
    clear(this.#body);
    if (rows.length === 0) this.#body.appendChild(h('tr', {}, h('td', { colspan: 9, class: 'empty' }, empty)));
    for (const r of rows) this.#body.appendChild(r);
    if (focused) (this.#body.querySelector(`tr[data-drain="${CSS.escape(focused)}"] button`) as HTMLElement | null)?.focus();
  }

  #readOnly(): void {
    this.#canChange = false;
    this.#form.hidden = true;
    this.#msg.textContent = 'This key can read drains but not change them.';
  }

  /** The server refused a change: the controls go for as long as the page is open. */
  #refusedHere(): void {
    this.#refused = true;
    this.#readOnly();
  }

  #editable(): void {
    if (this.#canChange) return;
    this.#canChange = true;
    this.#form.hidden = false;
    this.#msg.textContent = '';
  }

  async #add(): Promise<void> {
    const url = this.#input.value.trim();
    if (!url) return;
    this.#msg.textContent = 'Adding…';
    try {
      await call('POST', `/v3/channels/${enc(this.#app)}/drains`, { url });
      this.#input.value = '';
      this.#msg.textContent = 'Drain added.';
      clearTimeout(this.#timer);
      void this.#poll();
    } catch (e) {
      if ((e as ApiError).status === 403) return this.#refusedHere();
      this.#msg.textContent = `Could not add the drain: ${(e as Error).message}`;
    }
  }

  async #remove(d: DrainJson): Promise<void> {
    if (!confirm(`Remove the drain ${d.url}?`)) return;
    try {
      await call('DELETE', `/v3/channels/${enc(this.#app)}/drains/${enc(d.id)}`);
      this.#msg.textContent = 'Drain removed.';
      clearTimeout(this.#timer);
      void this.#poll();
    } catch (e) {
      if ((e as ApiError).status === 403) return this.#refusedHere();
      this.#msg.textContent = `Could not remove the drain: ${(e as Error).message}`;
    }
  }
}
