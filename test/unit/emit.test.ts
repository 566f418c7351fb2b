// The platform emitters write Heroku's exact formats (SPEC 14): compared as bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createLogplane, formatPlatform, formatRouter, LogplaneError, serverOf } from '../../src/logplane.js';
import { logplexFrames } from '../../src/drains/frame.js';
import { tempDir } from '../support/server.js';

const request = {
  method: 'GET',
  path: '/',
  host: 'myapp.herokuapp.com',
  request_id: 'e5bb3580-44b0-46d2-aad3-185263641044',
  fwd: '50.168.96.221',
  dyno: 'web.1',
  connect: 1,
  service: 3,
  status: 200,
  bytes: 512,
  protocol: 'https',
};

test('router line: Heroku field order, quoting and units', () => {
  assert.equal(
    formatRouter(request),
    'at=info method=GET path="/" host=myapp.herokuapp.com request_id=e5bb3580-44b0-46d2-aad3-185263641044 fwd="50.168.96.221" dyno=web.1 connect=1ms service=3ms status=200 bytes=512 protocol=https',
  );
});

test('router error line: at=error code desc first; the description from the code when not given; unknown fields empty', () => {
  assert.equal(
    formatRouter({ ...request, code: 'H12', connect: 0, service: 30000, status: 503, bytes: 0 }),
    'at=error code=H12 desc="Request timeout" method=GET path="/" host=myapp.herokuapp.com request_id=e5bb3580-44b0-46d2-aad3-185263641044 fwd="50.168.96.221" dyno=web.1 connect=0ms service=30000ms status=503 bytes=0 protocol=https',
  );
  assert.equal(
    formatRouter({ code: 'H10', method: 'GET', path: '/', host: 'myapp.herokuapp.com', request_id: 'r1', fwd: '17.17.17.17', status: 503, protocol: 'https' }),
    'at=error code=H10 desc="App crashed" method=GET path="/" host=myapp.herokuapp.com request_id=r1 fwd="17.17.17.17" dyno= connect= service= status=503 bytes= protocol=https',
  );
  assert.ok(formatRouter({ code: 'H99', desc: 'Custom "thing"' }).startsWith('at=error code=H99 desc="Custom %22thing%22" method= path=""'));
});

test('router line: a path with a quote or LF cannot break the field or the line', () => {
  const line = formatRouter({ ...request, path: '/a"b\nc d' });
  assert.ok(line.includes(' path="/a%22b%0Ac d" '));
  assert.ok(!line.includes('\n'));
});

test('router line: number fields are checked (LPX_ERR_BAD_REQUEST naming the field), never written empty or as 1e+30', () => {
  const bad = (over: Record<string, unknown>, field: string) =>
    assert.throws(
      () => formatRouter({ ...request, ...over } as never),
      (err: unknown) => err instanceof LogplaneError && err.code === 'LPX_ERR_BAD_REQUEST' && err.message.startsWith(`${field}:`),
      JSON.stringify(over),
    );
  bad({ connect: -5 }, 'connect');
  bad({ connect: NaN }, 'connect');
  bad({ connect: '5' }, 'connect');
  bad({ service: NaN }, 'service');
  bad({ service: Infinity }, 'service');
  bad({ service: 1e30 }, 'service');
  bad({ status: 'abc' }, 'status');
  bad({ status: 99 }, 'status');
  bad({ status: 600 }, 'status');
  bad({ status: 200.5 }, 'status');
  bad({ bytes: 1e30 }, 'bytes');
  bad({ bytes: -1 }, 'bytes');
  bad({ bytes: 1.5 }, 'bytes');
  bad({ bytes: null }, 'bytes');
  // milliseconds are rounded; the bounds are written as given
  assert.ok(formatRouter({ ...request, connect: 0.4, service: 2.6, status: 100, bytes: 0 }).includes(' connect=0ms service=3ms status=100 bytes=0 '));
  assert.ok(formatRouter({ ...request, status: 599, bytes: Number.MAX_SAFE_INTEGER }).includes(' status=599 bytes=9007199254740991 '));
});

test('platform line: Error R14 (Memory quota exceeded), Heroku wording, detail after ->', () => {
  assert.equal(formatPlatform({ code: 'R14' }), 'Error R14 (Memory quota exceeded)');
  assert.equal(formatPlatform({ code: 'R14', text: 'Memory quota exceeded' }), 'Error R14 (Memory quota exceeded)');
  assert.equal(formatPlatform({ code: 'R10', detail: 'Web process failed to bind to $PORT within 60 seconds of launch' }), 'Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 60 seconds of launch');
  assert.equal(formatPlatform({ text: 'State changed from starting to up' }), 'State changed from starting to up');
  assert.throws(() => formatPlatform({ code: 'R42' }), /text: required for code R42/);
});

test('emitted lines as a drain or `GET .../logs` writes them: exact frames', async () => {
  const dir = tempDir('logplane-emit-');
  const lp = await createLogplane({ dataDir: dir, http: false, syslog: false, logger: false });
  try {
    await lp.apps.create('myapp');
    lp.emit.router('myapp', request);
    lp.emit.platform('myapp', { dyno: 'web.1', code: 'R14' });
    lp.emit.build('myapp', { msg: 'Build succeeded' });
    const server = serverOf(lp);
    const h = await server.history.read(server.ctx.registry.require('myapp'));
    const ts = (i: number) => h.lines[i]!.toString('latin1', 20, 20 + h.lines[i]![17]!);
    const frame = (body: string) => `${Buffer.byteLength(body) + 1} ${body}\n`;
    assert.equal(
      logplexFrames.encode(h.lines).toString('utf8'),
      frame(`<158>1 ${ts(0)} host heroku router - ${formatRouter(request)}`) +
        frame(`<45>1 ${ts(1)} host heroku web.1 - Error R14 (Memory quota exceeded)`) +
        frame(`<45>1 ${ts(2)} host heroku build - Build succeeded`),
    );
  } finally {
    await lp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
