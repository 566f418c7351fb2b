// The library (SPEC 14): createLogplane and its API, in this process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createLogplane, LogplaneError, type Logplane, type LogplaneOptions, type TailEvent } from '../../src/logplane.js';
import { api } from '../support/api.js';
import { HttpReceiver } from '../support/drain-receivers.js';
import { tempDir } from '../support/server.js';
import { until } from '../support/wait.js';

/** An instance with no port and a fresh data dir, closed and removed by the returned cleanup. */
async function embedded(over: LogplaneOptions = {}): Promise<{ lp: Logplane; done: () => Promise<void> }> {
  const dir = tempDir('logplane-embed-');
  const lp = await createLogplane({ dataDir: dir, http: false, syslog: false, logger: false, ...over });
  return {
    lp,
    done: async () => {
      await lp.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Listening TCP servers and UDP sockets of this process. */
function listeners(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'UDPWrap').length;
}

test('createLogplane with http: false and syslog: false opens no port; port 0 is any free port', async () => {
  const before = listeners();
  const { lp, done } = await embedded();
  try {
    assert.equal(listeners(), before);
    assert.equal(lp.url, null);
    assert.deepEqual(lp.ports, { http: null, syslog: null, udp: null, tls: null });
  } finally {
    await done();
  }
  const dir = tempDir('logplane-embed-');
  const withHttp = await createLogplane({ dataDir: dir, http: { port: 0 }, syslog: { port: 0 }, logger: false });
  try {
    assert.equal(listeners(), before + 3, 'HTTP, syslog TCP and UDP');
    assert.ok(withHttp.ports.syslog! > 0 && withHttp.ports.udp === withHttp.ports.syslog);
    assert.match(withHttp.url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${withHttp.url}/v3/healthcheck`);
    assert.equal(await res.text(), 'OK');
  } finally {
    await withHttp.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(listeners(), before);
});

test('two instances in one process do not share apps, lines or seqs', async () => {
  const a = await embedded();
  const b = await embedded();
  try {
    await a.lp.apps.create('myapp');
    await b.lp.apps.create('myapp');
    a.lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'one' });
    a.lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'two' });
    b.lp.publish('myapp', { source: 'app', dyno: 'web.2', msg: 'other' });
    assert.deepEqual((await a.lp.history('myapp')).map((l) => [l.seq, l.msg]), [[1, 'one'], [2, 'two']]);
    assert.deepEqual((await b.lp.history('myapp')).map((l) => [l.seq, l.msg]), [[1, 'other']]);
    await a.lp.apps.create('only-a');
    assert.equal(await b.lp.apps.get('only-a'), null);
  } finally {
    await a.done();
    await b.done();
  }
});

test('publish cooks like every ingest: CR/LF trimmed, one line per LF, 10,000-byte split; seq per line', async () => {
  const { lp, done } = await embedded();
  try {
    await lp.apps.create('myapp');
    assert.equal(lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'first\r\nsecond\n' }), 2);
    assert.equal(lp.publish('myapp', { source: 'heroku', dyno: 'router', msg: 'x'.repeat(25_000), time: Date.UTC(2024, 0, 2, 3, 4, 5, 678) }), 3);
    lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: Buffer.from([0x68, 0xff, 0x69]) });
    const h = await lp.history('myapp', { num: 10 });
    assert.deepEqual(h.map((l) => l.msg.length), [5, 6, 10_000, 10_000, 5_000, 3]);
    assert.deepEqual(h.map((l) => l.seq), [1, 2, 3, 4, 5, 6]);
    assert.equal(h[0]!.msg, 'first');
    assert.equal(h[2]!.time, '2024-01-02T03:04:05.678000+00:00');
    assert.equal(h[2]!.source, 'heroku');
    assert.equal(h[2]!.dyno, 'router');
    assert.match(h[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
  } finally {
    await done();
  }
});

test('publish keeps token strings out of a message it splits (SPEC 3.3), and a one-line message as given', async () => {
  const { lp, done } = await embedded();
  try {
    await lp.apps.create('myapp');
    const { token } = await lp.tokens.create('myapp', 'app');
    assert.equal(lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: `first\n<14>1 - host ${token} web.1 - - second` }), 2);
    lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: `one line ${token}` });
    const h = await lp.history('myapp', { num: 10 });
    assert.deepEqual(h.map((l) => l.msg), ['first', '<14>1 - host [token] web.1 - - second', `one line ${token}`]);
  } finally {
    await done();
  }
});

test('publish throws typed errors: unknown app (LPX_ERR_NOT_FOUND), bad fields (LPX_ERR_BAD_REQUEST)', async () => {
  const { lp, done } = await embedded();
  try {
    await lp.apps.create('myapp');
    assert.throws(
      () => lp.publish('nope', { source: 'app', dyno: 'web.1', msg: 'x' }),
      (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_NOT_FOUND' && /nope/.test(err.message),
    );
    const bad = (line: unknown, field: string) =>
      assert.throws(
        () => lp.publish('myapp', line as never),
        (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_BAD_REQUEST' && err.message.startsWith(field),
        field,
      );
    bad({ source: 'a b', dyno: 'web.1', msg: 'x' }, 'source');
    bad({ source: '', dyno: 'web.1', msg: 'x' }, 'source');
    bad({ source: 'app', dyno: 'x'.repeat(200), msg: 'x' }, 'dyno');
    bad({ source: 'app', dyno: 'web.1' }, 'msg');
    bad({ source: 'app', dyno: 'web.1', msg: 'x', time: new Date('garbage') }, 'time');
    bad(null, 'line');
    assert.equal((await lp.history('myapp')).length, 0, 'nothing of a refused line is stored');
  } finally {
    await done();
  }
});

test('a missing source or dyno is refused (LPX_ERR_BAD_REQUEST) also on an instance\'s first publish, never stored as "-"', async () => {
  const { lp, done } = await embedded();
  try {
    await lp.apps.create('myapp');
    const missing = (call: () => void, field: string) =>
      assert.throws(call, (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_BAD_REQUEST' && err.message.startsWith(`${field}:`), field);
    // each the first call of its kind on this instance: nothing remembered from an earlier line
    missing(() => lp.publish('myapp', { source: 'app', msg: 'no dyno' } as never), 'dyno');
    missing(() => lp.emit.platform('myapp', { code: 'R14' } as never), 'dyno');
    missing(() => lp.publish('myapp', { dyno: 'web.1', msg: 'no source' } as never), 'source');
    assert.deepEqual(await lp.history('myapp'), [], 'nothing of a refused line is stored');
  } finally {
    await done();
  }
});

test('publish refuses a message whose frame would pass 64 KiB, as the network ingest does; no buffer kept for it', async () => {
  const { lp, done } = await embedded();
  try {
    await lp.apps.create('myapp');
    const tooLarge = (msg: string | Uint8Array, extra: object = {}) =>
      assert.throws(
        () => lp.publish('myapp', { source: 'app', dyno: 'web.1', msg, ...extra }),
        (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_BAD_REQUEST' && /^msg: more than \d+ bytes/.test(err.message),
      );
    // `<190>1 TS host app web.1 - ` is 57 bytes with the 32-byte timestamp: 65,536 - 57 bytes of message fit
    assert.equal(lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'x'.repeat(65_479) }), 7);
    tooLarge('x'.repeat(65_480));
    tooLarge(Buffer.alloc(65_480, 0x78));
    tooLarge('\u00e9'.repeat(32_740), {}); // 65,480 bytes of UTF-8 in 32,740 units
    tooLarge('x'.repeat(65_475), { dyno: 'web.12345678' }); // a longer dyno leaves less room
    // at most 64 KiB per call: LFs split it into lines, at most ~32,768 of them
    assert.equal(lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'a\n'.repeat(32_000) }), 32_000);
    const before = process.memoryUsage().arrayBuffers;
    tooLarge('y'.repeat(100_000_000));
    tooLarge('y\n'.repeat(1_000_000));
    assert.ok(process.memoryUsage().arrayBuffers - before < 4 * 1024 * 1024, 'no buffer the size of a refused message');
    assert.deepEqual((await lp.history('myapp', { num: 1 })).map((l) => [l.seq, l.msg]), [[7 + 32_000, 'a']], 'nothing of a refused message is stored');
  } finally {
    await done();
  }
});

test('publish time: years 0000 to 9999 only (RFC 3339 has four-digit years)', async () => {
  const { lp, done } = await embedded();
  try {
    await lp.apps.create('myapp');
    lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'first', time: Date.parse('0000-01-01T00:00:00.000Z') });
    lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'last', time: new Date('9999-12-31T23:59:59.999Z') });
    for (const time of [-8e15, 8e15, Date.parse('0000-01-01T00:00:00.000Z') - 1, Date.parse('9999-12-31T23:59:59.999Z') + 1, new Date(-62_167_219_200_001)])
      assert.throws(
        () => lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'x', time }),
        (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_BAD_REQUEST' && err.message.startsWith('time:'),
        String(time),
      );
    assert.deepEqual(
      (await lp.history('myapp')).map((l) => l.time),
      ['0000-01-01T00:00:00.000000+00:00', '9999-12-31T23:59:59.999000+00:00'],
    );
  } finally {
    await done();
  }
});

test('apps.create is one change: past the token limit none of its tokens is added, and a new app is not made', async () => {
  const { lp, done } = await embedded({ settings: { LOGPLANE_MAX_TOKENS_PER_APP: 3 } });
  try {
    await lp.apps.create('myapp', { tokens: ['app', 'heroku'] });
    await assert.rejects(lp.apps.create('myapp', { tokens: ['app', 'one', 'two'] }), (err: unknown) => err instanceof LogplaneError && /at most 3/.test(err.message));
    assert.deepEqual(Object.keys((await lp.apps.get('myapp'))!.tokens).sort(), ['app', 'heroku']);
    await assert.rejects(lp.apps.create('fresh', { tokens: ['a', 'b', 'c', 'd'] }), /at most 3/);
    assert.equal(await lp.apps.get('fresh'), null);
    // up to the limit: all in one change
    assert.deepEqual(Object.keys((await lp.apps.create('myapp', { tokens: ['one'] })).tokens).sort(), ['app', 'heroku', 'one']);
  } finally {
    await done();
  }
});

test('apps and tokens: create is idempotent and adds missing tokens; get, list, destroy', async () => {
  const { lp, done } = await embedded();
  try {
    const made = await lp.apps.create('myapp', { tokens: ['app'] });
    assert.match(made.tokens['app'] ?? '', /^t\.[0-9a-f-]{36}$/);
    const again = await lp.apps.create('myapp', { tokens: ['app', 'heroku'] });
    assert.equal(again.tokens['app'], made.tokens['app']);
    assert.ok(again.tokens['heroku']);
    const t = await lp.tokens.create('myapp', 'router');
    assert.equal((await lp.apps.get('myapp'))!.tokens['router'], t.token);
    await lp.apps.create('other');
    assert.deepEqual((await lp.apps.list()).map((a) => a.id), ['myapp', 'other']);
    await lp.apps.destroy('other');
    assert.equal(await lp.apps.get('other'), null);
    await assert.rejects(lp.apps.create('Bad App'), (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_BAD_REQUEST');
    await assert.rejects(lp.apps.destroy('other'), (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_NOT_FOUND');
  } finally {
    await done();
  }
});

test('history: newest num lines, filtered by source and dyno (prefix + dot)', async () => {
  const { lp, done } = await embedded();
  try {
    await lp.apps.create('myapp');
    for (let i = 1; i <= 20; i++) lp.publish('myapp', { source: i % 2 ? 'app' : 'heroku', dyno: i % 4 < 2 ? 'web.1' : 'webhook.1', msg: `m${i}` });
    assert.deepEqual((await lp.history('myapp', { num: 3 })).map((l) => l.msg), ['m18', 'm19', 'm20']);
    assert.deepEqual((await lp.history('myapp', { num: 3, source: 'app', dyno: 'web' })).map((l) => l.msg), ['m9', 'm13', 'm17']);
    await assert.rejects(lp.history('myapp', { num: -1 }), (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_BAD_REQUEST');
    await assert.rejects(lp.history('nope'), (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_NOT_FOUND');
  } finally {
    await done();
  }
});

test('tail: history num, then live lines with filters; leaving the loop ends the tail', async () => {
  const { lp, done } = await embedded();
  try {
    await lp.apps.create('myapp');
    lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'old' });
    const got: TailEvent[] = [];
    const tail = lp.tail('myapp', { num: 1, dyno: 'web', grep: 'keep' });
    const reading = (async () => {
      for await (const ev of tail) {
        got.push(ev);
        if (ev.type === 'line' && ev.msg === 'keep 3') break;
      }
    })();
    lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'keep 1' });
    lp.publish('myapp', { source: 'app', dyno: 'worker.1', msg: 'keep 2' });
    lp.publish('myapp', { source: 'app', dyno: 'web.2', msg: 'drop me' });
    lp.publish('myapp', { source: 'app', dyno: 'web.2', msg: 'keep 3' });
    await reading;
    // the history line "old" does not match grep: only the live matches
    assert.deepEqual(got.map((e) => (e.type === 'line' ? `${e.seq} ${e.dyno} ${e.msg}` : e.type)), ['2 web.1 keep 1', '5 web.2 keep 3']);
    const server = (await import('../../src/logplane.js')).serverOf(lp);
    await until('the tail is closed', () => server.tails.tailCount === 0, 5000);
  } finally {
    await done();
  }
});

test('tail: a reader that falls behind gets a gap with the exact count, as a network tail does', async () => {
  const { lp, done } = await embedded({ settings: { LOGPLANE_TAIL_QUEUE_LINES: 100 } });
  try {
    await lp.apps.create('myapp');
    const it = lp.tail('myapp')[Symbol.asyncIterator]();
    const total = 30_000;
    // published in several ticks while nobody reads: the reader's buffer fills, then its queue drops the oldest
    for (let t = 0; t < 30; t++) {
      for (let i = 0; i < total / 30; i++) lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: `line ${t * (total / 30) + i + 1} ${'x'.repeat(100)}` });
      await new Promise((r) => setImmediate(r));
    }
    let lines = 0;
    let dropped = 0;
    let last = 0;
    let gaps = 0;
    while (lines + dropped < total) {
      const r = await it.next();
      assert.ok(!r.done, 'the tail ended early');
      const ev = r.value;
      if (ev.type === 'gap') {
        gaps++;
        dropped += ev.dropped;
        assert.equal(ev.from, last + 1);
        last = ev.to;
      } else {
        assert.equal(ev.seq, last + 1, 'lines in order, none missing without a gap');
        last = ev.seq;
        lines++;
      }
    }
    assert.ok(gaps >= 1, 'a gap was reported');
    assert.equal(lines + dropped, total);
    await it.return!();
  } finally {
    await done();
  }
});

test('drains: add, list with status, remove by URL; lines published reach the drain', async () => {
  const rx = await HttpReceiver.start();
  const { lp, done } = await embedded({ settings: { LOGPLANE_DRAIN_ALLOW_PRIVATE: true } });
  try {
    await lp.apps.create('myapp');
    const d = await lp.drains.add('myapp', rx.url());
    assert.match(d.token, /^d\.[0-9a-f-]{36}$/);
    lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'to the drain' });
    await until('the drain delivers', async () => (await lp.drains.list('myapp'))[0]!.status.delivered === 1, 10_000);
    assert.ok(rx.requests.some((r) => r.body.toString().endsWith('app web.1 - to the drain\n')));
    await assert.rejects(lp.drains.add('myapp', rx.url()), (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_CONFLICT');
    await lp.drains.remove('myapp', rx.url());
    assert.deepEqual(await lp.drains.list('myapp'), []);
  } finally {
    await done();
    await rx.close();
  }
});

test('a private drain address is refused with the way to allow it that the library reads: its settings (the process environment is not read)', async () => {
  const { lp, done } = await embedded();
  try {
    await lp.apps.create('myapp');
    await assert.rejects(lp.drains.add('myapp', 'http://10.0.0.1/in'), (err: unknown) => {
      assert.ok(err instanceof LogplaneError);
      assert.match(err.message, /^url: 10\.0\.0\.1 is a private, loopback or link-local address \(.*settings: \{ LOGPLANE_DRAIN_ALLOW_PRIVATE: true \} for createLogplane\)$/);
      return true;
    });
  } finally {
    await done();
  }
});

test('drains.list status has latencyMs {p50, p99} and dropped1h, the values the HTTP API gives as latency_ms and dropped_1h (SPEC 16)', async () => {
  const rx = await HttpReceiver.start();
  rx.plan = (attempt) => (attempt === 0 ? 400 : undefined); // the first batch is refused for good: 1 line dropped
  const { lp, done } = await embedded({ http: { port: 0 }, settings: { LOGPLANE_DRAIN_ALLOW_PRIVATE: true } });
  try {
    await lp.apps.create('health');
    await lp.drains.add('health', rx.url());
    lp.publish('health', { source: 'app', dyno: 'web.1', msg: 'refused' });
    await until('the first batch is dropped', async () => (await lp.drains.list('health'))[0]!.status.dropped === 1, 10_000);
    lp.publish('health', { source: 'app', dyno: 'web.1', msg: 'delivered' });
    await until('the second is delivered', async () => (await lp.drains.list('health'))[0]!.status.delivered >= 1, 10_000);
    const s = (await lp.drains.list('health'))[0]!.status;
    assert.equal(s.dropped1h, 1);
    assert.equal(typeof s.latencyMs.p50, 'number');
    assert.equal(typeof s.latencyMs.p99, 'number');
    assert.ok(s.latencyMs.p50! <= s.latencyMs.p99!);
    const res = await api({ url: lp.url!, auth: `Bearer ${lp.apiKey}` }, 'GET', '/v3/channels/health/drains');
    assert.equal(res.status, 200);
    const http = res.json[0].status;
    assert.deepEqual({ p50: http.latency_ms.p50, p99: http.latency_ms.p99, dropped1h: http.dropped_1h }, { ...s.latencyMs, dropped1h: s.dropped1h });
  } finally {
    await done();
    await rx.close();
  }
});

test('bad options are refused with every problem listed', async () => {
  await assert.rejects(
    createLogplane({ historyLines: 0, settings: { LOGPLANE_NOPE: 1 }, http: false, syslog: false, logger: false }),
    (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_CONFIG' && /LOGPLANE_NOPE/.test(err.message) && /LOGPLANE_HISTORY_LINES/.test(err.message),
  );
});

test('unknown option keys are refused, each named, with the known key it is likely a typo of', async () => {
  const dir = tempDir('logplane-embed-');
  try {
    await assert.rejects(
      createLogplane({ dataDIr: dir, bogus: 1, http: false, syslog: { prot: 0 }, logger: false } as LogplaneOptions),
      (err: unknown) =>
        err instanceof LogplaneError &&
        err.code === 'LPX_ERR_CONFIG' &&
        err.message.includes('dataDIr: unknown option (did you mean dataDir?)') &&
        err.message.includes('bogus: unknown option') &&
        !/bogus: unknown option \(/.test(err.message) &&
        err.message.includes('syslog.prot: unknown option (did you mean syslog.port?)'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a closed instance refuses every call (LPX_ERR_STATE): it acknowledges no line and writes nothing to a data dir the next instance runs on', async () => {
  const dir = tempDir('logplane-embed-');
  const opts = { dataDir: dir, http: false, syslog: false, logger: false } as const;
  try {
    const old = await createLogplane(opts);
    await old.apps.create('kept', { tokens: ['app'] });
    old.publish('kept', { source: 'app', dyno: 'web.1', msg: 'saved at close' });
    const tail = old.tail('kept');
    await old.close();
    // the data dir is free again: the platform's next instance runs on it
    const next = await createLogplane(opts);
    try {
      const closed = (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_STATE' && /closed/.test(err.message);
      assert.throws(() => old.publish('kept', { source: 'app', dyno: 'web.1', msg: 'acknowledged, then lost' }), closed);
      assert.throws(() => old.emit.build('kept', { msg: 'Build succeeded' }), closed);
      assert.throws(() => old.tail('kept'), closed);
      await assert.rejects(old.apps.create('ghost', { tokens: ['app'] }), closed);
      await assert.rejects(old.apps.destroy('kept'), closed);
      await assert.rejects(old.tokens.create('kept', 'heroku'), closed);
      await assert.rejects(old.drains.add('kept', 'syslog://203.0.113.5:514'), closed);
      await assert.rejects(old.history('kept'), closed);
      await old.close(); // closing again is fine
      // the tail open at close ended
      assert.deepEqual(await tail[Symbol.asyncIterator]().next(), { done: true, value: undefined });
    } finally {
      await next.close();
    }
    // nothing the closed instance was asked afterwards reached the data dir
    const third = await createLogplane(opts);
    try {
      assert.deepEqual((await third.apps.list()).map((a) => [a.id, Object.keys(a.tokens), a.drains.length]), [['kept', ['app'], 0]]);
      assert.deepEqual((await third.history('kept')).map((l) => l.msg), ['saved at close']);
    } finally {
      await third.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a start that fails (port in use, data dir not a directory, Redis unreachable) rejects with a LogplaneError LPX_ERR_START, the system error as its cause', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const dir = tempDir('logplane-embed-');
  writeFileSync(join(dir, 'file'), '');
  const base = { dataDir: dir, syslog: false, logger: false } as const;
  const failed = (what: RegExp, cause?: string) => (err: unknown) =>
    err instanceof LogplaneError && err.code === 'LPX_ERR_START' && what.test(err.message) && (cause === undefined || (err.cause as NodeJS.ErrnoException).code === cause);
  try {
    await assert.rejects(createLogplane({ ...base, http: { port: (blocker.address() as AddressInfo).port } }), failed(/EADDRINUSE/, 'EADDRINUSE'));
    await assert.rejects(createLogplane({ ...base, http: false, dataDir: join(dir, 'file', 'dd') }), failed(/not a directory/));
    await assert.rejects(createLogplane({ ...base, http: false, redis: 'redis://127.0.0.1:1', apiKey: 'embedded-admin-key-0123456789' }), failed(/cannot reach Redis/));
    // each failed start let go of the data dir: the next one runs on it
    const lp = await createLogplane({ ...base, http: false });
    await lp.close();
  } finally {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
