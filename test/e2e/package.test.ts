// The npm package (SPEC 14): `npm pack`, installed into a fresh project with
// its dependencies from the registry as a user would; there,
// `import { createLogplane } from 'logplane'` type-checks with tsc and runs,
// and `npx logplane --help` works. Needs the npm registry: one test, a
// generous timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cleanEnv, REPO } from '../support/spawn.js';

const run = promisify(execFile);

const PROGRAM = `import { createLogplane, LogplaneError, formatRouter, type Logplane, type LogLine, type TailEvent } from 'logplane';

const lp: Logplane = await createLogplane({ dataDir: process.argv[2] ?? './.lp', http: false, syslog: false, logger: false });
await lp.apps.create('myapp', { tokens: ['app', 'heroku'] });
const tail = lp.tail('myapp');
lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 'hello' });
lp.emit.router('myapp', { method: 'GET', path: '/', host: 'myapp.example.com', request_id: 'r1', fwd: '10.0.0.1', dyno: 'web.1', connect: 1, service: 3, status: 200, bytes: 512, protocol: 'https' });
lp.emit.platform('myapp', { dyno: 'web.1', code: 'R14' });
const first: TailEvent[] = [];
for await (const ev of tail) {
  first.push(ev);
  if (first.length === 3) break;
}
const lines: LogLine[] = await lp.history('myapp', { num: 10 });
try {
  lp.publish('nope', { source: 'app', dyno: 'web.1', msg: 'x' });
} catch (err) {
  if (!(err instanceof LogplaneError) || err.code !== 'LPX_ERR_NOT_FOUND') throw err;
}
if (lines.length < 0) {
  // @ts-expect-error msg must be a string or bytes: the types are real, not any
  lp.publish('myapp', { source: 'app', dyno: 'web.1', msg: 42 });
}
console.log(JSON.stringify({ history: lines.map((l) => l.source + ' ' + l.dyno + ' ' + l.msg), tail: first.length, router: formatRouter({ status: 200 }).slice(0, 7) }));
await lp.close();
`;

test('npm pack: installed into a fresh project, createLogplane type-checks and runs, npx logplane --help works', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'logplane-pack-'));
  try {
    const env = cleanEnv({ npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' });
    const packed = await run('npm', ['pack', '--pack-destination', dir], { cwd: REPO, env, maxBuffer: 1 << 24 });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, packed.stdout);
    const list = await run('tar', ['-tzf', join(dir, tarball)], { maxBuffer: 1 << 24 });
    const files = list.stdout.split('\n').filter(Boolean);
    assert.ok(files.includes('package/dist/src/logplane.js') && files.includes('package/dist/src/logplane.d.ts'), 'the entry and its types');
    assert.ok(files.includes('package/dist/src/cli/logplane.js'), 'the CLI');
    assert.ok(files.includes('package/dist/console/index.html'), 'the web console the server serves');
    const extra = files.filter((f) => /^package\/(src|test|bench|dist\/test|dist\/bench|scripts)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts') && !f.endsWith('.d.ts'));
    assert.deepEqual(extra, [], 'no sources, tests, benches or source maps');

    const project = join(dir, 'project');
    await run('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'platform', private: true, type: 'module' }));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', skipLibCheck: false, types: ['node'] }, include: ['main.ts'] }),
    );
    writeFileSync(join(project, 'main.ts'), PROGRAM);
    // the package and its dependencies from the registry, as a user installs them; the compiler the user would have
    await run('npm', ['install', '--no-audit', '--no-fund', join(dir, tarball), 'typescript@5', '@types/node@20'], { cwd: project, env, maxBuffer: 1 << 24 });
    await run(join(project, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: project, env }).catch((err: { stdout: string }) => assert.fail(`tsc failed:\n${err.stdout}`));
    const out = await run(process.execPath, [join(project, 'out/main.js'), join(dir, 'data')], { cwd: project, env });
    assert.deepEqual(JSON.parse(out.stdout), {
      history: ['app web.1 hello', `heroku router at=info method=GET path="/" host=myapp.example.com request_id=r1 fwd="10.0.0.1" dyno=web.1 connect=1ms service=3ms status=200 bytes=512 protocol=https`, 'heroku web.1 Error R14 (Memory quota exceeded)'],
      tail: 3,
      router: 'at=info',
    });
    const help = await run('npx', ['--no-install', 'logplane', '--help'], { cwd: project, env });
    assert.match(help.stdout, /^usage: logplane <command>/);
    assert.match(help.stdout, /\n {2}run +run a command and ship/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
