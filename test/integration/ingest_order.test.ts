// Issue 6, item 1: with ingest workers, per-app order and seq are preserved.
// Several TCP connections, UDP and POST /logs all write to the same two apps
// at once (one with a sink, so its lines take the copy path, one ring-only),
// with 0, 1 and 2 ingest workers. Afterwards each app's history must hold
// every line exactly once, seq must run 1, 2, 3... with no gap or repeat, and
// the lines of each connection (and of each request) must be in the order
// they were sent.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { App, LineSink } from '../../src/apps.js';
import { seqOf, viewOf } from '../../src/line.js';
import { startServer, type TestServer } from '../support/server.js';
import { settled, until } from '../support/wait.js';

const TS = '2026-01-02T03:04:05.678901+00:00';
const CONNECTIONS = 4;
const PER_CONNECTION = 3000;
const UDP_DATAGRAMS = 200;
const HTTP_REQUESTS = 10;
const PER_REQUEST = 50;

class CountingSink implements LineSink {
  n = 0;
  offer(): void {
    this.n++;
  }
}


const frame = (token: string, text: string): Buffer => {
  const m = Buffer.from(`<190>1 ${TS} host ${token} web.1 - - ${text}`);
  return Buffer.concat([Buffer.from(`${m.length} `), m]);
};

/** Write a stream in uneven pieces (frames split across writes), then end. */
function sendTcp(port: number, payload: Buffer, seed: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => {
      let p = 0;
      let x = seed;
      while (p < payload.length) {
        x = (x * 1103515245 + 12345) >>> 0;
        const n = 1 + (x % 9000);
        sock.write(payload.subarray(p, p + n));
        p += n;
      }
      sock.end();
    });
    sock.once('error', reject);
    sock.once('close', () => resolve());
  });
}

for (const workers of [0, 1, 2]) {
  describe(`ingest order with ${workers} ingest worker(s)`, () => {
    let srv: TestServer;
    after(async () => {
      await srv?.close();
    });

    test('every line once, seq 1..n without gaps, each connection and request in send order', async () => {
      srv = await startServer({ LOGPLANE_INGEST_WORKERS: String(workers), LOGPLANE_HISTORY_LINES: '100000' });
      const reg = srv.server.ctx.registry;
      const apps: { app: App; token: string; sink: CountingSink | null }[] = [];
      for (const [name, withSink] of [['order-sink', true], ['order-ring', false]] as const) {
        const { app } = await reg.putApp(name, ['app']);
        const sink = withSink ? new CountingSink() : null;
        if (sink) app.addSink(sink);
        apps.push({ app, token: app.record.tokens[0]!.token, sink });
      }

      // TCP: connection c sends "tcp c i" for i = 0.., alternating between the apps
      const sends: Promise<void>[] = [];
      for (let c = 0; c < CONNECTIONS; c++) {
        const frames: Buffer[] = [];
        for (let i = 0; i < PER_CONNECTION; i++) frames.push(frame(apps[i % 2]!.token, `tcp ${c} ${i}`));
        sends.push(sendTcp(srv.server.ports.syslog!, Buffer.concat(frames), c + 1));
      }
      // UDP, from one socket: datagrams of one sender arrive in order on loopback
      const udp = createSocket('udp4');
      const udpSent = (async () => {
        for (let i = 0; i < UDP_DATAGRAMS; i++) {
          const m = Buffer.from(`<190>1 ${TS} host ${apps[i % 2]!.token} web.1 - - udp 0 ${i}`);
          await new Promise<void>((resolve, reject) => udp.send(m, srv.server.ports.udp!, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
        }
      })();
      // HTTP: request r carries "http r i" for one app
      const posts: Promise<Response>[] = [];
      for (let r = 0; r < HTTP_REQUESTS; r++) {
        const a = apps[r % 2]!;
        const body = Buffer.concat(Array.from({ length: PER_REQUEST }, (_, i) => frame(a.token, `http ${r} ${i}`)));
        posts.push(
          fetch(`${srv.url}/logs`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/logplex-1', 'Logplex-Msg-Count': String(PER_REQUEST), Authorization: `Basic ${Buffer.from(`token:${a.token}`).toString('base64')}` },
            body,
          }),
        );
      }
      await Promise.all(sends);
      await udpSent;
      udp.close();
      for (const res of await Promise.all(posts)) assert.equal(res.status, 204);

      const tcpPerApp = (CONNECTIONS * PER_CONNECTION) / 2;
      const udpPerApp = UDP_DATAGRAMS / 2;
      const httpPerApp = (HTTP_REQUESTS / 2) * PER_REQUEST;
      const expected = tcpPerApp + udpPerApp + httpPerApp;
      // UDP may legitimately lose datagrams in the kernel; wait for TCP + HTTP and whatever UDP arrived
      await until('the TCP and HTTP lines', () => apps.every((a) => a.app.ring.count >= tcpPerApp + httpPerApp));
      // and whatever UDP arrived: the counts stop moving
      await settled('the ring counts', () => apps.map((a) => a.app.ring.count));

      for (const { app, sink } of apps) {
        const n = app.ring.count;
        assert.ok(n >= tcpPerApp + httpPerApp && n <= expected, `${app.id}: ${n} lines`);
        const last = new Map<string, number>();
        const seen = new Set<string>();
        for (let i = 0; i < n; i++) {
          const rec = app.ring.at(i);
          assert.equal(seqOf(rec), i + 1, `${app.id}: seq of line ${i}`);
          const [kind, stream, idx] = viewOf(rec).msg.split(' ');
          const key = `${kind} ${stream}`;
          const k = Number(idx);
          assert.ok(!seen.has(`${key} ${k}`), `${app.id}: ${key} ${k} twice`);
          seen.add(`${key} ${k}`);
          assert.ok(k > (last.get(key) ?? -1), `${app.id}: ${key} ${k} after ${last.get(key)}`);
          last.set(key, k);
        }
        // every TCP and HTTP line is there
        for (let c = 0; c < CONNECTIONS; c++) assert.equal([...seen].filter((s) => s.startsWith(`tcp ${c} `)).length, PER_CONNECTION / 2);
        assert.equal([...seen].filter((s) => s.startsWith('http ')).length, httpPerApp);
        // UDP took part: on loopback a few datagrams may be lost, not all of them
        assert.ok([...seen].some((s) => s.startsWith('udp ')), `${app.id}: no UDP line arrived`);
        assert.equal(app.ring.lastSeq, n);
        if (sink) assert.equal(sink.n, n, 'the sink was offered every line');
      }
    });
  });
}
