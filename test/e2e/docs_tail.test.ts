// docs/tail.md states the WebSocket limits and the SSE stop retry the code applies.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SHUTDOWN_RETRY_MS } from '../../src/tail/sse.js';
import { WS_MAX_PAYLOAD } from '../../src/tail/ws.js';
import { REPO } from '../support/spawn.js';

test('docs/tail.md: the largest client frame is the one the server takes (a larger one closes with 1009)', () => {
  const doc = readFileSync(join(REPO, 'docs/tail.md'), 'utf8').replace(/\s+/g, ' ');
  const m = /Client frames are ignored \(max (\d+) KiB([^)]*)\)/.exec(doc);
  assert.ok(m, 'docs/tail.md says how large a client frame may be');
  assert.equal(Number(m[1]) * 1024, WS_MAX_PAYLOAD);
  assert.match(m[2]!, /1009/, 'and what a larger one gets');
});

test("docs/tail.md: the retry an SSE stream gets at a graceful stop is the server's", () => {
  const doc = readFileSync(join(REPO, 'docs/tail.md'), 'utf8').replace(/\s+/g, ' ');
  const m = /at a graceful stop each SSE stream gets `retry: (\d+)` before it ends, so EventSource waits (\d+) s/.exec(doc);
  assert.ok(m, 'docs/tail.md says what retry a stopping server sends');
  assert.equal(Number(m[1]), SHUTDOWN_RETRY_MS, 'the retry field sent');
  assert.equal(Number(m[2]) * 1000, SHUTDOWN_RETRY_MS, 'the wait it gives');
  // the stream's own rule for retry: names the exception
  assert.match(doc, /No `retry:` field is sent while the stream runs/);
});
