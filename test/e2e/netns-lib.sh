# Shared by the heroku-*-netns.sh scripts (sourced, after `set -euo pipefail`):
# a logplane server in the loopback-only namespace, apps, syslog frames and
# bounded waits. Expects $logplane_js, and $http_port / $syslog_port set.
ip link set lo up
export LOGPLANE_API_KEY=heroku-cli-test-key-0123456789
export LOGPLANE_DATA_DIR="$PWD/data"
# the scripts compare what the clients print line by line; the admin key's audit lines
# (SPEC 12, on by default) are tested in test/integration/access_keys.test.ts
export LOGPLANE_AUDIT_ADMIN_KEY=0
export LOGPLANE_URL="http://127.0.0.1:$http_port"
server=

# Start `logplane serve` on the two ports (appending to serve.out / serve.err)
# and wait (bounded) until the HTTP port answers.
lp_start() {
  node "$logplane_js" serve --port "$http_port" --syslog-port "$syslog_port" >> serve.out 2>> serve.err &
  server=$!
  for _ in $(seq 1 200); do
    if node -e 'require("net").connect(+process.argv[1],"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' "$http_port"; then return 0; fi
    sleep 0.05
  done
  echo "the server did not start" >&2
  return 1
}

# Create an app through the CLI and print its token named "app".
lp_app() {
  node "$logplane_js" apps:create "$1" --json | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).tokens.app))'
}

# Octet-counted RFC 5424 frames to the syslog port: token in APP-NAME, dyno in
# PROCID. Usage: lp_send TOKEN DYNO MSG [DYNO MSG]...
lp_send() {
  node -e '
    const net = require("net"); const [port, tok, ...pairs] = process.argv.slice(1);
    const s = net.connect(+port, "127.0.0.1", () => {
      for (let i = 0; i < pairs.length; i += 2) {
        const m = `<190>1 2026-11-22T10:00:00+00:00 host ${tok} ${pairs[i]} - - ${pairs[i + 1]}`;
        s.write(`${Buffer.byteLength(m)} ${m}`);
      }
      s.end();
    });' "$syslog_port" "$@"
}

# Wait (bounded, 30 s) until APP's history has a line containing TEXT.
lp_wait_history() {
  node -e '
    const [url, app, text] = process.argv.slice(1);
    const deadline = Date.now() + 30000;
    (async () => {
      for (;;) {
        const r = await fetch(`${url}/v3/channels/${app}/logs?num=100`, { headers: { authorization: `Bearer ${process.env.LOGPLANE_API_KEY}` } }).catch(() => null);
        const body = r ? await r.text() : "";
        if (body.includes(text)) process.exit(0);
        if (Date.now() > deadline) { console.error(`"${text}" never reached the history of ${app}`); process.exit(1); }
        await new Promise((ok) => setTimeout(ok, 50));
      }
    })();' "$LOGPLANE_URL" "$1" "$2"
}

# Wait (bounded, 30 s) until FILE contains TEXT.
wait_for() {
  for _ in $(seq 1 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timed out waiting for \"$2\" in $1" >&2
  return 1
}
