// SPEC 3.3: the token string never appears in any output. A sender that
// batches several syslog messages into one UDP datagram (or one octet-counted
// frame, or one POST /logs frame) puts whole headers after an LF; cooking
// splits the message at LF and keeps each piece's text, so the continuation
// lines would carry `t.<uuid>`: the token that authenticated the message, or
// another app's. With 0 and 1 ingest workers (cooked on the main thread, or
// in a worker), history, a live tail and a drain must show every line's text
// with each token replaced by cook.ts's TOKEN_MARK.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { TOKEN_MARK } from '../../src/ingest/cook.js';
import { postLogs } from '../support/cluster.js';
import { HttpReceiver, startDrainServer, type DrainTestServer } from '../support/drain-receivers.js';
import { sendSyslog } from '../support/syslog.js';
import { HttpStream } from '../support/tail.js';
import { until } from '../support/wait.js';

const TS = '2026-12-07T00:00:00Z';
const header = (token: string): string => `<14>1 ${TS} host ${token} web.1 - - `;
/** One message holding three: its own header's token, again after an LF, then another app's token. */
const batched = (token: string, other: string, kind: string): string =>
  `${header(token)}${kind} first\n${header(token)}${kind} second\n${header(other)}${kind} third`;
/** The texts the lines of batched() must have. */
const expected = (kind: string): string[] => {
  const h = header(TOKEN_MARK.toString('latin1'));
  return [`${kind} first`, `${h}${kind} second`, `${h}${kind} third`];
};
const KINDS = ['udp', 'tcp', 'http'];

for (const workers of [0, 1]) {
  describe(`batched messages with ${workers} ingest worker(s)`, () => {
    let t: DrainTestServer;
    let receiver: HttpReceiver;
    let tail: HttpStream;
    after(async () => {
      tail?.release();
      await t?.close();
      await receiver?.close();
    });

    test('no output carries a token; every line\'s text is otherwise kept', async () => {
      t = await startDrainServer({ LOGPLANE_INGEST_WORKERS: String(workers) });
      const reg = t.server.ctx.registry;
      const token = (await reg.putApp('leak', ['app'])).app.record.tokens[0]!.token;
      const other = (await reg.putApp('leak-other', ['app'])).app.record.tokens[0]!.token;
      receiver = await HttpReceiver.start(false);
      const d = await t.api('POST', '/v3/channels/leak/drains', { url: receiver.url() });
      assert.equal(d.status, 201, d.text);
      const s = await t.api('POST', '/v3/sessions', { channel_id: 'leak', num: 0, tail: true });
      assert.equal(s.status, 201, s.text);
      tail = new HttpStream((s.json as { url: string }).url);
      await until('the text tail to open', () => t.server.tails.tailCount === 1, 10_000);

      assert.equal(await postLogs(t.url, token, [batched(token, other, 'http')]), 204);
      await sendSyslog(t.server.ports.syslog!, [batched(token, other, 'tcp')]);
      // one datagram; sent again (at most 20 times) should loopback lose it: only presence is checked
      const udp = createSocket('udp4');
      try {
        const dgram = Buffer.from(batched(token, other, 'udp'));
        const app = reg.get('leak')!;
        for (let i = 0; i < 20 && app.ring.count < 9; i++) {
          await new Promise<void>((resolve, reject) => udp.send(dgram, t.server.ports.udp!, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
          await until('the datagram', () => app.ring.count >= 9, 500).catch(() => {});
        }
      } finally {
        udp.close();
      }

      const want = KINDS.flatMap(expected);
      const history = await t.api('GET', '/v3/channels/leak/logs?num=100');
      assert.equal(history.status, 200, history.text);
      await until('the tail to show every line', () => want.every((w) => tail.text.includes(w)), 10_000);
      await until('the drain to deliver every line', () => want.every((w) => drained().includes(w)), 10_000);
      const outputs = { history: history.text, tail: tail.text, drain: drained() };
      for (const [name, out] of Object.entries(outputs)) {
        for (const w of want) assert.ok(out.includes(w), `${name} lacks ${JSON.stringify(w)}:\n${out}`);
        assert.ok(!out.includes(token), `${name} carries the app's token:\n${out}`);
        assert.ok(!out.includes(other), `${name} carries the other app's token:\n${out}`);
      }
    });

    function drained(): string {
      return receiver.messages().map((m) => m.toString('latin1')).join('\n');
    }
  });
}
