// What docs/drains.md and docs/operations.md tell an operator about drain
// endpoints works as written: NODE_EXTRA_CA_CERTS makes a TLS drain trust a
// private CA, and rsyslog with the documented maxMessageSize line keeps a
// 10,000-byte line whole (its default cuts it).
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HttpReceiver, testCerts } from '../support/drain-receivers.js';
import { needs } from '../support/deps.js';
import { startRsyslog } from '../support/rsyslog.js';
import { tempDir } from '../support/server.js';
import { REPO, killAll, spawnServer, type ServerProcess } from '../support/spawn.js';
import { until } from '../support/wait.js';
import { api } from '../support/api.js';

const drainsDoc = readFileSync(join(REPO, 'docs/drains.md'), 'utf8');
const opsDoc = readFileSync(join(REPO, 'docs/operations.md'), 'utf8');
const dirs: string[] = [];
after(async () => {
  await killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});


/** A server (extra env) with app "docs" draining to `url`; returns a function that sends one line. */
async function serverDrainingTo(url: string, env: Record<string, string> = {}) {
  const dataDir = tempDir('logplane-docs-');
  dirs.push(dataDir);
  const srv = await spawnServer({ dataDir, env: { LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', ...env } });
  const app = await api(srv, 'PUT', '/v3/channels/docs', { tokens: ['app'] });
  assert.equal(app.status, 201);
  const d = await api(srv, 'POST', '/v3/channels/docs/drains', { url });
  assert.equal(d.status, 201, JSON.stringify(d.json));
  const send = async (msg: string) => {
    const frame = `<190>1 2024-05-06T07:08:09Z host app web.1 - - ${msg}`;
    const res = await fetch(`${srv.url}/logs`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`token:${app.json.tokens.app}`).toString('base64')}`, 'content-type': 'application/logplex-1' },
      body: `${Buffer.byteLength(frame)} ${frame}`,
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.status, 204);
  };
  return { srv, send };
}

describe('docs: TLS drains and a private CA', () => {
  it('the docs give the NODE_EXTRA_CA_CERTS command', () => {
    for (const doc of [drainsDoc, opsDoc]) assert.ok(doc.includes('NODE_EXTRA_CA_CERTS=/path/ca.pem npm start'));
  });

  it('an HTTPS drain to a private-CA endpoint delivers with NODE_EXTRA_CA_CERTS, and fails as documented without', { timeout: 60_000 }, async () => {
    const dir = tempDir('logplane-ca-');
    dirs.push(dir);
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, testCerts().ca);
    const trusted = await HttpReceiver.start('ca');
    const untrusted = await HttpReceiver.start('ca');
    try {
      const a = await serverDrainingTo(trusted.url(), { NODE_EXTRA_CA_CERTS: caFile });
      await a.send('hello private ca');
      await until('the line at the private-CA endpoint', () => trusted.messages().some((m) => m.toString().includes('hello private ca')), 20_000);

      const b = await serverDrainingTo(untrusted.url());
      await b.send('hello untrusted');
      const err = await until('a certificate error in the drain status', async () => {
        const list = (await api(b.srv, 'GET', '/v3/channels/docs/drains')).json as { status: { last_error: { errno?: string } | null } }[];
        return list[0]?.status.last_error?.errno ?? null;
      }, 20_000);
      assert.ok(drainsDoc.includes(`\`${err}\``), `docs/drains.md names the errno ${err}`);
      assert.equal(untrusted.messages().length, 0);
    } finally {
      await trusted.close();
      await untrusted.close();
    }
  });
});

describe('docs: syslog receivers and 10,000-byte lines', { skip: needs('rsyslogd', 'rsyslog') }, () => {
  /** The global(maxMessageSize=...) line docs/drains.md gives for rsyslog. */
  const documented = /^ *(global\(maxMessageSize="[^"]+"\))$/m.exec(drainsDoc)?.[1];

  async function deliverLong(top: string): Promise<string> {
    const rs = await startRsyslog(top);
    try {
      const { send } = await serverDrainingTo(`syslog://127.0.0.1:${rs.port}`);
      await send(`long ${'x'.repeat(9995)}`);
      return (await until('a line in rsyslog', () => rs.lines()[0], 20_000));
    } finally {
      await rs.close();
    }
  }

  it('rsyslog with the documented line keeps a 10,000-byte line whole; with its default it is cut', { timeout: 90_000 }, async () => {
    assert.ok(documented, 'docs/drains.md gives a global(maxMessageSize=...) line');
    const whole = await deliverLong(documented);
    assert.ok(whole.endsWith(` long ${'x'.repeat(9995)}`), `arrived with ${whole.length} bytes`);
    const cut = await deliverLong('');
    assert.ok(!cut.endsWith(` long ${'x'.repeat(9995)}`) && cut.length < 8192 + 100, `default rsyslog kept ${cut.length} bytes`);
  });
});
