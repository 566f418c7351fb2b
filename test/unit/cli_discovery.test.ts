// Which URL and key the CLI picks (src/cli/client.ts discover), from env
// values and files only: no server is contacted.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { discover } from '../../src/cli/client.js';
import { writeRunFile } from '../../src/cli/runfile.js';
import { tempDir } from '../support/server.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A HOME with an optional credentials.json and a data dir with an optional config.json key. */
function setup(opts: { login?: unknown; localKey?: string }) {
  const home = tempDir('logplane-home-');
  const data = tempDir('logplane-data-');
  dirs.push(home, data);
  if (opts.login !== undefined) {
    mkdirSync(join(home, '.config', 'logplane'), { recursive: true });
    writeFileSync(join(home, '.config', 'logplane', 'credentials.json'), typeof opts.login === 'string' ? opts.login : JSON.stringify(opts.login));
  }
  if (opts.localKey) writeFileSync(join(data, 'config.json'), JSON.stringify({ version: 1, apiKey: opts.localKey, apps: [] }));
  return { home, data, env: { HOME: home, LOGPLANE_DATA_DIR: data } as NodeJS.ProcessEnv };
}

describe('CLI discovery', () => {
  it('no server.json and no login: the default URL with the local key', async () => {
    const { env, data } = setup({ localKey: 'local-key-0123456789' });
    assert.deepEqual(await discover(env), { url: 'http://127.0.0.1:8601', key: 'local-key-0123456789', dataDir: data, keyFrom: join(data, 'config.json'), urlNote: `LOGPLANE_URL is unset and there is no ${join(data, 'server.json')}` });
  });

  it('distributed mode (the key in server.json, no config.json): keyFrom names server.json, the file the key was read from', async () => {
    const { env, data } = setup({});
    await writeRunFile(data, { url: 'http://127.0.0.1:9001', localUrl: 'http://127.0.0.1:9001', pid: process.pid, startedAt: '', ports: { http: 9001, syslog: null, udp: null, tls: null }, apiKey: 'node-key-0123456789' });
    const t = await discover(env);
    assert.equal(t.key, 'node-key-0123456789');
    assert.equal(t.keyFrom, join(data, 'server.json'));
  });

  it("a stored login's URL goes with its own key, even with a local key at hand", async () => {
    const { env, home } = setup({ login: { url: 'http://127.0.0.1:9999/', key: 'login-key-0123456789' }, localKey: 'local-key-0123456789' });
    const t = await discover(env);
    assert.equal(t.url, 'http://127.0.0.1:9999');
    assert.equal(t.key, 'login-key-0123456789');
    assert.equal(t.keyFrom, join(home, '.config', 'logplane', 'credentials.json'));
  });

  it("the login's key is never sent to another server", async () => {
    const { env } = setup({ login: { url: 'https://logs.example.com', key: 'login-key-0123456789' } });
    await assert.rejects(discover({ ...env, LOGPLANE_URL: 'https://other.example.com' }), /^CliError: no API key for https:\/\/other\.example\.com: looked in LOGPLANE_API_KEY, \S+credentials\.json;/);
    assert.equal((await discover({ ...env, LOGPLANE_URL: 'https://logs.example.com/' })).key, 'login-key-0123456789');
  });

  it('a credentials file that is not JSON is one clear error naming it', async () => {
    const { env } = setup({ login: '{not json' });
    await assert.rejects(discover(env), /credentials\.json is not JSON; it should be \{"url":"https:\/\/\.\.\.","key":"\.\.\."\}/);
  });
});
