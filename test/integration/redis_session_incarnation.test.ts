// A session is of one app (SPEC 5, SPEC 12): of the app as it was when the
// session was made, not of whatever app later has its name. In distributed
// mode a node that never held a session adopts it from Redis on its first
// read; when the app was deleted and a new app of the same name created
// within the session's life, that node must not serve the new app's lines
// through the old URL.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pack } from 'msgpackr';
import { session as sessionKey } from '../../src/redis/keys.js';
import { api, postLogs, startNode, syslog, type Node } from '../support/cluster.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { HttpStream, WsClient } from '../support/tail.js';
import { until } from '../support/wait.js';

let redis: TestRedis;
let one: Node;
let two: Node;

before(async () => {
  redis = await startRedis();
  one = await startNode(redis.url);
  two = await startNode(redis.url);
});
after(async () => {
  await one.close();
  await two.close();
  await redis.close();
});

/** Create the app on node one and send it these messages; returns its incarnation (the record's uuid). */
async function incarnation(app: string, msgs: string[]): Promise<string> {
  const r = await api(one.url, 'PUT', `/v3/channels/${app}`, { tokens: ['app'] });
  assert.equal(r.status, 201);
  const token = (r.json.tokens as Record<string, string>)['app']!;
  assert.equal(await postLogs(one.url, token, msgs.map((m) => syslog(m))), 204);
  return one.server.ctx.registry.get(app)!.record.uuid;
}

const idOf = (url: string): string => url.split('/sessions/')[1]!;

/** Read a session on a node (200 each time) until its text matches `want` (another node's lines reach the shared history within a tick or so); the text. */
async function readUntil(n: Node, id: string, want: RegExp): Promise<string> {
  return until(`session ${id} on ${n.url} shows ${want}`, async () => {
    const read = new HttpStream(`${n.url}/sessions/${id}`);
    await read.done;
    assert.equal(read.status, 200);
    return want.test(read.text) && read.text;
  }, 10_000, 50);
}

test("a session made before its app was deleted and re-created is 404 on a node that never held it, and shows none of the new app's lines", async () => {
  await incarnation('inc', ['old-0', 'old-1']);
  const made = await api(one.url, 'POST', '/v3/sessions', { channel_id: 'inc', num: 100 });
  assert.equal(made.status, 201);
  const id = idOf(made.json.url as string);

  assert.equal((await api(one.url, 'DELETE', '/v3/channels/inc')).status, 204);
  const uuid = await incarnation('inc', ['new-0', 'new-1']);
  // node two knows the new app (else its 404 would say nothing)
  await until('node two knows the new app', () => two.server.ctx.registry.get('inc')?.record.uuid === uuid, 10_000);

  const text = new HttpStream(`${two.url}/sessions/${id}`);
  await text.done;
  assert.doesNotMatch(text.text, /new-/, 'no line of the new app');
  assert.equal(text.status, 404);
  const ws = new WsClient(`${two.url}/sessions/${id}`);
  await ws.closed;
  assert.equal(ws.status, 404);
  // nor does it hold the session: a 404 read takes no slot there
  assert.ok(![...two.server.tails.sessions.all()].some((s) => s.id === id));
  // and on the node that made it, as before: 404
  assert.equal((await fetch(`${one.url}/sessions/${id}`)).status, 404);

  // a session of the new app reads it, on either node
  const fresh = await api(one.url, 'POST', '/v3/sessions', { channel_id: 'inc', num: 100 });
  const text2 = await readUntil(two, idOf(fresh.json.url as string), /new-1/);
  assert.doesNotMatch(text2, /old-/);
});

test('a session stored by the previous release (no app incarnation) is read, on any node, as of the app of its name', async () => {
  await incarnation('legacy', ['legacy-0']);
  // the record as the previous release wrote it: the spec without appUuid
  const id = randomUUID();
  const spec = { app: 'legacy', num: 100, tail: false, source: null, dyno: null, grep: null, after: null, keyId: null };
  const r = new Redis(redis.url);
  try {
    await r.set(sessionKey(id), pack({ spec, createdAt: Date.now() }), 'PX', 360_000);
  } finally {
    r.disconnect();
  }
  await until('node two knows the app', () => two.server.ctx.registry.get('legacy') !== undefined, 10_000);
  for (const n of [two, one]) await readUntil(n, id, /legacy-0/);
});
