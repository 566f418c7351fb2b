// What one history append costs Redis, and which part of it costs what
// (`node dist/bench/redis_append_cost.js [--chunks N] [--lines N] [--rounds N]`,
// about half a minute).
//
// One redis-server (started here, no persistence) is sent the layout-2
// append transaction of cluster/append-wire.ts for 100 apps, four appends per
// pipeline as four shippers' requests make them in redis_ingest, chunks of
// 500 lines of 120 bytes by default (one request's lines: in redis_ingest a
// chunk is one request), each app's history full (1,500 lines: every append
// also trims), nobody listening (no PUBLISH). The commands are sent through
// ioredis here, not by logplane's hand-written protocol: Redis runs the same
// commands either way, and only Redis' CPU is measured (INFO cpu, user +
// system, over the measured chunks).
//
// Besides the transaction as logplane sends it (MULTI, RPUSH of the blob,
// EVALSHA of the bookkeeping, EXEC), variants that change one part, so the
// difference says what that part costs Redis:
//   EVAL              the bookkeeping by its text, as while the node publishes
//                     (and as every append before session 12): what hashing the
//                     script text costs (Redis hashes an EVAL's script each time
//                     it is queued and again when EXEC runs it)
//   no blob           a 1-byte element instead of the chunk's blob: what the
//                     bytes cost (reading them from the socket, storing them)
//   no bookkeeping    without the script (the list trimmed by LTRIM): what
//                     the bookkeeping script costs
// The configurations alternate, --rounds times (default 5); the table shows
// each one's median (rounds on this shared machine vary by +-10%).
import { Redis } from 'ioredis';
import { APPEND_META_LUA } from '../src/redis/scripts.js';
import { appChannel, appChunks, appConfig, appFirsts, appLines, appMeta, appSent, appTrims } from '../src/redis/keys.js';
import { startRedis } from '../test/support/redis.js';
import { redisCpu } from './support/redis-info.js';
import { renderTable } from './support/table.js';
import type { Column, Value } from './case.js';

const APPS = 100;
const CAP = 1500;
const PER_PIPELINE = 4;
const LINE_BYTES = 120;

type Variant = 'as sent' | 'EVAL' | 'no blob' | 'no bookkeeping';
const VARIANTS: readonly Variant[] = ['as sent', 'EVAL', 'no blob', 'no bookkeeping'];

function option(name: string, dflt: number, min: number, max: number): number {
  const i = process.argv.indexOf(name);
  const v = i === -1 ? dflt : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} needs a whole number from ${min} to ${max}`);
  return v;
}


async function main(): Promise<void> {
  const chunks = option('--chunks', 8000, PER_PIPELINE, 1_000_000);
  const lines = option('--lines', 500, 1, 5000);
  const rounds = option('--rounds', 5, 1, 20);
  const redis = await startRedis();
  const r = new Redis(redis.url);
  try {
    const metaSha = String(await r.script('LOAD', APPEND_META_LUA));
    // a blob of `lines` records: the chunk header (6 + 2 per record) and the records
    const blob = Buffer.alloc(6 + 2 * lines + LINE_BYTES * lines, 0x61);
    let id = 0;
    let seq = 1;
    const send = async (v: Variant, n: number): Promise<void> => {
      for (let done = 0; done < n; done += PER_PIPELINE) {
        const p = r.pipeline();
        for (let j = 0; j < PER_PIPELINE; j++) {
          const app = `bench-app-${id % APPS}`;
          id++;
          seq += lines;
          const keys = [appChunks(app), appFirsts(app), appMeta(app), appSent(app, 'bench-node'), appLines(app), appTrims(app), appConfig(app)];
          const args = [CAP, appChannel(app), 'PUBLISH', id, lines, seq, 0, '', '0', '', 0];
          p.call('MULTI');
          p.rpush(keys[0]!, v === 'no blob' ? 'x' : blob);
          if (v === 'EVAL') p.eval(APPEND_META_LUA, keys.length, ...keys, ...args);
          else if (v !== 'no bookkeeping') p.evalsha(metaSha, keys.length, ...keys, ...args);
          // without the bookkeeping the list is kept as long by hand
          else p.ltrim(keys[0]!, -Math.ceil(CAP / lines), -1);
          p.call('EXEC');
        }
        const res = await p.exec();
        for (const [err] of res ?? []) if (err) throw err;
      }
    };
    const perChunk = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    for (let round = 0; round < rounds; round++) {
      for (const v of VARIANTS) {
        await r.flushall();
        // the apps exist (the bookkeeping discards an append to an app without its record)
        for (let i = 0; i < APPS; i++) await r.set(appConfig(`bench-app-${i}`), '{}');
        // every app's history full first: each measured append also trims
        await send(v, APPS * Math.ceil(CAP / lines) * 2);
        const c0 = await redisCpu(r);
        await send(v, chunks);
        perChunk.get(v)!.push(((await redisCpu(r)) - c0) / chunks);
      }
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
    const full = median(perChunk.get('as sent')!);
    const rows: Record<string, Value>[] = VARIANTS.map((v) => {
      const us = median(perChunk.get(v)!) * 1e6;
      return { variant: v, us, nsLine: (us * 1000) / lines, part: v === 'as sent' ? null : (v === 'EVAL' ? us - full * 1e6 : full * 1e6 - us).toFixed(1), range: perChunk.get(v)!.map((x) => (x * 1e6).toFixed(1)).join(', ') };
    });
    const columns: Column[] = [
      { key: 'variant', label: 'append' },
      { key: 'us', label: 'Redis CPU', unit: 'µs/chunk', digits: 1 },
      { key: 'nsLine', label: 'Redis CPU', unit: 'ns/line', digits: 0 },
      { key: 'part', label: 'the part changed (µs/chunk)' },
      { key: 'range', label: 'each round (µs/chunk)' },
    ];
    process.stdout.write(`redis_append_cost: ${APPS} apps, ${lines}-line chunks of ${LINE_BYTES}-byte lines, ${PER_PIPELINE} appends per pipeline, history ${CAP} lines per app, ${chunks.toLocaleString('en-US')} chunks per configuration, ${rounds} rounds (medians)\n\n`);
    process.stdout.write(`${renderTable(columns, rows)}\n`);
  } finally {
    r.disconnect();
    await redis.close();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`redis_append_cost: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
