// A graceful stop while Redis is unreachable (SPEC 9: "what could not be
// written is counted and reported"; SPEC 10: SIGTERM flushes, bounded). The
// lines a node acknowledged are in its queue for Redis: its stop waits for
// Redis within its bound and writes them; what it still cannot write is
// counted (logplane_redis_lines_dropped_total{reason="stop"}), logged at
// error level, saved as counts in the node's data dir, and announced at its
// next start as a loss notice: the drain another node owns gets an L10 for
// them, and history reads say Logplane-Dropped. docs/reliability.md.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { tempDirs } from '../support/server.js';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { Server } from '../../src/server.js';
import type { ClusterOptions } from '../../src/cluster/cluster.js';
import { claimSaved, saveUnwritten, unwrittenDir } from '../../src/cluster/unwritten.js';
import { drainLease } from '../../src/redis/keys.js';
import { silentLog } from '../../src/obs/log.js';
import { QUIET_AUDIT } from '../support/quiet-audit.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { AUTH, API_KEY, api, fastCluster, postLogs, syslog } from '../support/cluster.js';
import { HttpReceiver, l10Count, msgText } from '../support/drain-receivers.js';
import { captureLog, type CapturedLog } from '../support/log.js';
import { until } from '../support/wait.js';

const ERROR = 50;

describe('a graceful stop while Redis is unreachable', () => {
  let redis: TestRedis;
  let admin: Redis;
  let rec: HttpReceiver;
  const dirs = tempDirs('logplane-stop-unwritten-');
  const dataDir = dirs.make;
  const running = new Set<Server>();

  before(async () => {
    redis = await startRedis({ persist: true });
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    admin.on('error', () => {});
    rec = await HttpReceiver.start(false);
  });
  /** Redis is stopped by the test (afterEach starts it again). */
  let down = false;
  const redisDown = async () => {
    down = true;
    await redis.stop();
  };
  const redisUp = async () => {
    await redis.restart();
    down = false;
  };
  afterEach(async () => {
    if (down) await redisUp();
    await Promise.all([...running].map((s) => s.close().catch(() => {})));
    running.clear();
    await admin.flushall();
    rec.requests.length = 0;
  });
  after(async () => {
    admin.disconnect();
    await rec.close();
    await redis.close();
    dirs.removeAll();
  });

  async function start(dir: string, log?: CapturedLog, cluster: Partial<ClusterOptions> = fastCluster): Promise<Server> {
    const config = loadConfig([], { LOGPLANE_PORT: '0', LOGPLANE_DATA_DIR: dir, LOGPLANE_LOG_LEVEL: 'info', REDIS_URL: redis.url, LOGPLANE_API_KEY: API_KEY, LOGPLANE_SYSLOG_PORT: '0', LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', ...QUIET_AUDIT });
    const s = await Server.start(config, { log: log?.log ?? silentLog(), cluster });
    running.add(s);
    return s;
  }

  async function stop(s: Server): Promise<void> {
    await s.close();
    running.delete(s);
  }

  const drained = (): string[] => rec.messages().map((f) => msgText('http', f));

  /** O owns the app's drain (started first, it takes the lease); X is the other node, where the lines go in. */
  async function twoNodes(app: string, xDir: string, xLog?: CapturedLog, xCluster?: Partial<ClusterOptions>): Promise<{ o: Server; x: Server; token: string }> {
    const o = await start(dataDir());
    const token = (await api(o.url, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).json.tokens.app as string;
    const d = await api(o.url, 'POST', `/v3/channels/${app}/drains`, { url: rec.url() });
    assert.equal(d.status, 201, d.text);
    await until('O holds the drain lease', async () => (await admin.get(drainLease(app, d.json.id as string))) === o.cluster!.nodeId, 10_000);
    const x = await start(xDir, xLog, xCluster);
    assert.notEqual(await admin.get(drainLease(app, d.json.id as string)), x.cluster!.nodeId);
    assert.equal(await postLogs(x.url, token, [syslog('before')]), 204);
    await until('the first line delivered', () => drained().includes('before'), 10_000);
    return { o, x, token };
  }

  const acked = Array.from({ length: 20 }, (_, i) => syslog(`acked-${i}`));

  test('Redis back within the stop bound: the stop writes the acknowledged lines, and the drain another node owns gets them', async () => {
    const xLog = captureLog();
    // a bound no restart of redis-server (and ioredis' reconnect, up to 1 s later) can miss on a loaded machine;
    // the 2 s default is the next test's
    const { x, token } = await twoNodes('back', dataDir(), xLog, { ...fastCluster, stopWaitMs: 30_000 });
    await redisDown();
    assert.equal(await postLogs(x.url, token, acked), 204);
    // Redis comes back only once the stop waits for it (its flush has begun, the 20 lines still queued)
    const history = x.cluster!.history;
    const flush = history.flush.bind(history);
    let waiting = false;
    history.flush = (ms) => {
      waiting = true;
      return flush(ms);
    };
    const stopping = stop(x);
    await until('the stop waits for Redis', () => waiting, 10_000);
    assert.equal(history.pendingLines, 20, 'the lines are still queued when Redis comes back');
    await redisUp();
    await stopping;
    await until('all 20 acknowledged lines delivered by the owner', () => drained().filter((m) => m.startsWith('acked-')).length === 20, 15_000);
    assert.equal(drained().filter((m) => l10Count(m) !== null).length, 0, 'no L10: nothing was lost');
    assert.equal(xLog.at('cluster.unwritten').length, 0);
    assert.deepEqual(xLog.at('cluster.left').map((e) => e['unwritten']), [0]);
  });

  test('Redis still down at the end of the bound: counted, logged at error level, saved without line content, and announced (L10, Logplane-Dropped) at the next start', async () => {
    const xDir = dataDir();
    const xLog = captureLog();
    const { o, x, token } = await twoNodes('down', xDir, xLog);
    await redisDown();
    assert.equal(await postLogs(x.url, token, acked), 204);
    const t0 = Date.now();
    await stop(x);
    // the stop waited for Redis (its 2 s bound), then gave up
    assert.ok(Date.now() - t0 >= 1500, `the stop waited for Redis (${Date.now() - t0} ms)`);
    const err = xLog.at('cluster.unwritten');
    assert.equal(err.length, 1, JSON.stringify(xLog.entries().slice(-5)));
    assert.equal(err[0]!.level, ERROR);
    assert.equal(err[0]!['lines'], 20);
    assert.equal(err[0]!['savedLines'], 20);
    const metrics = await x.ctx.metrics.registry.render();
    assert.match(metrics, /^logplane_redis_lines_dropped_total\{reason="stop"\} 20$/m);
    // no user content in own logs, nor in the saved file
    assert.ok(!JSON.stringify(xLog.entries()).includes('acked-'));
    const files = readdirSync(unwrittenDir(xDir));
    assert.equal(files.length, 1);
    const saved = readFileSync(join(unwrittenDir(xDir), files[0]!), 'utf8');
    assert.ok(!saved.includes('acked-'), saved);

    await redisUp();
    // Redis is back: had anything of the stopped node (a client left open) written the lines, O's drain would
    // deliver them. Its chance: O delivers a line sent after the restart, and ioredis' longest reconnect delay (1 s) passed.
    const upAt = Date.now();
    assert.equal(await postLogs(o.url, token, [syslog('after-restart')]), 204);
    await until('a line sent after the restart delivered by O', () => drained().includes('after-restart'), 15_000);
    await new Promise((r) => setTimeout(r, Math.max(0, upAt + 1500 - Date.now())));
    assert.equal(drained().filter((m) => m.startsWith('acked-')).length, 0, 'the lines never reached Redis');
    assert.equal(drained().filter((m) => l10Count(m) !== null).length, 0, 'no announcement yet');

    // the node starts again on its data dir: the loss is announced in the app's stream
    const x2Log = captureLog();
    const x2 = await start(xDir, x2Log);
    await until('an L10 for the 20 lines at the drain O owns', () => drained().some((m) => l10Count(m) === 20), 15_000);
    await until('the saved file removed once announced', () => readdirSync(unwrittenDir(xDir)).length === 0, 10_000);
    const h = await fetch(`${o.url}/v3/channels/down/logs?num=100`, { headers: { authorization: AUTH } });
    assert.equal(h.status, 200);
    assert.ok(Number(h.headers.get('logplane-dropped')) >= 20, `Logplane-Dropped: ${h.headers.get('logplane-dropped')}`);
    await stop(x2);
    assert.equal(x2Log.at('cluster.unwritten').length, 0);
    assert.equal(readdirSync(unwrittenDir(xDir)).length, 0);
  });
});

describe('the saved counts in the data dir (unwritten.ts)', () => {
  const root = mkdtempSync(join(tmpdir(), 'logplane-unwritten-files-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const none = () => false;

  test('a write that fails (no room for the file) leaves nothing to read back', async () => {
    const dir = join(root, 'blocked');
    mkdirSync(dir);
    // the unwritten directory cannot be made: a file is in its place
    writeFileSync(join(dir, 'unwritten'), '');
    await assert.rejects(saveUnwritten(dir, 'node-a', new Map([['app', { n: 3, since: 1 }]])));
    rmSync(join(dir, 'unwritten'));
    assert.deepEqual((await claimSaved(dir, 'node-b', none)).losses, []);
  });

  test('a crash mid-write leaves a temp file, never read and cleared; a whole file is claimed once', async () => {
    const dir = join(root, 'crash');
    await saveUnwritten(dir, 'node-a', new Map([['app', { n: 7, since: 1000 }]]));
    // node-c died while writing its file: only the temp file exists, cut short
    writeFileSync(join(unwrittenDir(dir), '.node-c.0badf00d.tmp'), '{"version":1,"node":"node-c","apps":{"app":{"n":5');
    const first = await claimSaved(dir, 'node-b', none);
    assert.deepEqual(first.losses, [{ app: 'app', n: 7, since: 1000 }]);
    assert.equal(first.bad, 0);
    assert.ok(!readdirSync(unwrittenDir(dir)).some((f) => f.endsWith('.tmp')), 'the temp file is cleared');
    // claimed: renamed to the claimer's id, so a second start does not take it while the claimer runs
    const second = await claimSaved(dir, 'node-d', (id) => id === 'node-b');
    assert.deepEqual(second.losses, []);
    // the claimer died before announcing: the next start takes it
    const third = await claimSaved(dir, 'node-d', none);
    assert.deepEqual(third.losses, [{ app: 'app', n: 7, since: 1000 }]);
  });

  test('a running node keeps its own file; a file that does not parse is reported, not read', async () => {
    const dir = join(root, 'live');
    await saveUnwritten(dir, 'node-a', new Map([['app', { n: 2, since: 5 }]]));
    assert.deepEqual((await claimSaved(dir, 'node-b', (id) => id === 'node-a')).losses, []);
    writeFileSync(join(unwrittenDir(dir), 'node-z.json'), '{"version":1,"apps":{"app":{"n":-1,"since":0}}}');
    const r = await claimSaved(dir, 'node-b', (id) => id === 'node-a');
    assert.equal(r.bad, 1);
    assert.deepEqual(r.losses, []);
  });
});
