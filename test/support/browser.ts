// A real headless Chromium for the console's browser tests: Debian's
// `chromium` package driven by playwright-core (never a downloaded browser).
// Outside CI a missing chromium skips the tests; under CI=true it fails them
// (deps.ts needs()). Every page is watched for requests that would leave the
// machine (any origin other than the server's) and for CSP violations.
import { existsSync } from 'node:fs';
import { after } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { needs } from './deps.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** The `skip` option for browser tests. */
export const noBrowser = needs('chromium', 'chromium', existsSync(CHROMIUM));

let shared: Promise<Browser> | null = null;
after(async () => {
  if (shared) await (await shared).close().catch(() => {});
});

/** One browser per test file, launched on first use and closed when the file ends. */
export function browser(): Promise<Browser> {
  shared ??= chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  return shared;
}

export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Requests to any origin but `origin` (aborted). */
  outside: string[];
  /** Console messages reporting a Content-Security-Policy violation, and page errors. */
  problems: string[];
  close(): Promise<void>;
}

/** A fresh context (own sessionStorage) and page on `origin`, with its outside requests blocked and recorded. */
export async function openPage(origin: string, viewport = { width: 1280, height: 800 }): Promise<WatchedPage> {
  const context = await (await browser()).newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const outside: string[] = [];
  const problems: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url === origin) return route.continue();
    if (url.startsWith('data:')) return route.continue();
    outside.push(url);
    return route.abort();
  });
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => void d.accept());
  page.setDefaultTimeout(15_000);
  return { context, page, outside, problems, close: () => context.close() };
}

/** Open the console and sign in with `key`; resolves once the apps page shows. */
export async function signIn(page: Page, origin: string, key: string): Promise<void> {
  await page.goto(`${origin}/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Apps' }).waitFor();
}
