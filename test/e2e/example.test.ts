// examples/platform.ts (`npm run demo`) runs: a router, two dynos under
// `logplane run`, and a tail printing all of it, with the embedded logplane.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cleanEnv, REPO } from '../support/spawn.js';

test('the platform demo prints router, dyno and platform lines from one process', { timeout: 120_000 }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [join(REPO, 'dist/examples/platform.js'), '--once'], { env: cleanEnv(), timeout: 100_000 });
  const lines = stdout.trimEnd().split('\n');
  const has = (re: RegExp) => assert.ok(lines.some((l) => re.test(l)), `${re} in\n${stdout}`);
  has(/^\S+ heroku\[router\]: at=info method=GET path="\/users\/42" host=127\.0\.0\.1:\d+ request_id=[0-9a-f-]{36} fwd="127\.0\.0\.1" dyno=web\.[12] connect=\d+ms service=\d+ms status=200 bytes=17 protocol=http$/);
  has(/^\S+ app\[web\.1\]: handling GET \/$/);
  has(/^\S+ app\[web\.2\]: handling GET \/users\/42$/);
  has(/^\S+ heroku\[web\.2\]: State changed from starting to up$/);
  has(/^\S+ heroku\[web\.2\]: Error R14 \(Memory quota exceeded\)$/);
  has(/^\S+ app\[web\.1\]: received SIGTERM, shutting down$/);
});
