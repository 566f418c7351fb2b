// The built server as a child process (SPEC 2, 10): what the API
// acknowledged survives SIGKILL; SIGTERM exits 0 and saves the rings, which
// come back on start with seq continuing (no reuse); a SIGTERM that could not
// save them exits 1.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sendSyslog } from '../support/syslog.js';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '../support/server.js';
import { cleanEnv, killAll, runCli, spawnServer, type ServerProcess } from '../support/spawn.js';
import { stablePort } from '../support/net.js';
import { until } from '../support/wait.js';
import { api } from '../support/api.js';

const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});



async function historyCount(srv: ServerProcess, app: string): Promise<number> {
  const r = await fetch(`${srv.url}/v3/channels/${app}/logs?num=10000`, { headers: { authorization: srv.auth }, signal: AbortSignal.timeout(10_000) });
  await r.arrayBuffer();
  return Number(r.headers.get('logplex-msg-count'));
}

async function stats(srv: ServerProcess, app: string) {
  const r = await api(srv, 'GET', `/v3/channels?limit=1000`);
  return (r.json.channels as { channel: string; stats: { lines_in: number; ring_lines: number; last_seq: number } }[]).find((c) => c.channel === app)!.stats;
}

describe('durability of the built server', () => {
  it('every acknowledged app and token survives SIGKILL, and the tokens still authenticate', async () => {
    const dataDir = tempDir('logplane-e2e-');
    dirs.push(dataDir);
    const syslogPort = await stablePort();
    const a = await spawnServer({ dataDir, syslogPort });
    const expected = new Map<string, Record<string, string>>();
    for (let i = 0; i < 5; i++) {
      const r = await api(a, 'PUT', `/v3/channels/kill-${i}`, { tokens: ['app', 'heroku'] });
      assert.equal(r.status, 201, r.text);
      expected.set(`kill-${i}`, r.json.tokens);
    }
    const extra = await api(a, 'POST', '/v3/channels/kill-1/tokens', { name: 'worker' });
    assert.equal(extra.status, 200);
    expected.get('kill-1')!['worker'] = extra.json.token;
    const replaced = await api(a, 'PUT', '/v3/channels/kill-2', { tokens: ['router'] });
    assert.equal(replaced.status, 200);
    expected.set('kill-2', replaced.json.tokens);
    assert.equal((await api(a, 'DELETE', '/v3/channels/kill-4')).status, 204);
    expected.delete('kill-4');
    // right after the last acknowledgement: no chance to flush anything more
    const exit = await a.stop('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    assert.ok(existsSync(join(dataDir, 'server.json')), 'a crash leaves server.json behind');

    const b = await spawnServer({ dataDir, syslogPort });
    assert.equal(b.apiKey, a.apiKey, 'the generated key was saved');
    for (const [id, tokens] of expected) {
      const r = await api(b, 'GET', `/v3/channels/${id}`);
      assert.equal(r.status, 200, `${id}: ${r.text}`);
      assert.deepEqual(r.json.tokens, tokens, id);
    }
    assert.equal((await api(b, 'GET', '/v3/channels/kill-4')).status, 404, 'the acknowledged delete survived too');

    // every surviving token still authenticates: one line each, with its name as source
    let n = 0;
    for (const [id, tokens] of expected) {
      await sendSyslog(b.syslogPort!, Object.values(tokens).map((t) => `<190>1 2024-01-01T00:00:00Z h ${t} web.1 - - after restart`));
      n = Object.keys(tokens).length;
      await until(`${n} lines in ${id}`, async () => (await historyCount(b, id)) === n);
    }
    const r = await fetch(`${b.url}/v3/channels/kill-1/logs`, { headers: { authorization: b.auth } });
    const text = await r.text();
    for (const src of ['app', 'heroku', 'worker']) assert.ok(text.includes(` host ${src} web.1 - after restart\n`), text);
    const stop = await b.stop('SIGTERM');
    assert.equal(stop.code, 0, b.stderr());
  });

  it('SIGTERM exits 0 and saves the history; a restart restores it and seq continues without reuse', async () => {
    const dataDir = tempDir('logplane-e2e-');
    dirs.push(dataDir);
    const syslogPort = await stablePort();
    const a = await spawnServer({ dataDir, syslogPort });
    const app = await api(a, 'PUT', '/v3/channels/ring', { tokens: ['app'] });
    const token = app.json.tokens.app as string;
    const before = [1, 2, 3, 4, 5].map((i) => `<190>1 2024-01-01T00:00:0${i}Z h ${token} web.${i} - - line ${i}`);
    await sendSyslog(syslogPort, before);
    await until('5 lines', async () => (await historyCount(a, 'ring')) === 5);
    const historyA = await (await fetch(`${a.url}/v3/channels/ring/logs`, { headers: { authorization: a.auth } })).text();
    assert.equal((await stats(a, 'ring')).last_seq, 5);

    const exit = await a.stop('SIGTERM');
    assert.equal(exit.code, 0, a.stderr());
    assert.equal(existsSync(join(dataDir, 'server.json')), false, 'a graceful stop removes server.json');

    const b = await spawnServer({ dataDir, syslogPort });
    const historyB = await (await fetch(`${b.url}/v3/channels/ring/logs`, { headers: { authorization: b.auth } })).text();
    assert.equal(historyB, historyA, 'history restored byte for byte');
    let st = await stats(b, 'ring');
    assert.equal(st.last_seq, 5);
    assert.equal(st.ring_lines, 5);

    await sendSyslog(syslogPort, [6, 7, 8].map((i) => `<190>1 2024-01-01T00:00:0${i}Z h ${token} web.1 - - line ${i}`));
    await until('8 lines', async () => (await historyCount(b, 'ring')) === 8);
    st = await stats(b, 'ring');
    assert.equal(st.last_seq, 8, 'new lines continue after the restored seq');
    assert.equal(st.lines_in, 3);
    const all = await (await fetch(`${b.url}/v3/channels/ring/logs`, { headers: { authorization: b.auth } })).text();
    assert.ok(all.startsWith(historyA));
    assert.deepEqual(
      [...all.matchAll(/ - (line \d)\n/g)].map((m) => m[1]),
      [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `line ${i}`),
    );
    assert.equal((await b.stop('SIGTERM')).code, 0, b.stderr());
  });

  it('a SIGTERM that could not save the rings or the sessions still stops, but exits 1 naming what was lost', async () => {
    const dataDir = tempDir('logplane-e2e-');
    dirs.push(dataDir);
    const a = await spawnServer({ dataDir });
    assert.equal((await api(a, 'PUT', '/v3/channels/lost', { tokens: ['app'] })).status, 201);
    // a directory where each file goes: the rename over it fails (EISDIR), as a full disk fails the write
    mkdirSync(join(dataDir, 'rings.bin'));
    mkdirSync(join(dataDir, 'sessions.json'));
    const exit = await a.stop('SIGTERM');
    const out = a.stdout() + a.stderr();
    assert.deepEqual(exit, { code: 1, signal: null }, out);
    assert.match(out, /"at":"rings\.save_failed"/);
    assert.match(out, /"at":"sessions\.save_failed"/);
    assert.match(out, /"at":"server\.stop_failed","err":"stopped, but could not save sessions: EISDIR[^"]*; rings: EISDIR/);
    assert.equal(existsSync(join(dataDir, 'server.json')), false, 'stopped all the same');
    assert.equal(existsSync(join(dataDir, 'lock')), false, 'the lock is released');
  });

  it('a config.json of the wrong shape stops `logplane serve` with one line naming the file and the field', async () => {
    const dataDir = tempDir('logplane-e2e-');
    dirs.push(dataDir);
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ version: 1, apiKey: null, apps: {} }));
    const r = await runCli(['serve', '--port', '0'], { env: cleanEnv({ LOGPLANE_DATA_DIR: dataDir, LOGPLANE_SYSLOG_PORT: '0' }) });
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr, `logplane: cannot start: ${join(dataDir, 'config.json')}: apps must be an array\n`);
  });
});
