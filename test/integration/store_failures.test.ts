// The embedded config store when the data dir cannot be written (SPEC 2):
// a config change answered 5xx changed nothing, now or after a restart; the
// answer says the data dir cannot be written; temp files never linger; a
// config.json of the wrong shape is named, field and all.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Registry } from '../../src/apps.js';
import { FileStore } from '../../src/store/file.js';
import { API_KEY, api, postLogs, syslog } from '../support/cluster.js';
import { FaultyFileStore, recordingLog } from '../support/faulty-store.js';
import { api as apiAs } from '../support/api.js';
import { as, createKey } from '../support/keys.js';
import { startServer, tempDir, type TestServer } from '../support/server.js';
import { fillFileSystem, isRoot, mountTmpfs } from '../support/tmpfs.js';

const ENV = { LOGPLANE_API_KEY: API_KEY, LOGPLANE_DRAIN_ALLOW_PRIVATE: '1' };

const temps = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.tmp'));

interface Breakage {
  /** Make every config write fail from now on (`url`: the server's). */
  breakWrites(url: string): void | Promise<void>;
  /** Let writes work again. */
  repair(): void;
  /** What the 5xx answers must say. */
  error: RegExp;
}

/**
 * Create two channels, break writes, try a PUT, a drain add, a DELETE and a
 * token create (all must answer 5xx and change nothing), repair, make one
 * successful write, restart on the same data dir: none of the failed
 * changes may appear.
 */
async function failedWritesLeaveNoTrace(dataDir: string, b: Breakage): Promise<void> {
  let s: TestServer | null = await startServer(ENV, { dataDir });
  try {
    const keep = await api(s.url, 'PUT', '/v3/channels/keep', { tokens: ['app'] });
    assert.equal(keep.status, 201, keep.text);
    const keepTokens = keep.json.tokens as Record<string, string>;
    assert.equal((await api(s.url, 'PUT', '/v3/channels/drained', { tokens: ['app'] })).status, 201);

    await b.breakWrites(s.url);
    const failed = {
      'PUT channel': await api(s.url, 'PUT', '/v3/channels/ghost', { tokens: ['app', 'heroku'] }),
      'POST drain': await api(s.url, 'POST', '/v3/channels/drained/drains', { url: 'http://127.0.0.1:9/ghost' }),
      'DELETE channel': await api(s.url, 'DELETE', '/v3/channels/keep'),
      'POST token': await api(s.url, 'POST', '/v3/channels/keep/tokens', { name: 'ghost' }),
      'PUT revoking tokens': await api(s.url, 'PUT', '/v3/channels/keep', { tokens: [] }),
    };
    for (const [what, r] of Object.entries(failed)) {
      assert.ok(r.status >= 500, `${what}: ${r.status} ${r.text}`);
      assert.equal(typeof r.json?.id, 'string', `${what}: ${r.text}`);
      assert.match(r.json.error, b.error, what);
    }

    // now: nothing of them
    const check = async (srv: TestServer, when: string) => {
      assert.equal((await api(srv.url, 'GET', '/v3/channels/ghost')).status, 404, `${when}: the failed PUT created nothing`);
      assert.deepEqual((await api(srv.url, 'GET', '/v3/channels/drained/drains')).json, [], `${when}: the failed drain add added nothing`);
      const k = await api(srv.url, 'GET', '/v3/channels/keep');
      assert.equal(k.status, 200, `${when}: the failed DELETE deleted nothing`);
      assert.deepEqual(k.json.tokens, keepTokens, `${when}: the failed token create and revoke changed no token`);
      assert.equal(await postLogs(srv.url, keepTokens['app']!, [syslog('still writing')]), 204, `${when}: the token still authenticates`);
    };
    await check(s, 'right after the failures');
    assert.deepEqual(temps(dataDir), [], 'a failed write leaves no temp file behind');

    b.repair();
    const after = await api(s.url, 'PUT', '/v3/channels/after', { tokens: ['app'] });
    assert.equal(after.status, 201, after.text);
    await s.close({ keepData: true });
    s = null;
    s = await startServer(ENV, { dataDir });
    await check(s, 'after a restart');
    assert.equal((await api(s.url, 'GET', '/v3/channels/after')).json.tokens.app, after.json.tokens.app, 'the successful write survived');
  } finally {
    await s?.close({ keepData: true });
  }
}

describe('a config write that fails changes nothing', () => {
  test('a config write that fails changes nothing, now or after a restart (injected: the journal cannot be opened)', async () => {
    const dataDir = tempDir();
    // a directory where the journal (opened for each append) should be fails every change
    const journal = join(dataDir, 'config.journal');
    const aside = join(dataDir, 'journal.aside');
    try {
      await failedWritesLeaveNoTrace(dataDir, {
        breakWrites: () => {
          renameSync(journal, aside);
          mkdirSync(journal);
        },
        repair: () => {
          rmSync(journal, { recursive: true });
          renameSync(aside, journal);
        },
        error: /./,
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  const inCi = process.env['CI'] === 'true';
  test('a config write on a full filesystem changes nothing, now or after a restart (a real full tmpfs)', { skip: !isRoot && !inCi ? 'needs root to mount a tmpfs (always runs in CI)' : false }, async () => {
    const fs = mountTmpfs('1m', 'logplane-full-');
    try {
      const filler = join(fs.dir, 'filler');
      await failedWritesLeaveNoTrace(join(fs.dir, 'data'), {
        breakWrites: async (url) => {
          // an append that fits in the journal's last, partly used page needs no new space: use that up with
          // deletes of channels named as long as the shortest change below (DELETE keep), until one fails
          const ids = Array.from({ length: 100 }, (_, i) => `sl${String(i).padStart(2, '0')}`);
          for (const id of ids) assert.equal((await api(url, 'PUT', `/v3/channels/${id}`, { tokens: [] })).status, 201);
          fillFileSystem(filler);
          for (const id of ids) if ((await api(url, 'DELETE', `/v3/channels/${id}`)).status >= 500) return;
          throw new Error('the full tmpfs still takes config writes after 100 of them');
        },
        repair: () => rmSync(filler),
        error: /data dir cannot be written \(no space left on the device\)/,
      });
    } finally {
      fs.unmount();
    }
  });
});

describe('what a data dir that cannot be written answers', () => {
  test('a full, read-only or forbidden data dir answers 503 saying it cannot be written, logged once with the path', async () => {
    const rec = recordingLog();
    const dataDir = tempDir();
    const store = new FaultyFileStore(dataDir, { log: rec.log });
    const s = await startServer(ENV, { dataDir, store, log: rec.log });
    try {
      const made = await api(s.url, 'PUT', '/v3/channels/a', { tokens: ['app'] });
      assert.equal(made.status, 201);
      const cases: Array<[string, RegExp]> = [
        ['ENOSPC', /no space left on the device/],
        ['EROFS', /the file system is read-only/],
        ['EACCES', /permission denied/],
      ];
      for (const [code, words] of cases) {
        store.failWith = code;
        for (const r of [await api(s.url, 'PUT', '/v3/channels/b', { tokens: ['app'] }), await api(s.url, 'POST', '/v3/channels/a/tokens', { name: 'w' })]) {
          assert.equal(r.status, 503, `${code}: ${r.text}`);
          assert.deepEqual(Object.keys(r.json).sort(), ['error', 'id'], 'the SPEC error shape');
          assert.equal(r.json.id, 'data_dir_unwritable');
          assert.match(r.json.error, /^the data dir cannot be written \(/);
          assert.match(r.json.error, words);
          assert.ok(!r.text.includes(dataDir), 'the client is not told the path');
        }
      }
      const failures = rec.records.filter((r) => r.at === 'store.write_failed');
      assert.equal(failures.length, 1, 'six failed writes, one log line');
      assert.equal(failures[0]!.level, 50, 'at error level');
      assert.equal(failures[0]!['path'], join(dataDir, 'config.json'));
      assert.equal(failures[0]!['code'], 'ENOSPC');
      store.failWith = null;
      assert.equal((await api(s.url, 'PUT', '/v3/channels/c', { tokens: ['app'] })).status, 201);
      const back = rec.records.filter((r) => r.at === 'store.write_recovered');
      assert.equal(back.length, 1);
      assert.equal(back[0]!['failedWrites'], 6);
      assert.ok(!rec.text().includes(made.json.tokens.app), 'no token in own logs');
      assert.ok(!rec.text().includes(API_KEY), 'no key in own logs');
    } finally {
      await s.close();
    }
  });
});

describe('a refused DELETE of a channel changes no API key', () => {
  test('the keys keep a channel whose delete could not be written, now and after a restart', async () => {
    const dataDir = tempDir();
    const store = new FaultyFileStore(dataDir);
    let s: TestServer | null = await startServer(ENV, { dataDir, store });
    try {
      assert.equal((await api(s.url, 'PUT', '/v3/channels/victim', { tokens: ['app'] })).status, 201);
      const k = await createKey(s, 'ci', 'viewer', ['victim']);
      // only the write that deletes the channel fails: a key change written apart from it would land
      store.failOnly = (written) => written.includes('"deleted":["victim"]');
      store.failWith = 'ENOSPC';
      const del = await api(s.url, 'DELETE', '/v3/channels/victim');
      assert.equal(del.status, 503, del.text);
      assert.equal(del.json.id, 'data_dir_unwritable');
      store.failWith = null;
      const check = async (srv: TestServer, when: string) => {
        assert.equal((await api(srv.url, 'GET', '/v3/channels/victim')).status, 200, `${when}: the channel is there`);
        assert.deepEqual((await apiAs(srv, 'GET', `/v3/keys/${k.id}`)).json.apps, ['victim'], `${when}: the key still names it`);
        assert.equal((await apiAs(as(srv, k), 'GET', '/v3/channels/victim')).status, 200, `${when}: the key still reads it`);
      };
      await check(s, 'right after the refusal');
      await s.close({ keepData: true });
      s = null;
      s = await startServer(ENV, { dataDir });
      await check(s, 'after a restart');
    } finally {
      await s?.close();
    }
  });
});

describe('config.json temp files', () => {
  test('temp files left by a crash are removed at start', async () => {
    const dataDir = tempDir();
    const secret = `t.${randomUUID()}`;
    writeFileSync(join(dataDir, 'config.json.4242.tmp'), `{"version":1,"apiKey":"${secret}","apps":[`);
    writeFileSync(join(dataDir, `config.json.${process.pid}.tmp`), `{"version":1,"apiKey":"${secret}"`);
    const s = await startServer(ENV, { dataDir });
    try {
      assert.deepEqual(temps(dataDir), []);
    } finally {
      await s.close();
    }
  });

  test('a failed write leaves no temp file behind', async () => {
    const dataDir = tempDir();
    const store = new FaultyFileStore(dataDir);
    const reg = new Registry(store, { historyLines: 10 });
    try {
      await reg.init();
      await reg.putApp('a', ['app']);
      store.failWith = 'ENOSPC';
      await assert.rejects(reg.createToken('a', 'worker'), { status: 503 });
      await assert.rejects(reg.putApp('b', ['app']), { status: 503 });
      assert.deepEqual(temps(dataDir), []);
    } finally {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a config.json of the wrong shape', () => {
  test('a config.json of the wrong shape stops the start naming the file and the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ version: 1, apiKey: null, apps: {} }, 'apps must be an array'],
      [[], 'the top level must be a JSON object'],
      [{ version: 2, apps: [] }, 'version must be 1 (found 2)'],
      [{ apiKey: 5, apps: [] }, 'apiKey must be a string or null'],
      [{ apps: [{ id: 'a', uuid: 'u', createdAt: 'c', updatedAt: 'u', tokens: {}, drains: [] }] }, 'apps[0].tokens must be an array'],
      [{ apps: [{ id: 'a', uuid: 'u', createdAt: 'c', updatedAt: 'u', tokens: [{ token: 7, name: 'app', createdAt: 'c' }], drains: [] }] }, 'apps[0].tokens[0].token must be a string'],
      [{ apps: [{ id: 'a', createdAt: 'c', updatedAt: 'u', tokens: [], drains: [] }] }, 'apps[0].uuid must be a string'],
      [{ apps: [{ id: 'a', uuid: 'u', createdAt: 'c', updatedAt: 'u', tokens: [], drains: null }] }, 'apps[0].drains must be an array'],
    ];
    for (const [data, field] of cases) {
      const dataDir = tempDir();
      try {
        writeFileSync(join(dataDir, 'config.json'), JSON.stringify(data));
        await assert.rejects(startServer(ENV, { dataDir }), (err: Error) => {
          assert.equal(err.message, `${join(dataDir, 'config.json')}: ${field}`);
          return true;
        });
        // the same through the store alone
        await assert.rejects(new FileStore(dataDir).load(), { message: `${join(dataDir, 'config.json')}: ${field}` });
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  });
});
