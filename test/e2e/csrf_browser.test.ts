// Cross-site request forgery in a real headless Chromium (Debian's package,
// playwright-core): a page of another site posts to the management API while
// the browser holds the operator's Basic credentials for the server's origin
// (added by a Playwright route to every request to the server, as a browser
// does once the operator answered a Basic prompt; the Origin and
// Sec-Fetch-Site the browser set are kept). An HTML form with
// enctype="text/plain" makes a JSON body without a CORS preflight; it must
// change nothing (docs/api.md "Requests from web pages"). (A no-cors fetch
// from another site, which can send a body without any Content-Type, is
// not sent with the origin's cached Basic credentials by this Chromium; the
// Origin and Sec-Fetch-Site rules that refuse it anyway are tested over plain
// HTTP in api_edges.test.ts.)
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { browser, noBrowser } from '../support/browser.js';
import { startServer, type TestServer } from '../support/server.js';

const KEY = 'csrf-test-admin-key-0123456789';
const skip = noBrowser;

let ts: TestServer;
/** The attacker's site: serves the page named by its path's query (`?html=`). */
let evil: HttpServer;
let evilOrigin = '';
let context: BrowserContext;

before(async () => {
  if (skip) return;
  ts = await startServer({ LOGPLANE_API_KEY: KEY });
  await ts.server.ctx.registry.putApp('demo', ['app']);
  evil = createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(new URL(req.url ?? '/', 'http://x').searchParams.get('html') ?? '');
  });
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  // localhost is another site than 127.0.0.1, where the server is
  evilOrigin = `http://localhost:${(evil.address() as AddressInfo).port}`;
  context = await (await browser()).newContext();
  const basic = `Basic ${Buffer.from(`admin:${KEY}`).toString('base64')}`;
  await context.route(`${ts.url}/**`, (route) => route.continue({ headers: { ...route.request().headers(), authorization: basic } }));
});
after(async () => {
  await context?.close();
  evil?.close();
  await ts?.close();
});

/** Opens the attacker's page `html` and waits for the browser's request to `path` on the server; its status. */
async function attack(page: Page, path: string, html: string): Promise<number> {
  const answered = page.waitForResponse((r) => r.url() === `${ts.url}${path}`, { timeout: 15_000 });
  await page.goto(`${evilOrigin}/?html=${encodeURIComponent(html)}`);
  return (await answered).status();
}

/** A form that posts `{"<field>":"<value>","x":"="}` as text/plain to `path` on the server. */
function textPlainForm(path: string, json: Record<string, string>): string {
  const body = JSON.stringify({ ...json, x: '' }).slice(0, -2);
  const name = body.replace(/'/g, '&#39;');
  return `<form id=f method=POST enctype="text/plain" action="${ts.url}${path}"><input name='${name}' value='"}'></form><script>document.getElementById('f').submit()</script>`;
}

const drainUrls = () => ts.server.ctx.registry.require('demo').record.drains.map((d) => d.url);

test('the browser sends the held credentials: a JSON fetch from the server\'s own origin adds a drain', { skip }, async () => {
  // the control: without it the refusals below could come from credentials the browser never sent
  const page = await context.newPage();
  try {
    const own = `${ts.url}/v3/channels/demo`;
    const status = await page.goto(own).then((r) => r?.status());
    assert.equal(status, 200, 'the browser holds the key');
    const answered = page.waitForResponse((r) => r.request().method() === 'POST');
    await page.evaluate(async () => {
      // same origin, with the JSON type: what the console does
      await fetch('/v3/channels/demo/drains', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'https://own.example/d' }) });
    });
    assert.equal((await answered).status(), 201);
    assert.ok(drainUrls().includes('https://own.example/d'));
  } finally {
    await page.close();
  }
});

test('a text/plain form on another site cannot add a drain, a token, a key or a Platform drain', { skip }, async () => {
  const page = await context.newPage();
  try {
    const before = drainUrls();
    const tokens = ts.server.ctx.registry.require('demo').record.tokens.length;
    const cases: [string, Record<string, string>][] = [
      ['/v3/channels/demo/drains', { url: 'https://attacker.example/collect' }],
      ['/apps/demo/log-drains', { url: 'https://attacker.example/platform' }],
      ['/v3/channels/demo/tokens', { name: 'stolen' }],
      ['/v3/keys', { name: 'stolen', role: 'admin' }],
    ];
    for (const [path, json] of cases) {
      const status = await attack(page, path, textPlainForm(path, json));
      assert.equal(status, 403, `${path}: the forged post is refused`);
    }
    assert.deepEqual(drainUrls(), before, 'no drain added');
    assert.equal(ts.server.ctx.registry.require('demo').record.tokens.length, tokens, 'no token added');
    assert.equal(ts.server.ctx.access.keys.list().length, 0, 'no key added');
  } finally {
    await page.close();
  }
});

test('the API does not ask the browser for the key: a key given in the URL is not taken, so the browser cannot keep it', { skip }, async () => {
  // a Basic challenge on the API made the browser prompt (or use the URL's credentials) and then send the key to the origin from then on
  const plain = await (await browser()).newContext();
  try {
    const page = await plain.newPage();
    const r = await page.goto(`http://admin:${KEY}@${new URL(ts.url).host}/v3/channels`);
    assert.equal(r?.status(), 401);
    assert.equal(r?.headers()['www-authenticate'], undefined);
  } finally {
    await plain.close();
  }
});
