// Cooking in an ingest worker: cookMessageWhole into a BatchWriter (a message
// that is one line copied once while looking for LF; the others split by
// cookMessage) must give exactly the lines cookMessage gives through cook()
// (the main-thread path, whose rules router.test.ts checks), in the batch
// format [u32 slot][u32 len][record]. Messages sit in a chunk with LFs right
// around them; LFs at the first and last byte, CRLF, lengths on both sides of
// the word-copy and native-search limits, over 10,000 bytes, nil TIMESTAMP,
// known tokens in messages cooking splits (replaced) and in one-line ones (kept).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchWriter, type BatchTarget } from '../../src/ingest/batch.js';
import { TOKEN_MARK, cookMessage, cookMessageWhole, type LineWriter } from '../../src/ingest/cook.js';
import { ScanError, SyslogHeader, scanSyslog } from '../../src/ingest/syslog.js';
import { SEARCH_WORDS_MAX, WORDS_MAX } from '../../src/basics/bytes.js';
import { MAX_MSG, cook, msgOf, rfc3339, tsOf, type LineParts } from '../../src/line.js';
import { TokenTable, type TokenKey } from '../../src/tokens.js';

const TS = '2026-01-02T03:04:05.678901+00:00';
const NOW = Date.UTC(2026, 5, 7, 8, 9, 10, 123);
const target: BatchTarget = { slot: 0x01020304, nameBuf: Buffer.from('app'), classBits: 0 };
/** A known token, and one of another app: both are kept out of split messages. */
const TOKEN = 't.01234567-89ab-4def-8123-456789abcdef';
const OTHER = 't.fedcba98-7654-4321-8fed-cba987654321';
const tokens = new TokenTable<TokenKey>();
for (const t of [TOKEN, OTHER]) tokens.add({ token: t, bytes: Buffer.from(t, 'latin1'), live: true });
const mark = TOKEN_MARK.toString('latin1');

/** The main-thread way: every line its own Buffer from cook(). */
class CookWriter implements LineWriter {
  readonly lines: Buffer[] = [];
  line(p: LineParts): void {
    this.lines.push(cook(p, target.nameBuf));
  }
}

/** Records of batches: the slot of each must be target's. */
function records(batches: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const b of batches) {
    let p = 0;
    while (p < b.length) {
      assert.equal(b.readUInt32LE(p), target.slot);
      const len = b.readUInt32LE(p + 4);
      out.push(Buffer.from(b.subarray(p + 8, p + 8 + len)));
      p += 8 + len;
    }
    assert.equal(p, b.length, 'records fill the batch exactly');
  }
  return out;
}

/** A stream BatchWriter on buffers of size bytes, collecting what it fills; onFull counted in sent.length. */
function streamWriter(size: number): { w: BatchWriter; batches: () => Buffer[]; sent: Buffer[] } {
  const sent: Buffer[] = [];
  const w: BatchWriter = new BatchWriter(false, () => Buffer.alloc(size, 0xee), () => {
    sent.push(w.buf.subarray(0, w.pos));
    w.reset();
  });
  w.token = target;
  return { w, batches: () => [...sent, w.buf.subarray(0, w.pos)], sent };
}

/** Scan msg from inside a chunk with LFs around it; cook it both ways; the lines must match (seq bytes aside). */
function both(msg: Buffer, w: BatchWriter): Buffer[] {
  const pre = Buffer.from('9 \n\n\n<1>1 x\n', 'latin1');
  const post = Buffer.from('\n<13>1 - h a p - - junk\n\n', 'latin1');
  const chunk = Buffer.concat([pre, msg, post]);
  const hdr = new SyslogHeader();
  assert.equal(scanSyslog(chunk, pre.length, pre.length + msg.length, hdr), ScanError.OK);
  const ref = new CookWriter();
  const n = cookMessage(hdr, chunk, NOW, ref, tokens);
  assert.equal(n, ref.lines.length);
  assert.equal(cookMessageWhole(hdr, chunk, NOW, w, tokens), n);
  return ref.lines.map((l) => l.subarray(8));
}

const header = (ts = TS): string => `<13>1 ${ts} h t.x web.1 - - `;

function messages(): Buffer[] {
  const out: Buffer[] = [];
  const add = (s: string | Buffer): void => {
    out.push(typeof s === 'string' ? Buffer.from(header() + s, 'latin1') : Buffer.concat([Buffer.from(header(), 'latin1'), s]));
  };
  add('');
  add('hello world');
  add('\nstarts with LF');
  add('ends with LF\nx'); // (a trailing LF is trimmed by the scan; one before the last byte is kept)
  add('\n');
  add('a\n\nb\r\n\r\nc');
  add('cr\rinside\r\r\nx');
  add('\r\nafter crlf');
  for (const n of [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 57, WORDS_MAX - 1, WORDS_MAX, WORDS_MAX + 1, SEARCH_WORDS_MAX, SEARCH_WORDS_MAX + 1, 1000]) {
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = 0x41 + (i % 26);
    add(body);
    // an LF at the first byte, the last byte, and a few places between
    for (const at of new Set([0, 1, 3, 4, 7, 8, n >> 1, n - 2, n - 1].filter((x) => x >= 0 && x < n))) {
      const withLf = Buffer.from(body);
      withLf[at] = 0x0a;
      add(withLf);
      if (at > 0) {
        withLf[at - 1] = 0x0d;
        add(withLf);
      }
    }
  }
  for (const n of [MAX_MSG - 1, MAX_MSG, MAX_MSG + 1, 25_000]) {
    const body = Buffer.alloc(n, 0x78);
    add(body);
    const withLf = Buffer.from(body);
    withLf[n >> 1] = 0x0a;
    add(withLf);
  }
  add(Buffer.from(`${'x'.repeat(9_999)}é€😀${'y'.repeat(10_000)}`, 'utf8'));
  out.push(Buffer.from(`<13>1 - h t.x web.1 - - nil ts`, 'latin1'));
  out.push(Buffer.from(`<13>1 - h t.x web.1 - - nil ts\nsecond line`, 'latin1'));
  for (const m of tokenMessages()) out.push(Buffer.from(m, 'latin1'));
  return out;
}

test('the worker cooks every message into exactly the lines cookMessage makes', () => {
  // the largest line is 10,060 bytes: batches of 10,100 and 12,000 bytes are often full
  for (const size of [256 * 1024, 12_000, 10_100]) {
    const { w, batches, sent } = streamWriter(size);
    const want: Buffer[] = [];
    for (const m of messages()) want.push(...both(m, w));
    const full = sent.length;
    if (size < 20_000) assert.ok(full > 3, `batches of ${size} bytes were full ${full} times`);
    const got = records(batches());
    assert.equal(got.length, want.length, `batch size ${size}`);
    for (let i = 0; i < want.length; i++) {
      assert.deepEqual(got[i]!.subarray(8), want[i], `line ${i}, batch size ${size}: ${JSON.stringify(msgOf(want[i]!).toString('latin1').slice(0, 40))}`);
    }
  }
});

test('nil TIMESTAMP: the receive time, on every line of the message', () => {
  const { w, batches } = streamWriter(4096);
  both(Buffer.from('<13>1 - h t.x web.1 - - a\nb', 'latin1'), w);
  const got = records(batches());
  assert.equal(got.length, 2);
  for (const r of got) assert.equal(tsOf(r), rfc3339(NOW));
});

test('an HTTP batch grows to hold every line', () => {
  const w = new BatchWriter(true, () => Buffer.alloc(100), () => assert.fail('an HTTP batch is never full'));
  w.token = target;
  const want: Buffer[] = [];
  for (const m of messages()) want.push(...both(m, w));
  const got = records([w.buf.subarray(0, w.pos)]);
  assert.deepEqual(
    got.map((r) => r.subarray(8)),
    want,
  );
});

/** Messages with known tokens in them: a batched datagram, tokens at a 10,000-byte cut, and ones cooking keeps whole. */
function tokenMessages(): string[] {
  const h = (t: string): string => `<14>1 2026-12-07T00:00:00Z host ${t} web.1 - - `;
  return [
    `${h(TOKEN)}first\n${h(TOKEN)}second`,
    `${h(TOKEN)}first\r\n${h(OTHER)}second\n${TOKEN}${TOKEN} t.01234567 t.${TOKEN}\n`,
    // over 10,000 bytes, a token across the cut: with an LF and without
    `${h(TOKEN)}${'x'.repeat(MAX_MSG - 20)}${TOKEN}\nend`,
    `${h(TOKEN)}${'x'.repeat(MAX_MSG - 20)}${TOKEN}${'y'.repeat(MAX_MSG)}`,
    // one line: kept as sent
    `${h(TOKEN)}my own text: ${TOKEN}`,
  ];
}

/** The message text of each line cookMessage makes of msg. */
function texts(msg: string): string[] {
  const buf = Buffer.from(msg, 'latin1');
  const hdr = new SyslogHeader();
  assert.equal(scanSyslog(buf, 0, buf.length, hdr), ScanError.OK);
  const ref = new CookWriter();
  cookMessage(hdr, buf, NOW, ref, tokens);
  return ref.lines.map((l) => msgOf(l).toString('latin1'));
}

test('a message cooking splits carries no known token: each is replaced, the rest kept', () => {
  const [batched, mixed, lfCut, bigCut, oneLine] = tokenMessages() as [string, string, string, string, string];
  const h = `<14>1 2026-12-07T00:00:00Z host ${mark} web.1 - - `;
  assert.deepEqual(texts(batched), ['first', `${h}second`]);
  assert.deepEqual(texts(mixed), ['first', `${h}second`, `${mark}${mark} t.01234567 t.${mark}`]);
  // replaced before the split: the cut falls after the mark, never inside a token
  const x = 'x'.repeat(MAX_MSG - 20);
  assert.deepEqual(texts(lfCut), [`${x}${mark}`, 'end']);
  const big = texts(bigCut);
  assert.equal(big.join(''), `${x}${mark}${'y'.repeat(MAX_MSG)}`);
  assert.ok(big.every((t) => t.length <= MAX_MSG));
  // a one-line message is never searched (the sender's own text, kept as sent)
  assert.deepEqual(texts(oneLine), [`my own text: ${TOKEN}`]);
});
