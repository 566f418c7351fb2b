// The HTTP drain's own HTTP/1.1 pieces without sockets: the response parser
// fed every response split at every byte (and one byte at a time, from a
// read buffer whose stale tail is full of line feeds, as the socket's static
// read buffer may be), the request head of SPEC 6.3, and frame ids.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newFrameId } from '../../src/drains/frame-id.js';
import { BAD, MAX_HEAD_BYTES, NEED_MORE, ResponseParser } from '../../src/drains/http1/parser.js';
import { requestHead, USER_AGENT } from '../../src/drains/https.js';
import { parseDrainUrl } from '../../src/drains/url.js';

/** Feed pieces through a 64 KiB scratch buffer whose bytes after each piece are stale LFs. */
function feed(p: ResponseParser, pieces: Buffer[]): { r: number; piece: number } {
  const scratch = Buffer.alloc(Math.max(64 * 1024, ...pieces.map((x) => x.length)), 0x0a);
  for (let i = 0; i < pieces.length; i++) {
    scratch.fill(0x0a);
    pieces[i]!.copy(scratch, 0);
    const r = p.execute(scratch, 0, pieces[i]!.length);
    if (r !== NEED_MORE) return { r, piece: i };
  }
  return { r: NEED_MORE, piece: pieces.length - 1 };
}

interface Expect {
  status: number;
  close: boolean;
  /** Bytes of the input the response takes (the rest is not ours); default all. */
  length?: number;
  /** The body runs to the end of the connection. */
  untilClose?: boolean;
}

/** Every split in two, every split in three around a chosen middle, and byte by byte. */
function splits(buf: Buffer): Buffer[][] {
  const out: Buffer[][] = [[buf]];
  for (let k = 0; k <= buf.length; k++) out.push([buf.subarray(0, k), buf.subarray(k)]);
  const mid = buf.length >> 1;
  for (let k = 0; k < mid; k++) out.push([buf.subarray(0, k), buf.subarray(k, mid), buf.subarray(mid)]);
  out.push([...buf].map((b) => Buffer.from([b])));
  return out;
}

function check(text: string, e: Expect): void {
  const buf = Buffer.from(text, 'latin1');
  const length = e.length ?? buf.length;
  const p = new ResponseParser();
  for (const pieces of splits(buf)) {
    p.reset();
    const at = pieces.map((x) => x.length).join('+');
    const { r, piece } = feed(p, pieces);
    if (e.untilClose) {
      assert.equal(r, NEED_MORE, `split ${at}: the body runs to the end of the connection`);
      assert.equal(p.untilClose, true, `split ${at}`);
      assert.equal(p.endOfInput(), true, `split ${at}`);
    } else {
      assert.notEqual(r, NEED_MORE, `split ${at}: response not complete`);
      assert.notEqual(r, BAD, `split ${at}: ${p.code} ${p.error}`);
      // the offset the response ends at, counted over the whole input
      let before = 0;
      for (let i = 0; i < piece; i++) before += pieces[i]!.length;
      assert.equal(before + r, length, `split ${at}: end offset`);
    }
    assert.equal(p.status, e.status, `split ${at}: status`);
    assert.equal(p.close, e.close, `split ${at}: close`);
  }
}

function bad(text: string, code: string): void {
  const buf = Buffer.from(text, 'latin1');
  const p = new ResponseParser();
  for (const pieces of splits(buf)) {
    p.reset();
    const { r } = feed(p, pieces);
    assert.equal(r, BAD, `split ${pieces.map((x) => x.length).join('+')}: ${JSON.stringify(text)} must be refused`);
    assert.equal(p.code, code);
  }
}

describe('drain HTTP response parser, split at every byte', () => {
  test('Content-Length body', () => {
    check('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Other: a:b\r\n\r\nhello', { status: 200, close: false });
    check('HTTP/1.1 202 Accepted\r\ncontent-length:   12  \r\n\r\nhello, world', { status: 202, close: false });
  });

  test('chunked body with extensions and trailers', () => {
    const body = '5;name=value\r\nhello\r\n10\r\n0123456789abcdef\r\nA \r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n';
    check(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, { status: 200, close: false });
    check(`HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: gzip, Chunked\r\n\r\n${body}`, { status: 500, close: false });
    // chunked wins over Content-Length, and the connection is not reused after such a response
    check(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, { status: 200, close: true });
  });

  test('no body: 204, 304, Content-Length: 0', () => {
    check('HTTP/1.1 204 No Content\r\nDate: Mon, 06 May 2024 07:08:09 GMT\r\n\r\n', { status: 204, close: false });
    check('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n', { status: 304, close: false });
    check('HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n', { status: 429, close: false });
  });

  test('Connection: close, HTTP/1.0, body to the end of the connection', () => {
    check('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbad', { status: 503, close: true });
    check('HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n', { status: 200, close: true });
    check('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', { status: 200, close: true });
    check('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok', { status: 200, close: false });
    check('HTTP/1.1 200 OK\r\nServer: x\r\n\r\nthe body runs until the peer closes', { status: 200, close: true, untilClose: true });
    check('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b', { status: 200, close: true, untilClose: true });
  });

  test('interim 1xx responses are skipped; bare LF line ends; a status line without reason', () => {
    check('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok', { status: 201, close: false });
    check('HTTP/1.1 200 OK\nContent-Length: 2\n\nok', { status: 200, close: false });
    check('HTTP/1.1 408\r\nContent-Length: 0\r\n\r\n', { status: 408, close: false });
  });

  test('bytes after the response are not consumed', () => {
    const resp = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    check(`${resp}HTTP/1.1 200 OK\r\n`, { status: 200, close: false, length: resp.length });
  });

  test('malformed responses are refused', () => {
    bad('SSH-2.0-OpenSSH_9.2\r\n\r\n', 'HPE_INVALID_CONSTANT');
    bad('HTTP/2.0 200 OK\r\n\r\n', 'HPE_INVALID_CONSTANT');
    bad('HTTP/1.1 2x0 OK\r\n\r\n', 'HPE_INVALID_STATUS');
    bad('HTTP/1.1 2000 OK\r\n\r\n', 'HPE_INVALID_STATUS');
    bad('HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH');
    bad('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx', 'HPE_UNEXPECTED_CONTENT_LENGTH');
    bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK_SIZE');
    bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n', 'HPE_STRICT');
    bad('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'HPE_UNEXPECTED_UPGRADE');
  });

  test('a response head larger than the limit is refused, even without line ends', () => {
    const p = new ResponseParser();
    const big = Buffer.alloc(MAX_HEAD_BYTES + 10, 0x61);
    Buffer.from('HTTP/1.1 200 OK\r\nX: ').copy(big);
    assert.equal(p.execute(big, 0, big.length), BAD);
    assert.equal(p.code, 'HPE_HEADER_OVERFLOW');
    p.reset();
    let r = NEED_MORE;
    for (let i = 0; i < big.length && r === NEED_MORE; i += 1000) r = p.execute(big, i, Math.min(i + 1000, big.length));
    assert.equal(r, BAD);
  });

  test('reset() makes the parser ready for the next response on a kept-alive connection', () => {
    const p = new ResponseParser();
    const a = Buffer.from('HTTP/1.1 503 No\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    assert.equal(p.execute(a, 0, a.length), a.length);
    assert.equal(p.close, true);
    p.reset();
    const b = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    assert.equal(p.execute(b, 0, 20), NEED_MORE);
    p.reset();
    assert.equal(p.execute(a, 0, a.length), a.length);
    assert.equal(p.status, 503);
  });
});

describe('drain request head (SPEC 6.3)', () => {
  const token = 'd.11111111-2222-4333-8444-555555555555';
  const head = (url: string) => {
    const h = requestHead(parseDrainUrl(url), token);
    return `${h.start}123\r\nLogplex-Msg-Count: 4\r\nLogplex-Frame-Id: ID\r\n${h.end}`;
  };
  test('headers in order; Host without the default port; IPv6 in brackets; Basic auth from the URL', () => {
    assert.equal(
      head('https://logs.example.com/drain?x=1#insecure'),
      'POST /drain?x=1 HTTP/1.1\r\nContent-Type: application/logplex-1\r\nContent-Length: 123\r\nLogplex-Msg-Count: 4\r\nLogplex-Frame-Id: ID\r\n' +
        `Logplex-Drain-Token: ${token}\r\nUser-Agent: ${USER_AGENT}\r\nHost: logs.example.com\r\nConnection: keep-alive\r\n\r\n`,
    );
    assert.match(head('http://logs.example.com:80'), /^POST \/ HTTP\/1\.1\r\n[^]*\r\nHost: logs\.example\.com\r\n/);
    assert.match(head('http://logs.example.com:443/'), /\r\nHost: logs\.example\.com:443\r\n/);
    assert.match(head('https://logs.example.com:80/'), /\r\nHost: logs\.example\.com:80\r\n/);
    assert.match(head('https://[2001:db8::1]:8443/a'), /\r\nHost: \[2001:db8::1\]:8443\r\n/);
    assert.match(head('https://[2001:db8::1]/a'), /\r\nHost: \[2001:db8::1\]\r\n/);
    const auth = `Basic ${Buffer.from('u:p w').toString('base64')}`;
    assert.match(head('https://u:p%20w@h.example.com/'), new RegExp(`\\r\\nUser-Agent: [^\\r]+\\r\\nAuthorization: ${auth}\\r\\nHost: h\\.example\\.com\\r\\n`));
    assert.doesNotMatch(head('https://h.example.com/'), /Authorization/);
  });
});

describe('drain frame ids', () => {
  test('32 uppercase hex digits, all different, across many pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const id = newFrameId();
      assert.match(id, /^[0-9A-F]{32}$/);
      seen.add(id);
    }
    assert.equal(seen.size, 5000);
  });
  test('every hex digit turns up in every position (the ids are random, not a counter)', () => {
    const perPos = Array.from({ length: 32 }, () => new Set<string>());
    for (let i = 0; i < 2000; i++) {
      const id = newFrameId();
      for (let j = 0; j < 32; j++) perPos[j]!.add(id[j]!);
    }
    for (let j = 0; j < 32; j++) assert.equal(perPos[j]!.size, 16, `position ${j}`);
  });
});
