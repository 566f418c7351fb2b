// Session quotas in distributed mode: each node guards its own session table.
// A key's quota counts the sessions a node holds for it, those made there and
// those made elsewhere and read there (adopted from Redis), so reading URLs
// made on other nodes cannot fill a node either.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_KEY, nodePair, type Node } from '../support/cluster.js';
import { api, type ApiResponse, type ApiTarget } from '../support/api.js';
import { createKey } from '../support/keys.js';
import { HttpStream, WsClient } from '../support/tail.js';

const ENV = { LOGPLANE_MAX_SESSIONS_PER_KEY: '3' };
const pair = nodePair(ENV);

const admin = (n: Node): ApiTarget => ({ url: n.url, auth: `Bearer ${API_KEY}` });

function v3(who: ApiTarget): Promise<ApiResponse> {
  return api(who, 'POST', '/v3/sessions', { channel_id: 'rq', num: 1 });
}

async function refused(n: Node): Promise<number> {
  const text = await (await fetch(`${n.url}/metrics`)).text();
  const m = /^logplane_tail_sessions_refused_total\{reason="key_limit"\} (\S+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

test('the quota is per node: a key full on one node creates on another; sessions read there count, and a read over the quota is 429 on every transport', async () => {
  const [one, two] = pair.nodes;
  assert.equal((await api(admin(one), 'PUT', '/v3/channels/rq', { tokens: ['app'] })).status, 201);
  const key = await createKey(admin(one), 'reader', 'viewer', ['rq']);
  const onOne: ApiTarget = { url: one.url, auth: key.auth };
  const onTwo: ApiTarget = { url: two.url, auth: key.auth };

  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await v3(onOne);
    assert.equal(r.status, 201);
    ids.push((r.json.url as string).split('/sessions/')[1]!);
  }
  assert.equal((await v3(onOne)).status, 429);
  // node two has its own table (the key, revoked or narrowed, reaches node two within 1 s: wait for it to know the key)
  let first: ApiResponse | null = null;
  for (let i = 0; i < 200 && first?.status !== 201; i++) {
    first = await v3(onTwo);
    if (first.status === 401) await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(first?.status, 201);
  assert.equal((await v3(onTwo)).status, 201);

  // reading one of node one's sessions on node two: held there too, the key's third slot on node two
  const read = new HttpStream(`${two.url}/sessions/${ids[0]}`);
  await read.done;
  assert.equal(read.status, 200);
  // the fourth is refused: GET (text/SSE) and the WebSocket upgrade alike
  const res = await fetch(`${two.url}/sessions/${ids[1]}`);
  assert.equal(res.status, 429);
  assert.match(res.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
  assert.equal(((await res.json()) as { id: string }).id, 'too_many_key_sessions');
  const ws = new WsClient(`${two.url}/sessions/${ids[2]}`);
  await ws.closed;
  assert.equal(ws.status, 429);
  assert.equal((await v3(onTwo)).status, 429);

  // the admin key still creates sessions on node two, and node one still serves its own sessions
  assert.equal((await v3(admin(two))).status, 201);
  const own = new HttpStream(`${one.url}/sessions/${ids[1]}`);
  await own.done;
  assert.equal(own.status, 200);
  assert.equal(await refused(two), 3);
  assert.equal(await refused(one), 1);
});

/** Wait until `n` has heard of the key's change: it reads `app` with the key (200), or no longer may (403). */
async function heard(n: Node, auth: string, app: string, status: number): Promise<void> {
  let got = 0;
  for (let i = 0; i < 300 && got !== status; i++) {
    got = (await api({ url: n.url, auth }, 'GET', `/v3/channels/${app}`)).status;
    if (got !== status) await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(got, status, `node ${n.url} did not hear of the key change`);
}

test('sessions made unreadable by a key change free their slots on every node: the one that made them, one that read one, and one that never held them takes no slot for a read', async () => {
  const [one, two] = pair.nodes;
  for (const app of ['ru1', 'ru2']) assert.equal((await api(admin(one), 'PUT', `/v3/channels/${app}`, { tokens: ['app'] })).status, 201);
  const key = await createKey(admin(one), 'narrowed', 'viewer', ['ru1']);
  const session = (n: Node, app: string): Promise<ApiResponse> => api({ url: n.url, auth: key.auth }, 'POST', '/v3/sessions', { channel_id: app, num: 1 });
  const urls: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await session(one, 'ru1');
    assert.equal(r.status, 201);
    urls.push(r.json.url as string);
  }
  const id = (u: string): string => u.split('/sessions/')[1]!;
  // node two reads the first (held there too)
  await heard(two, key.auth, 'ru1', 200);
  const read = new HttpStream(`${two.url}/sessions/${id(urls[0]!)}`);
  await read.done;
  assert.equal(read.status, 200);

  assert.equal((await api(admin(one), 'PATCH', `/v3/keys/${key.id}`, { apps: ['ru2'] })).status, 200);
  await heard(two, key.auth, 'ru1', 403);
  // dead everywhere: 404 on both nodes, and node two adopts none of them (no slot taken for a read)
  for (const n of [one, two]) for (const u of urls) assert.equal((await fetch(`${n.url}/sessions/${id(u)}`)).status, 404);
  for (const n of [one, two]) {
    for (let i = 0; i < 3; i++) assert.equal((await session(n, 'ru2')).status, 201, `node ${n.url}, session ${i + 1}`);
    assert.equal((await session(n, 'ru2')).status, 429);
  }

  // given the app back, the old sessions stay dead on every node: their Redis records are gone
  assert.equal((await api(admin(one), 'PATCH', `/v3/keys/${key.id}`, { apps: ['ru1', 'ru2'] })).status, 200);
  await heard(two, key.auth, 'ru1', 200);
  for (const n of [one, two]) for (const u of urls) assert.equal((await fetch(`${n.url}/sessions/${id(u)}`)).status, 404);
});

test('a session of a deleted app read on a node that never held it is 404 there and takes no slot', async () => {
  const [one, two] = pair.nodes;
  assert.equal((await api(admin(one), 'PUT', '/v3/channels/rgone', { tokens: ['app'] })).status, 201);
  const r = await api(admin(one), 'POST', '/v3/sessions', { channel_id: 'rgone', num: 1 });
  assert.equal(r.status, 201);
  assert.equal((await api(admin(one), 'DELETE', '/v3/channels/rgone')).status, 204);
  await heard(two, `Bearer ${API_KEY}`, 'rgone', 404);
  const held = two.server.tails.sessions.size;
  assert.equal((await fetch(`${two.url}/sessions/${(r.json.url as string).split('/sessions/')[1]}`)).status, 404);
  assert.equal(two.server.tails.sessions.size, held);
});
