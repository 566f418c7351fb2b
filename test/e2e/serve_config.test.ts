// `logplane serve` with settings that are only found bad when used (the
// syslog TLS files): a clear message naming the file, and exit 2 like every
// bad setting (README "Configuration"; 1 is a start that failed otherwise).
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { QUIET_AUDIT } from '../support/quiet-audit.js';
import { tempDir } from '../support/server.js';
import { cleanEnv, killAll, runCli } from '../support/spawn.js';

const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function serveWithTls(cert: string, key: string) {
  const dataDir = tempDir('logplane-serve-config-');
  dirs.push(dataDir);
  return runCli(['serve', '--port', '0', '--syslog-port', '0', '--syslog-tls-port', '0', '--tls-cert', cert, '--tls-key', key], {
    timeoutMs: 15_000,
    env: cleanEnv({ LOGPLANE_DATA_DIR: dataDir, LOGPLANE_LOG_LEVEL: 'warn', ...QUIET_AUDIT }),
  });
}

test('a TLS certificate that does not exist: exit 2, naming the file', async () => {
  const r = await serveWithTls('/nonexistent/cert.pem', '/nonexistent/key.pem');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^logplane: cannot start: invalid configuration:\n {2}- cannot read TLS certificate or key: ENOENT: [^\n]*\/nonexistent\/cert\.pem/);
});

test('a TLS certificate that is not PEM: exit 2, naming the files, not just OpenSSL\'s words', async () => {
  const dir = tempDir('logplane-serve-pem-');
  dirs.push(dir);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  writeFileSync(cert, 'not a certificate\n');
  writeFileSync(key, 'not a key\n');
  const r = await serveWithTls(cert, key);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(`cannot use the TLS certificate ${cert} with the key ${key}`), r.stderr);
});
