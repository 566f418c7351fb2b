// docs/tail.md states the WebSocket limits the code applies.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { WS_MAX_PAYLOAD } from '../../src/tail/ws.js';
import { REPO } from '../support/spawn.js';

test('docs/tail.md: the largest client frame is the one the server takes (a larger one closes with 1009)', () => {
  const doc = readFileSync(join(REPO, 'docs/tail.md'), 'utf8').replace(/\s+/g, ' ');
  const m = /Client frames are ignored \(max (\d+) KiB([^)]*)\)/.exec(doc);
  assert.ok(m, 'docs/tail.md says how large a client frame may be');
  assert.equal(Number(m[1]) * 1024, WS_MAX_PAYLOAD);
  assert.match(m[2]!, /1009/, 'and what a larger one gets');
});
