// The CLI run from a directory other than the server's finds a server on the
// default address (127.0.0.1:8601): with LOGPLANE_API_KEY, with a stored
// login (~/.config/logplane/credentials.json), past a server.json left by a
// dead server; and without any key it says where it looked and what to do.
// Inside a loopback-only network namespace, so 8601 is free.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { runShellInNetns } from '../support/netns.js';
import { tempDir } from '../support/server.js';
import { CLI, cleanEnv } from '../support/spawn.js';

const SCRIPT = String.raw`
cli() { node "$CLI" "$@"; }
mkdir -p "$WORK/server" "$WORK/elsewhere/.logplane" "$WORK/home/.config/logplane" "$WORK/nohome"
cd "$WORK/server"
cli serve --syslog-port 0 > serve.out 2> serve.err &
for _ in $(seq 1 200); do [ -s .logplane/server.json ] && break; sleep 0.05; done
key=$(cli config:key)
cd "$WORK/elsewhere"
section() { echo "=== $1"; set +e; "$@" 2>&1; echo "rc=$?"; set -e; }
run_with_env_key() { HOME="$WORK/nohome" LOGPLANE_API_KEY="$key" cli apps:create fromelsewhere; }
run_with_login() { printf '{"url":"http://127.0.0.1:8601","key":"%s"}' "$key" > "$WORK/home/.config/logplane/credentials.json"; HOME="$WORK/home" cli apps; }
run_no_key() { HOME="$WORK/nohome" cli apps; }
run_stale_runfile() {
  echo '{"version":1,"url":"http://127.0.0.1:9","localUrl":"http://127.0.0.1:9","pid":1073741824}' > .logplane/server.json
  HOME="$WORK/nohome" LOGPLANE_API_KEY="$key" cli apps
}
section run_with_env_key
section run_with_login
section run_no_key
section run_stale_runfile
`;

describe('the CLI away from the server directory (default URL)', () => {
  const sections = new Map<string, { out: string; rc: number }>();
  let work: string;
  before(async () => {
    work = tempDir('logplane-discovery-');
    const r = await runShellInNetns(SCRIPT, { env: cleanEnv({ CLI, WORK: work }), timeoutMs: 60_000 });
    assert.equal(r.code, 0, `netns script failed: ${r.stderr}\n${r.stdout}`);
    for (const part of r.stdout.split(/^=== /m).slice(1)) {
      const name = part.slice(0, part.indexOf('\n'));
      const body = part.slice(name.length + 1);
      const rc = /rc=(\d+)\n$/.exec(body);
      assert.ok(rc, part);
      sections.set(name, { out: body.slice(0, rc.index), rc: Number(rc[1]) });
    }
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('finds a server on 127.0.0.1:8601 with LOGPLANE_API_KEY', () => {
    const s = sections.get('run_with_env_key')!;
    assert.equal(s.rc, 0, s.out);
    assert.match(s.out, /^Created fromelsewhere\n {2}token app: t\.\S+\n$/);
  });

  it('uses the url and key of ~/.config/logplane/credentials.json', () => {
    const s = sections.get('run_with_login')!;
    assert.equal(s.rc, 0, s.out);
    assert.match(s.out, /^APP\s+LINES IN.*\nfromelsewhere\s/);
  });

  it('falls back to the default URL past a server.json left by a dead server', () => {
    const s = sections.get('run_stale_runfile')!;
    assert.equal(s.rc, 0, s.out);
    assert.match(s.out, /\nfromelsewhere\s/);
  });

  it('with no key: one line naming LOGPLANE_API_KEY, ./.logplane/config.json, the credentials file, and how to get a key', () => {
    const s = sections.get('run_no_key')!;
    assert.equal(s.rc, 1);
    assert.match(s.out, /^logplane: no API key for http:\/\/127\.0\.0\.1:8601[^\n]*\n$/);
    assert.ok(s.out.includes('LOGPLANE_API_KEY'), s.out);
    assert.ok(s.out.includes(`${work}/elsewhere/.logplane/config.json`), s.out);
    assert.ok(s.out.includes(`${work}/nohome/.config/logplane/credentials.json`), s.out);
    assert.ok(s.out.includes('logplane config:key'), s.out);
  });
});
