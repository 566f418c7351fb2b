// Own logs never carry a drain URL's secrets (SPEC 10, 12): the built server,
// at info level, with a drain whose URL has a password, an API key in the
// query and a key in the path, logs the drain (started, failing, stopped)
// with those parts as `***`; the admin API still answers the full URL.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { postLogs, syslog } from '../support/cluster.js';
import { HttpReceiver } from '../support/drain-receivers.js';
import { tempDir } from '../support/server.js';
import { killAll, spawnServer } from '../support/spawn.js';
import { until } from '../support/wait.js';
import { api } from '../support/api.js';

after(() => killAll());

test('a drain URL\'s password, query values and key-like path segments never reach own logs', async () => {
  const PASSWORD = 'hunter2-pw-0d9f';
  const APIKEY = 'ak_live_9f8e7d6c5b4a3f2e1d0c';
  const PATH_KEY = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
  const r = await HttpReceiver.start();
  r.mode = 'fail';
  const dataDir = tempDir('logplane-secrets-');
  const srv = await spawnServer({
    dataDir,
    env: { LOGPLANE_LOG_LEVEL: 'info', LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DRAIN_RETRIES: '0', LOGPLANE_DRAIN_BACKOFF_BASE_MS: '5' },
  });
  try {
    const put = await api(srv, 'PUT', '/v3/channels/secret', { tokens: ['app'] });
    assert.ok(put.status === 201, JSON.stringify(put.json));
    const token = (put.json as { tokens: Record<string, string> }).tokens['app']!;
    const url = `http://logs:${PASSWORD}@127.0.0.1:${r.port}/v1/${PATH_KEY}/input?apikey=${APIKEY}&tag=web`;
    const add = await api(srv, 'POST', '/v3/channels/secret/drains', { url });
    assert.equal(add.status, 201);
    const id = (add.json as { id: string }).id;

    // the endpoint answers 500: the batch is dropped and logged with its error
    assert.equal(await postLogs(srv.url, token, [syslog('hello')]), 204);
    await until('the batch dropped', async () => {
      const d = (await api(srv, 'GET', `/v3/channels/secret/drains/${id}`)).json as { status: { dropped: number } };
      return d.status.dropped >= 1;
    });
    // the admin sees the full URL
    const list = (await api(srv, 'GET', '/v3/channels/secret/drains')).json as Array<{ url: string }>;
    assert.equal(list[0]!.url, url);
    assert.equal(((await api(srv, 'GET', '/v3/channels/secret')).json as { drains: Array<{ url: string }> }).drains[0]!.url, url);

    assert.equal((await api(srv, 'DELETE', `/v3/channels/secret/drains/${id}`)).status, 204);
    await until('drain.stopped logged', () => srv.stdout().includes('drain.stopped') || srv.stderr().includes('drain.stopped'));
    assert.deepEqual(await srv.stop('SIGTERM'), { code: 0, signal: null });

    const logs = srv.stdout() + srv.stderr();
    // the drain was logged, with its URL redacted in the SPEC 12 form
    assert.ok(logs.includes('"at":"drain.started"'), logs);
    assert.ok(logs.includes('"at":"drain.batch_dropped"'), logs);
    assert.ok(logs.includes(`http://logs:***@127.0.0.1:${r.port}/v1/***/input?apikey=***&tag=***`), logs);
    for (const secret of [PASSWORD, APIKEY, PATH_KEY]) assert.ok(!logs.includes(secret), `own logs contain ${secret}:\n${logs}`);
  } finally {
    await srv.stop('SIGKILL');
    await r.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
