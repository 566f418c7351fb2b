// A node's stats write (cluster/node-stats.ts): one pipeline a period for the
// console's lines/s, the rate limit's report and the apps' line counts; the
// counts' batches sent again as they were until applied, also by a graceful
// stop, which then writes the counts that waited behind them; and what the
// readers accept from Redis (bounded, validated).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Registry, type App } from '../../src/apps.js';
import { MemoryStore } from '../../src/store/memory.js';
import { lineFrom } from '../../src/line.js';
import { silentLog } from '../../src/obs/log.js';
import { Child } from '../../src/obs/metrics.js';
import { NodeStats } from '../../src/cluster/node-stats.js';
import { parseCounts } from '../../src/cluster/counts.js';
import { LimitShares, addPreviousReport, addReport, encodeReport, reportStamp, writesRecord, MAX_REPORT_CHARS, type LimitShareTarget } from '../../src/cluster/limit-share.js';
import type { NodeRegistry } from '../../src/cluster/nodes.js';
import { COUNT_SHARDS, appCounts, countShard, nodeCountsSeq, nodeLimitShare, nodeRates } from '../../src/redis/keys.js';
import { addBlock } from '../../src/cluster/rates.js';
import { LineRates } from '../../src/buffer/rates.js';

interface Sent {
  name: string;
  args: unknown[];
}

/** A Redis of one endpoint that records each pipeline (and DEL, the stop's); `answer` gives each command's reply (or throws: the whole pipeline fails). */
function fakeRedis(answer: (c: Sent) => unknown): { redis: Redis; pipelines: Sent[][]; fail: { next: boolean } } {
  const pipelines: Sent[][] = [];
  const fail = { next: false };
  const redis = {
    async del(...keys: unknown[]) {
      pipelines.push([{ name: 'del', args: keys }]);
      return keys.length;
    },
    pipeline() {
      const cmds: Sent[] = [];
      const p: Record<string, unknown> = new Proxy(
        {},
        {
          get(_t, name: string) {
            if (name === 'then') return undefined;
            if (name === 'exec') {
              return async () => {
                pipelines.push(cmds);
                if (fail.next) {
                  fail.next = false;
                  throw new Error('Connection is closed.');
                }
                return cmds.map((c) => [null, answer(c)]);
              };
            }
            return (...args: unknown[]) => {
              cmds.push({ name, args });
              return p;
            };
          },
        },
      );
      return p;
    },
  } as unknown as Redis;
  return { redis, pipelines, fail };
}

function rec(source: string, receivedMs: number): Buffer {
  return lineFrom({ pri: 190, ts: '2026-01-01T12:00:00Z', source, dyno: 'web.1', msg: 'hello', receivedMs });
}

async function registryWith(...ids: string[]): Promise<{ reg: Registry; apps: App[] }> {
  const reg = new Registry(new MemoryStore(), { historyLines: 10 });
  await reg.init();
  const apps = await Promise.all(ids.map(async (id) => (await reg.putApp(id, ['app'])).app));
  return { reg, apps };
}

/** Count n lines of `bytes` bytes into app, received now (what route() counts). */
function lines(app: App, n: number, bytes = 100): void {
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    app.linesIn++;
    app.bytesIn += bytes;
    app.rates.count(rec('app', now), now);
  }
}

function stats(redis: Redis, reg: Registry, live: string[] = ['me']): NodeStats {
  return new NodeStats({ redis, registry: reg, nodeId: 'me', live: () => live, periodMs: 1000, ttlMs: 5000, log: silentLog(), writeFailures: new Child(), partialReads: new Child() });
}

test("one write is one pipeline: the record's blocks and the limit's report, the other nodes' reports, the apps' counts", async () => {
  const { reg, apps } = await registryWith('shop');
  lines(apps[0]!, 3);
  const info = JSON.stringify({ url: 'x', index: 1, pid: 1, layout: 2, stats: 2 });
  const { redis, pipelines } = fakeRedis((c) => (c.name === 'get' && c.args[0] === 'lp:node:other' ? info : c.name === 'hget' ? `${Date.now()}|shop=4` : c.name === 'get' ? null : 1));
  const s = stats(redis, reg, ['me', 'other']);
  const target: LimitShareTarget & { shares: Map<string, number> } = {
    linesPerSec: 100,
    shares: new Map(),
    takeDemand: () => new Map([['shop', 3]]),
    setShare(id, v) {
      this.shares.set(id, v);
    },
    setAllShares() {},
  };
  s.limit = new LimitShares({ id: 'me', live: ['me', 'other'] } as unknown as NodeRegistry, target, { periodMs: 1000, log: silentLog() });

  await s.write();
  assert.equal(pipelines.length, 1, 'one round trip');
  let names = pipelines[0]!.map((c) => `${c.name} ${String(c.args[0])}`);
  const hset = pipelines[0]!.find((c) => c.name === 'hset' && c.args[0] === nodeRates('me'))!;
  const fields = hset.args.slice(1).filter((_, i) => i % 2 === 0) as string[];
  assert.ok(fields.some((f) => f.startsWith('shop:')), 'a block of the app');
  assert.ok(fields.includes(':limit'), "the limit's report, in the record");
  assert.ok(names.includes(`pexpire ${nodeRates('me')}`));
  assert.ok(names.includes(`lpAddCounts ${appCounts(countShard('shop'))}`), "the app's counts");
  // a node not known yet: its info, and its report both ways (its record's is the one when it has one)
  assert.ok(names.includes('get lp:node:other'));
  assert.ok(names.includes(`hget ${nodeRates('other')}`));
  assert.ok(names.includes(`get ${nodeLimitShare('other')}`));
  assert.ok(target.shares.get('shop')! < 100, "the other node's 4 lines/s scaled the share");

  await s.write();
  assert.equal(pipelines.length, 2);
  names = pipelines[1]!.map((c) => `${c.name} ${String(c.args[0])}`);
  assert.ok(names.includes(`hget ${nodeRates('other')}`), "the other node's report, from its record");
  assert.ok(!names.includes('get lp:node:other'), 'its info is known');
  assert.ok(!names.includes(`get ${nodeLimitShare('other')}`), 'nor the key of the previous release: the other node writes the record');
  assert.ok(!names.some((n) => n.startsWith(`set ${nodeLimitShare('me')}`)), 'no key of the previous release written: no node of it runs');
});

test("the counts' batch: sent again as it was (same number) until applied, the counts made meanwhile in the next one", async () => {
  const { reg, apps } = await registryWith('shop');
  const shop = apps[0]!;
  const key = appCounts(countShard('shop'));
  const { redis, pipelines, fail } = fakeRedis((c) => (c.name === 'lpAddCounts' ? 1 : 1));
  const s = stats(redis, reg);
  const batches = () => pipelines.at(-1)!.filter((c) => c.name === 'lpAddCounts');

  lines(shop, 5, 10);
  fail.next = true;
  await s.write();
  assert.deepEqual(batches().map((c) => c.args), [[key, nodeCountsSeq(countShard('shop'), 'me'), 1, 86_400_000, 'shop', '5', '50', '0']]);
  assert.equal(s.counts.unsent, 1);

  lines(shop, 2, 10);
  await s.write();
  assert.deepEqual(batches().map((c) => c.args.slice(2)), [[1, 86_400_000, 'shop', '5', '50', '0']], 'the same batch again, not 7 lines');
  assert.equal(s.counts.unsent, 0);

  await s.write();
  assert.deepEqual(batches().map((c) => c.args.slice(2)), [[2, 86_400_000, 'shop', '2', '20', '0']], 'the 2 lines counted meanwhile, as batch 2');
  await s.write();
  assert.equal(batches().length, 0, 'nothing new, no batch');

  // a deleted app made again under its name: the old field goes first, then the new app's batch
  await reg.deleteApp('shop');
  s.forget('shop');
  lines((await reg.putApp('shop', ['app'])).app, 1, 10);
  await s.write();
  const shard = pipelines.at(-1)!.filter((c) => c.args[0] === key);
  assert.deepEqual(shard.map((c) => [c.name, ...c.args.slice(1)]), [['hdel', 'shop'], ['lpAddCounts', nodeCountsSeq(countShard('shop'), 'me'), 3, 86_400_000, 'shop', '1', '10', '0']]);
  await s.write();
  assert.equal(pipelines.at(-1)!.filter((c) => c.args[0] === key).length, 0, 'done: nothing more');
});

test('a graceful stop: a batch out is sent again, then the counts that waited behind it; with Redis away it gives up after one write', async () => {
  const { reg, apps } = await registryWith('shop');
  const shop = apps[0]!;
  let down = false;
  const { redis, pipelines, fail } = fakeRedis(() => {
    if (down) throw new Error('Connection is closed.');
    return 1;
  });
  const s = stats(redis, reg);
  const batchesFrom = (k: number) => pipelines.slice(k).flatMap((p) => p.filter((c) => c.name === 'lpAddCounts').map((c) => c.args.slice(2)));

  lines(shop, 5, 10);
  fail.next = true;
  await s.write();
  assert.equal(s.counts.unsent, 1, 'batch 1 out: its reply was lost');
  lines(shop, 2, 10);
  let from = pipelines.length;
  await s.stop();
  assert.deepEqual(batchesFrom(from), [[1, 86_400_000, 'shop', '5', '50', '0'], [2, 86_400_000, 'shop', '2', '20', '0']], 'batch 1 again, then the 2 lines that waited behind it');
  assert.equal(s.counts.waiting, false);
  assert.deepEqual(pipelines.at(-1)!.map((c) => c.name), ['del'], "then the shard forgets the node's batches");

  // Redis away: one write that applies nothing ends the stop (no retries until the budget runs out)
  const other = stats(redis, reg);
  lines(shop, 1, 10);
  fail.next = true;
  await other.write();
  lines(shop, 1, 10);
  down = true;
  from = pipelines.length;
  const t0 = Date.now();
  await other.stop();
  assert.ok(Date.now() - t0 < 1000, `not waiting out its second (${Date.now() - t0} ms)`);
  assert.equal(pipelines.slice(from).filter((p) => p.some((c) => c.name === 'lpAddCounts')).length, 1, 'one try');
  assert.equal(other.counts.waiting, true, 'lost with the node, as at a crash');
});

test('a shard is picked from the id alone, within range and spread', () => {
  assert.equal(countShard('shop'), countShard('shop'));
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const s = countShard(`app-${i}`);
    assert.ok(Number.isInteger(s) && s >= 0 && s < COUNT_SHARDS);
    seen.add(s);
  }
  assert.equal(seen.size, COUNT_SHARDS);
});

test('what the readers take from Redis is bounded and validated', () => {
  assert.deepEqual(parseCounts('12,3400,5'), [12, 3400, 5]);
  // past 2^53 (16 digits) the script's sums are doubles printed whole: 17 digits are a count, not junk
  assert.deepEqual(parseCounts('12,10000000000000000,5'), [12, 1e16, 5]);
  assert.deepEqual(parseCounts(`1,${'9'.repeat(20)},1`), [1, 1e20, 1]);
  for (const bad of [null, 12, '', '1,2', '1,2,3,4', '-1,2,3', '1,2,x', '1.5,2,3', `${'9'.repeat(21)},1,1`, ' 1,2,3']) assert.equal(parseCounts(bad), null, String(bad));

  const into = new Map<string, number>();
  const report = encodeReport(1700000000000, new Map([['shop', 12.5], ['web.app', 3]]));
  assert.equal(report, '1700000000000|shop=12.5,web.app=3');
  assert.equal(reportStamp(report), '1700000000000');
  addReport(report, into);
  // junk figures are skipped, the rest kept: bad ids, bad numbers, no '='
  addReport('1|Bad=3,shop=x,shop=-2,shop=Infinity,x,=4,ok=1', into);
  assert.deepEqual([...into], [['shop', 12.5], ['web.app', 3], ['ok', 1]]);
  assert.equal(reportStamp('no stamp'), null);
  assert.equal(reportStamp(`1|${'a'.repeat(MAX_REPORT_CHARS)}`), null, 'too long: not read');
  assert.equal(reportStamp(42), null);

  const prev = new Map<string, number>();
  addPreviousReport('{"shop":7,"UPPER":1,"neg":-1,"s":"3"}', prev);
  addPreviousReport('[1,2]', prev);
  addPreviousReport('{not json', prev);
  addPreviousReport(`{"a":${'1'.repeat(MAX_REPORT_CHARS)}}`, prev);
  assert.deepEqual([...prev], [['shop', 7]]);

  assert.equal(writesRecord(JSON.stringify({ url: 'u', index: 1, pid: 2, layout: 2, stats: 2 })), true);
  assert.equal(writesRecord(JSON.stringify({ url: 'u', index: 1, pid: 2, layout: 2 })), false, 'the previous release');
  assert.equal(writesRecord(null), null, 'no info (yet)');
  assert.equal(writesRecord('{'), null);
  assert.equal(writesRecord('x'.repeat(5000)), null);

  // a block longer than a block can be is skipped whole
  const now = 1796534078;
  const series = new LineRates().series(now);
  addBlock(series, now, now - 2, `5,${'0,'.repeat(200)}1`);
  assert.equal(series.counts.app.reduce((a, b) => a + b, 0), 0);
});
