// The web console (SPEC 13): sign-in, the apps page and the app page, routed
// by the URL's fragment (#/ and #/apps/<app>) so that GET / is the only page
// the server serves. The key is kept in sessionStorage (gone when the tab
// closes), sent only as `Authorization: Bearer`, never put in a URL.
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { ApiError, call, forgetKey, setUnauthorizedHandler, storeKey, storedKey } from './api.js';
import { h } from './dom.js';
import { AppsPage } from './apps-page.js';
import { AppPage } from './app-page.js';

interface Page {
  el: HTMLElement;
  start(): void;
  stop(): void;
}

const root = document.getElementById('root')!;
let current: Page | null = null;

function show(page: Page | null, content: HTMLElement): void {
  current?.stop();
  current = page;
  root.replaceChildren(content);
  page?.start();
}

function header(): HTMLElement {
  const out = h('button', { type: 'button', class: 'signout' }, 'Sign out');
  out.addEventListener('click', () => signOut('Signed out.'));
  return h(
    'header',
    { class: 'top' },
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    h('a', { class: 'brand', href: '#/' }, 'logplane'),
    out,
  );
}

function signOut(message: string): void {
  forgetKey();
  show(null, signInForm(message));
}

/** Checks a key against the server (GET /v3/account answers any valid key with its role): the role, or a sentence why not. */
async function checkKey(key: string): Promise<{ role: string } | { error: string }> {
  try {
    const me = await call<{ role: string }>('GET', '/v3/account', undefined, key);
    return { role: me.role };
  } catch (e) {
    const s = (e as ApiError).status;
    if (s === 401) return { error: 'That key was not accepted by this server. Check it and try again.' };
    if (s === 429) return { error: 'Too many failed sign-ins from this address. Wait a minute and try again.' };
    if (s === 0) return { error: 'The server cannot be reached.' };
    return { error: `Sign-in failed: ${(e as Error).message}` };
  }
}

function signInForm(message = ''): HTMLElement {
  const input = h('input', { id: 'key', name: 'key', type: 'password', required: true, autocomplete: 'current-password', spellcheck: 'false', 'aria-describedby': 'key-help signin-msg' });
  const msg = h('p', { id: 'signin-msg', class: 'msg-line', role: 'alert' }, message);
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin', 'aria-labelledby': 'signin-h' },
    h('h1', { id: 'signin-h' }, 'Sign in to logplane'),
    h('label', { for: 'key' }, 'API key'),
    input,
    h('p', { id: 'key-help', class: 'help' }, 'The admin key (LOGPLANE_API_KEY, or apiKey in the data dir) or an API key. It stays in this tab only.'),
    button,
    msg,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    msg.textContent = 'Checking…';
    void checkKey(key).then((r) => {
      button.disabled = false;
      if ('error' in r) {
        msg.textContent = r.error;
        input.focus();
        input.select();
        return;
      }
      storeKey(key, r.role);
      route();
    });
  });
  queueMicrotask(() => input.focus());
  return h('main', { id: 'main', class: 'signin-page' }, form);
}

function route(): void {
  if (!storedKey()) {
    if (!(current === null && root.querySelector('form.signin'))) show(null, signInForm());
    return;
  }
  const app = hashApp();
  const page: Page = app !== null ? new AppPage(app) : new AppsPage();
  show(page, h('div', { class: 'shell' }, header(), page.el));
  document.title = app !== null ? `${app} · logplane` : 'Apps · logplane';
}

/** The app `#/apps/<app>` names; null for any other fragment, or one whose escapes do not decode (no app id has a `%`). */
function hashApp(): string | null {
  const m = /^#\/apps\/([^/]+)$/.exec(location.hash);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
}

setUnauthorizedHandler((why) => signOut(why));
window.addEventListener('hashchange', route);
route();
