// Syslog ingest over real sockets: TCP (octet-counted and LF-terminated), UDP,
// TLS (RFC 5425), util-linux logger(1) as a real client, and the syslog rows
// of SPEC 11 (bad input is counted; only unframeable streams are closed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { App, LineSink } from '../../src/apps.js';
import { textLine } from '../../src/drains/frame.js';
import { viewOf, type LineView } from '../../src/line.js';
import { startServer, tempDir, type TestServer } from '../support/server.js';
import { until } from '../support/wait.js';
import { needs } from '../support/deps.js';

const TS = '2026-01-02T03:04:05.678901+00:00';

let srv: TestServer;
let certDir: string;
let cert: Buffer;
let appSeq = 0;


interface TestApp {
  app: App;
  /** token named `app` */
  token: string;
  /** every line routed to the app, in order (the ring may be smaller) */
  sink: RecordingSink;
}

class RecordingSink implements LineSink {
  readonly got: Buffer[] = [];
  offer(rec: Buffer): void {
    this.got.push(Buffer.from(rec));
  }
}

async function newApp(): Promise<TestApp> {
  const { app } = await srv.server.ctx.registry.putApp(`app${++appSeq}`, ['app', 'heroku']);
  const token = app.record.tokens.find((t) => t.name === 'app')!.token;
  const sink = new RecordingSink();
  app.addSink(sink);
  return { app, token, sink };
}

/** The app's history, read back from its ring. */
function history(app: App): Array<LineView & { text: string }> {
  const out: Array<LineView & { text: string }> = [];
  for (let i = 0; i < app.ring.count; i++) {
    const rec = app.ring.at(i);
    out.push({ ...viewOf(rec), text: textLine(rec).toString('utf8') });
  }
  return out;
}
const msgsOf = (app: App): string[] => history(app).map((l) => l.msg);

const dropped = (transport: string, reason: string): number => srv.server.ctx.metrics.ingestDropped.get(transport, reason);
const closedBy = (transport: string, reason: string): number => srv.server.ctx.metrics.connectionsClosed.get(transport, reason);
const accepted = (transport: string): number => srv.server.ctx.metrics.ingestLines.get(transport);

function msg(token: string, text: string, procid = 'web.1', ts = TS): string {
  return `<190>1 ${ts} myhost ${token} ${procid} - - ${text}`;
}
function octet(m: string | Buffer): Buffer {
  const b = typeof m === 'string' ? Buffer.from(m, 'utf8') : m;
  return Buffer.concat([Buffer.from(`${b.length} `), b]);
}

/** A TCP client to the syslog port that records whether the server closed it. */
interface Client {
  sock: Socket;
  closed: boolean;
  write(b: Buffer | string): Promise<void>;
}
async function tcpClient(): Promise<Client> {
  const sock = netConnect({ host: '127.0.0.1', port: srv.server.ports.syslog! });
  sock.setNoDelay(true);
  sock.on('error', () => {
    /* a reset by the server is expected in some tests */
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const c: Client = {
    sock,
    closed: false,
    write: (b) => new Promise<void>((resolve) => {
      sock.write(b, () => resolve());
    }),
  };
  sock.on('close', () => {
    c.closed = true;
  });
  // the server never sends anything; reading keeps 'end'/'close' flowing
  sock.resume();
  return c;
}

function hasLogger(): boolean {
  const r = spawnSync('logger', ['--help'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('--octet-count') && r.stdout.includes('--rfc5424');
}

function logger(args: string[], stdin?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('logger', args, { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`logger failed: ${err.message} ${stderr}`));
      else resolve();
    });
    // logger may exit before reading stdin when the message is an argument
    child.stdin?.on('error', () => {});
    child.stdin?.end(stdin ?? '');
  });
}

before(async () => {
  certDir = tempDir('logplane-tls-');
  const keyPath = join(certDir, 'key.pem');
  const certPath = join(certDir, 'cert.pem');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', keyPath, '-out', certPath, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `openssl failed: ${r.stderr}`);
  cert = readFileSync(certPath);
  srv = await startServer({
    LOGPLANE_HISTORY_LINES: '5000',
    LOGPLANE_SYSLOG_TLS_PORT: '6514', // any valid port: the test server binds a free one
    LOGPLANE_TLS_CERT: certPath,
    LOGPLANE_TLS_KEY: keyPath,
  });
  assert.ok(srv.server.ports.syslog && srv.server.ports.udp && srv.server.ports.tls);
});

after(async () => {
  await srv?.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('logger(1) as the client', { skip: needs('logger', 'bsdutils (util-linux logger with --octet-count and --rfc5424)', hasLogger()) }, () => {
  test('octet-counted RFC 5424 over TCP: message, source = token name, dyno = PROCID', async () => {
    const { app, token } = await newApp();
    const port = String(srv.server.ports.syslog);
    const base = ['--tcp', '--octet-count', '--rfc5424', '-n', '127.0.0.1', '-P', port, '--tag', token];
    await logger([...base, '--id=4242', 'hello from logger']);
    await logger([...base, '--id=77', '--msgid', 'MID7', '--sd-id', 'ex@32473', '--sd-param', 'k="v"', 'with msgid and sd']);
    await logger(base, 'stdin one\nstdin two\n');
    await until('4 lines from logger', () => app.ring.count >= 4);
    const h = history(app);
    assert.deepEqual(h.map((l) => l.msg), ['hello from logger', 'with msgid and sd', 'stdin one', 'stdin two']);
    assert.deepEqual(h.map((l) => l.dyno), ['4242', '77', '-', '-']);
    for (const l of h) {
      assert.equal(l.source, 'app');
      assert.equal(l.pri, 13); // user.notice
      assert.match(l.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$/);
      assert.ok(!l.text.includes(token), 'the token never appears in output');
    }
    assert.equal(h[0]!.text, `${h[0]!.ts} app[4242]: hello from logger`);
    assert.deepEqual(h.map((l) => l.seq), [1, 2, 3, 4]);
  });

  test('LF-terminated RFC 5424 over TCP (no octet count), and UDP', async () => {
    const { app, token } = await newApp();
    const port = String(srv.server.ports.syslog);
    await logger(['--tcp', '--rfc5424', '-n', '127.0.0.1', '-P', port, '--tag', token, '--id=9'], 'lf one\nlf two\nlf three\n');
    await until('3 LF-terminated lines', () => app.ring.count >= 3);
    await logger(['--udp', '--rfc5424', '-n', '127.0.0.1', '-P', port, '--tag', token, '--id=10', 'over udp']);
    await until('the UDP line', () => app.ring.count >= 4);
    const h = history(app);
    assert.deepEqual(h.map((l) => `${l.dyno}:${l.msg}`), ['9:lf one', '9:lf two', '9:lf three', '10:over udp']);
    assert.ok(h.every((l) => l.source === 'app'));
  });
});

describe('raw sockets', () => {
  test('TCP: octet-counted and LF-terminated frames mixed on one connection, with separators', async () => {
    const { app, token } = await newApp();
    const c = await tcpClient();
    const before = accepted('tcp');
    await c.write(Buffer.concat([
      octet(msg(token, 'one')),
      Buffer.from(`${msg(token, 'two', 'router')}\n`),
      octet(`${msg(token, 'three')}\n`),
      Buffer.from('\r\n'),
      octet(msg(token, 'multi\nline\r\nmessage', 'worker.3')),
      Buffer.from(`${msg(token, 'crlf')}\r\n`),
      octet(`<13>1 - h ${token} run.1 hello without msgid`),
    ]));
    // an LF frame without its LF is handed out when the sender ends the stream
    await c.write(msg(token, 'last, no LF'));
    c.sock.end();
    await until('9 lines', () => app.ring.count >= 9);
    await until('the connection to close after end', () => c.closed);
    const h = history(app);
    assert.deepEqual(h.map((l) => l.msg), ['one', 'two', 'three', 'multi', 'line', 'message', 'crlf', 'hello without msgid', 'last, no LF']);
    assert.deepEqual(h.map((l) => l.dyno), ['web.1', 'router', 'web.1', 'worker.3', 'worker.3', 'worker.3', 'web.1', 'run.1', 'web.1']);
    assert.equal(h[0]!.text, `${TS} app[web.1]: one`);
    assert.equal(h[7]!.ts.length, 32, 'nil TIMESTAMP replaced by the receive time');
    assert.equal(accepted('tcp') - before, 9);
  });

  test('UDP: one message per datagram, same port number', async () => {
    const { app, token } = await newApp();
    const sock = createSocket('udp4');
    const send = (b: string | Buffer): Promise<void> => new Promise((resolve, reject) => sock.send(b, srv.server.ports.udp!, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    try {
      const before = accepted('udp');
      const malformed = dropped('udp', 'malformed');
      await send(msg(token, 'dgram one'));
      await send(`${msg(token, 'dgram two', 'web.2')}\n`);
      // a datagram is not framed: a length prefix would be message text, so not RFC 5424
      await send(octet(msg(token, 'not a frame')));
      await send(msg(token, 'with\nLF'));
      await until('4 lines over UDP', () => app.ring.count >= 4);
      assert.deepEqual(history(app).map((l) => `${l.dyno}:${l.msg}`), ['web.1:dgram one', 'web.2:dgram two', 'web.1:with', 'web.1:LF']);
      assert.equal(accepted('udp') - before, 4);
      await until('the framed datagram counted as malformed', () => dropped('udp', 'malformed') === malformed + 1);
      const unknown = dropped('udp', 'unknown_token');
      await send(msg('t.00000000-0000-4000-8000-000000000000', 'nobody'));
      await until('unknown token over UDP counted', () => dropped('udp', 'unknown_token') === unknown + 1);
    } finally {
      sock.close();
    }
  });

  test("logplane run's L12 notice over syslog: the token is the APP-NAME, so the line is the token's (the heroku[logplane] allowance is POST /logs only)", async () => {
    const { app, token } = await newApp();
    const heroku = app.record.tokens.find((t) => t.name === 'heroku')!.token;
    const l12 = 'Error L12 (Local buffer overflow): 39 messages dropped since 2026-01-02T03:04:05.678000+00:00.';
    const c = await tcpClient();
    const unknown = dropped('tcp', 'unknown_token');
    await c.write(Buffer.concat([octet(msg(token, l12, 'logplane')), octet(msg('heroku', l12, 'logplane')), octet(msg(heroku, l12, 'logplane'))]));
    await until('two lines', () => app.ring.count === 2);
    await until('APP-NAME heroku (no such token) dropped and counted', () => dropped('tcp', 'unknown_token') === unknown + 1);
    assert.deepEqual(history(app).map((l) => `${l.source}[${l.dyno}]: ${l.msg}`), [`app[logplane]: ${l12}`, `heroku[logplane]: ${l12}`]);
    c.sock.destroy();
  });

  test('TLS (RFC 5425): octet-counted frames in a verified TLS session', async () => {
    const { app, token } = await newApp();
    const before = accepted('tls');
    const sock: TLSSocket = tlsConnect({ host: '127.0.0.1', port: srv.server.ports.tls!, ca: cert, servername: 'localhost' });
    sock.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
    assert.equal(sock.authorized, true);
    await new Promise<void>((resolve) => sock.write(Buffer.concat([octet(msg(token, 'over tls')), octet(msg(token, 'second', 'web.9')), Buffer.from(`${msg(token, 'lf frame')}\n`)]), () => resolve()));
    await until('3 lines over TLS', () => app.ring.count >= 3);
    assert.deepEqual(history(app).map((l) => `${l.source} ${l.dyno} ${l.msg}`), ['app web.1 over tls', 'app web.9 second', 'app web.1 lf frame']);
    assert.equal(accepted('tls') - before, 3);
    // garbage inside TLS closes that session, counted under tls
    const unframeable = dropped('tls', 'unframeable');
    let closed = false;
    sock.on('close', () => {
      closed = true;
    });
    sock.write('garbage\n');
    await until('the TLS session with garbage to be closed', () => closed);
    assert.equal(dropped('tls', 'unframeable'), unframeable + 1);
  });

  test('TLS: an unknown token drops that line, counted under tls; the session stays open', async () => {
    const { app, token } = await newApp();
    const unknown = dropped('tls', 'unknown_token');
    const sock: TLSSocket = tlsConnect({ host: '127.0.0.1', port: srv.server.ports.tls!, ca: cert, servername: 'localhost' });
    let closed = false;
    sock.on('error', () => {});
    sock.on('close', () => {
      closed = true;
    });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('secureConnect', resolve);
        sock.once('error', reject);
      });
      sock.write(Buffer.concat([octet(msg('t.00000000-0000-4000-8000-000000000000', 'stranger over tls')), octet(msg(token, 'known after unknown'))]));
      await until('the good line after the unknown token', () => app.ring.count === 1);
      assert.equal(dropped('tls', 'unknown_token'), unknown + 1);
      // the same session still carries lines
      sock.write(octet(msg(token, 'still open')));
      await until('a line on the same session', () => app.ring.count === 2);
      assert.equal(closed, false);
      assert.deepEqual(msgsOf(app), ['known after unknown', 'still open']);
    } finally {
      sock.destroy();
    }
  });

  test('TLS port: a plaintext client fails the handshake and the listener keeps serving', async () => {
    const { app, token } = await newApp();
    const hs = closedBy('tls', 'handshake');
    const plain = netConnect({ host: '127.0.0.1', port: srv.server.ports.tls! });
    plain.on('error', () => {});
    plain.write(octet(msg(token, 'plaintext to the TLS port')));
    plain.resume();
    await until('the failed handshake to be counted', () => closedBy('tls', 'handshake') === hs + 1);
    plain.destroy();
    const sock = tlsConnect({ host: '127.0.0.1', port: srv.server.ports.tls!, ca: cert, servername: 'localhost' }, () => sock.end(octet(msg(token, 'after the bad client'))));
    sock.on('error', () => {});
    await until('a line from a good TLS client', () => app.ring.count === 1);
    assert.deepEqual(msgsOf(app), ['after the bad client']);
  });
});

describe('bad input (SPEC 11)', () => {
  test('unknown token: line dropped and counted, connection kept', async () => {
    const { app, token } = await newApp();
    const c = await tcpClient();
    const unknown = dropped('tcp', 'unknown_token');
    await c.write(Buffer.concat([octet(msg('t.00000000-0000-4000-8000-000000000000', 'stranger')), octet(msg('not-even-a-token', 'x')), octet(msg(token, 'good after unknown'))]));
    await until('the good line after the unknown token', () => app.ring.count === 1);
    assert.equal(dropped('tcp', 'unknown_token'), unknown + 2);
    assert.equal(c.closed, false);
    // the same connection still works; a known token then an unknown one then known again
    await c.write(Buffer.concat([octet(msg(token, 'still open')), octet(msg('t.ffffffff-0000-4000-8000-000000000000', 'stranger')), octet(msg(token, 'and again'))]));
    await until('two more good lines', () => app.ring.count === 3);
    assert.deepEqual(msgsOf(app), ['good after unknown', 'still open', 'and again']);
    assert.equal(dropped('tcp', 'unknown_token'), unknown + 3);
    // the Prometheus text shows it with the SPEC's labels
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    const m = /^logplane_ingest_dropped_total\{transport="tcp",reason="unknown_token"\} (\d+)$/m.exec(text);
    assert.ok(m, text);
    assert.equal(Number(m[1]), unknown + 3);
    assert.equal(c.closed, false);
    c.sock.destroy();
  });

  test('a token removed while its connection is open is refused from the next line on', async () => {
    const { app, token } = await newApp();
    const heroku = app.record.tokens.find((t) => t.name === 'heroku')!.token;
    const c = await tcpClient();
    await c.write(octet(msg(token, 'while valid')));
    await until('the first line', () => app.ring.count === 1);
    const unknown = dropped('tcp', 'unknown_token');
    await srv.server.ctx.registry.putApp(app.id, ['heroku']); // the `app` token is gone
    await c.write(Buffer.concat([octet(msg(token, 'after removal')), octet(msg(heroku, 'from the other token', 'router'))]));
    await until('the line of the remaining token', () => app.ring.count === 2);
    assert.equal(dropped('tcp', 'unknown_token'), unknown + 1);
    assert.deepEqual(history(app).map((l) => `${l.source}[${l.dyno}]: ${l.msg}`), ['app[web.1]: while valid', 'heroku[router]: from the other token']);
    assert.equal(c.closed, false);
    c.sock.destroy();
  });

  test('malformed RFC 5424 in a good frame: dropped and counted, connection kept', async () => {
    const { app, token } = await newApp();
    const c = await tcpClient();
    const malformed = dropped('tcp', 'malformed');
    const bad = [
      `<13>2 ${TS} h ${token} web.1 - - bad version`,
      `<192>1 ${TS} h ${token} web.1 - - bad pri`,
      `13>1 ${TS} h ${token} web.1 - - no pri`,
      `<13>1 ${TS} h ${token}`,
      `<13>1 ${TS} ${'h'.repeat(300)} ${token} web.1 - - long host`,
      'just some text',
      '',
    ];
    await c.write(Buffer.concat([...bad.map((b) => (b === '' ? Buffer.from('<\n') : octet(b))), octet(msg(token, 'good after bad'))]));
    await until('the good line after the malformed ones', () => app.ring.count === 1);
    assert.equal(dropped('tcp', 'malformed'), malformed + bad.length);
    assert.equal(c.closed, false);
    await c.write(`${msg(token, 'still open')}\n`);
    await until('one more line', () => app.ring.count === 2);
    assert.deepEqual(msgsOf(app), ['good after bad', 'still open']);
    // a truncated octet frame at end of stream is counted as malformed too
    await c.write('200 <13>1 truncated');
    c.sock.end();
    await until('the truncated frame to be counted', () => dropped('tcp', 'malformed') === malformed + bad.length + 1);
  });

  test('garbage stream: that connection closed and counted; other connections keep working', async () => {
    const { app, token } = await newApp();
    const other = await tcpClient();
    await other.write(octet(msg(token, 'before')));
    const unframeable = dropped('tcp', 'unframeable');
    const closedUnframeable = closedBy('tcp', 'unframeable');
    const bad = await tcpClient();
    await bad.write(Buffer.concat([octet(msg(token, 'good then garbage')), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]));
    await until('the garbage connection to be closed', () => bad.closed);
    assert.equal(dropped('tcp', 'unframeable'), unframeable + 1);
    assert.equal(closedBy('tcp', 'unframeable'), closedUnframeable + 1);
    // the frame before the garbage was kept
    await until('lines before the garbage', () => app.ring.count === 2);
    // the other connection is untouched, and new ones are accepted
    await other.write(octet(msg(token, 'after, same connection')));
    const fresh = await tcpClient();
    await fresh.write(`${msg(token, 'after, new connection')}\n`);
    await until('lines after the garbage', () => app.ring.count === 4);
    assert.deepEqual(msgsOf(app), ['before', 'good then garbage', 'after, same connection', 'after, new connection']);
    assert.equal(other.closed, false);
    // leading zero, and binary noise, close too
    for (const noise of [Buffer.from('05 hello'), Buffer.from([0x00, 0xff, 0x10, 0x80])]) {
      const n = await tcpClient();
      const before = dropped('tcp', 'unframeable');
      await n.write(noise);
      await until('a noisy connection to be closed', () => n.closed);
      assert.equal(dropped('tcp', 'unframeable'), before + 1);
    }
    other.sock.destroy();
    fresh.sock.destroy();
  });

  test('frame over 64 KiB (octet-counted or LF-terminated): connection closed, counted', async () => {
    const { app, token } = await newApp();
    const tooLarge = closedBy('tcp', 'frame_too_large');
    const unframeable = dropped('tcp', 'unframeable');
    const a = await tcpClient();
    void a.write(Buffer.concat([Buffer.from('70000 '), Buffer.alloc(70_000, 0x61)]));
    await until('the octet-counted connection to be closed', () => a.closed);
    const b = await tcpClient();
    void b.write(Buffer.concat([Buffer.from(msg(token, '')), Buffer.alloc(70_000, 0x62), Buffer.from('\n')]));
    await until('the LF-terminated connection to be closed', () => b.closed);
    assert.equal(closedBy('tcp', 'frame_too_large'), tooLarge + 2);
    assert.equal(dropped('tcp', 'unframeable'), unframeable + 2);
    // exactly 64 KiB is fine: a 65,536-byte frame becomes 10,000-byte lines
    const c = await tcpClient();
    const head = Buffer.from(msg(token, ''));
    const big = Buffer.concat([head, Buffer.alloc(65_536 - head.length, 0x63)]);
    await c.write(octet(big));
    await until('the 64 KiB message as 7 lines', () => app.ring.count === 7);
    assert.deepEqual(history(app).map((l) => l.msg.length), [10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 65_536 - head.length - 60_000]);
    assert.equal(c.closed, false);
    c.sock.destroy();
  });
});

describe('load shapes', () => {
  test('many connections at once: every line arrives, in order per connection', async () => {
    const { app, token, sink } = await newApp();
    const conns = 40;
    const perConn = 120; // 4,800 lines: all fit in the 5,000-line ring
    const clients = await Promise.all(Array.from({ length: conns }, () => tcpClient()));
    await Promise.all(clients.map(async (c, ci) => {
      for (let k = 0; k < perConn; k += 10) {
        const frames: Buffer[] = [];
        for (let j = k; j < k + 10; j++) {
          const m = msg(token, `conn ${ci} line ${j} ${'z'.repeat((ci * 31 + j * 17) % 300)}`, `conn.${ci}`);
          frames.push(j % 3 === 0 ? Buffer.from(`${m}\n`) : octet(m));
        }
        await c.write(Buffer.concat(frames));
      }
      c.sock.end();
    }));
    await until(`${conns * perConn} lines`, () => sink.got.length >= conns * perConn);
    const byConn = new Map<string, number[]>();
    for (const rec of sink.got) {
      const v = viewOf(rec);
      const [, ci, , j] = v.msg.split(' ');
      assert.equal(v.dyno, `conn.${ci}`);
      const list = byConn.get(ci!) ?? [];
      list.push(Number(j));
      byConn.set(ci!, list);
    }
    assert.equal(byConn.size, conns);
    for (const [ci, list] of byConn) assert.deepEqual(list, Array.from({ length: perConn }, (_, j) => j), `connection ${ci}`);
    assert.equal(app.ring.count, conns * perConn);
    const seqs = history(app).map((l) => l.seq);
    assert.ok(seqs.every((s, i) => s === i + 1), 'seq strictly increasing with no gap');
    await until('every client to close', () => clients.every((c) => c.closed));
  });

  test('a long stream written in random small chunks arrives complete and in order', async () => {
    const { token, sink } = await newApp();
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const want: string[] = [];
    const parts: Buffer[] = [];
    for (let i = 0; i < 1200; i++) {
      const size = rnd(20) === 0 ? 1000 + rnd(9000) : rnd(200);
      const text = `m${i} ${'é'.repeat(size >> 2)}${'x'.repeat(size & 3)}`;
      want.push(text);
      const m = msg(token, text, `p.${i % 7}`);
      const kind = rnd(3);
      parts.push(kind === 0 ? Buffer.from(`${m}\n`) : kind === 1 ? octet(m) : Buffer.concat([octet(m), Buffer.from('\n')]));
    }
    const stream = Buffer.concat(parts);
    const c = await tcpClient();
    let p = 0;
    let writes = 0;
    while (p < stream.length) {
      const n = 1 + rnd(rnd(4) === 0 ? 2000 : 40);
      await c.write(stream.subarray(p, p + n));
      p += n;
      writes++;
      // yield to the event loop so the server reads each write as its own chunk
      // (without this the kernel hands it a few large coalesced chunks)
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(writes > 1000, `${writes} writes`);
    c.sock.end();
    await until(`${want.length} lines`, () => sink.got.length >= want.length, 20_000);
    const got = sink.got.map((r) => viewOf(r));
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
      if (got[i]!.msg !== want[i]) assert.fail(`line ${i}: got ${JSON.stringify(got[i]!.msg.slice(0, 40))}, want ${JSON.stringify(want[i]!.slice(0, 40))}`);
      assert.equal(got[i]!.dyno, `p.${i % 7}`);
    }
    await until('the stream to close', () => c.closed);
  });

  test('open connections are all accounted for when clients go away', async () => {
    await until('no open syslog connections', () => srv.server.ctx.metrics.connections.get('tcp') === 0 && srv.server.ctx.metrics.connections.get('tls') === 0);
  });
});

test('TLS port: clients that never finish the handshake are closed after the handshake timeout and free their slots', async () => {
  const s = await startServer({ LOGPLANE_SYSLOG_TLS_PORT: '6514', LOGPLANE_TLS_CERT: join(certDir, 'cert.pem'), LOGPLANE_TLS_KEY: join(certDir, 'key.pem'), LOGPLANE_TLS_HANDSHAKE_TIMEOUT_MS: '500', LOGPLANE_MAX_CONNECTIONS: '2' });
  const socks: Socket[] = [];
  try {
    const { app } = await s.server.ctx.registry.putApp('tlsstall', ['app']);
    const token = app.record.tokens.find((t) => t.name === 'app')!.token;
    const closed: string[] = [];
    // one says nothing, one sends half a ClientHello: together they fill the listener's limit of 2
    const silent = netConnect({ host: '127.0.0.1', port: s.server.ports.tls! });
    const half = netConnect({ host: '127.0.0.1', port: s.server.ports.tls! }, () => half.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])));
    for (const [sock, name] of [[silent, 'silent'], [half, 'half']] as const) {
      socks.push(sock);
      sock.on('error', () => {});
      sock.on('close', () => closed.push(name));
    }
    const open = (): number => s.server.ctx.metrics.connectionsOpen.labels('tls').value;
    await until('both connections to be open', () => open() === 2);
    await until('both stalled handshakes closed by the server', () => closed.length === 2, 5_000);
    assert.equal(s.server.ctx.metrics.connectionsClosed.labels('tls', 'handshake').value, 2);
    await until('their slots freed', () => open() === 0);
    // a real client gets in and is served
    const good = tlsConnect({ host: '127.0.0.1', port: s.server.ports.tls!, ca: cert, servername: 'localhost' }, () => good.end(octet(msg(token, 'after the stalled ones'))));
    socks.push(good);
    good.on('error', () => {});
    await until('the good client\'s line', () => app.ring.count === 1);
  } finally {
    for (const sock of socks) sock.destroy();
    await s.close();
  }
});

test('close() ends every syslog connection at once, even a TLS client stuck before its handshake', async () => {
  const s = await startServer({ LOGPLANE_SYSLOG_TLS_PORT: '6514', LOGPLANE_TLS_CERT: join(certDir, 'cert.pem'), LOGPLANE_TLS_KEY: join(certDir, 'key.pem') });
  const closed: string[] = [];
  const watch = (sock: Socket, name: string): Socket => {
    sock.on('error', () => {});
    sock.on('close', () => closed.push(name));
    return sock;
  };
  try {
    watch(netConnect({ host: '127.0.0.1', port: s.server.ports.syslog! }), 'tcp');
    watch(netConnect({ host: '127.0.0.1', port: s.server.ports.tls! }), 'tls-no-handshake');
    const tls = watch(tlsConnect({ host: '127.0.0.1', port: s.server.ports.tls!, ca: cert, servername: 'localhost' }), 'tls');
    await new Promise<void>((resolve) => tls.once('secureConnect', () => resolve()));
    await until('the connections to be open', () => s.server.ctx.metrics.connections.get('tcp') === 1 && s.server.ctx.metrics.connections.get('tls') === 1);
  } finally {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([s.close(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('close() hung on open syslog connections')), 5_000)))]);
    clearTimeout(timer);
  }
  await until('every client to see the close', () => closed.length === 3);
  assert.equal(s.server.ctx.metrics.connections.get('tcp'), 0);
  assert.equal(s.server.ctx.metrics.connections.get('tls'), 0);
});
