// Tokens per app in distributed mode: the limit is checked in the store's
// atomic change of the app's record in Redis, so creations racing on two
// nodes cannot pass it together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_KEY, nodePair, type Node } from '../support/cluster.js';
import { api, type ApiTarget } from '../support/api.js';

const ENV = { LOGPLANE_MAX_TOKENS_PER_APP: '4' };
const pair = nodePair(ENV);

const admin = (n: Node): ApiTarget => ({ url: n.url, auth: `Bearer ${API_KEY}` });

test('token creations racing on two nodes stop at the limit together; each node then refuses with 422 limit_reached', async () => {
  const [one, two] = pair.nodes;
  assert.equal((await api(admin(one), 'PUT', '/v3/channels/rtl', { tokens: [] })).status, 201);
  const all = await Promise.all(Array.from({ length: 16 }, (_, i) => api(admin(i % 2 ? two : one), 'POST', '/v3/channels/rtl/tokens', { name: `r${i}` })));
  assert.equal(all.filter((r) => r.status === 200).length, 4, all.map((r) => r.status).join(' '));
  for (const r of all) if (r.status !== 200) assert.deepEqual(r.json, { id: 'limit_reached', error: 'maximum number of tokens reached: an app has at most 4' });
  for (const n of [one, two]) {
    const r = await api(admin(n), 'GET', '/v3/channels/rtl');
    assert.equal(Object.keys(r.json.tokens as object).length, 4);
  }
});
