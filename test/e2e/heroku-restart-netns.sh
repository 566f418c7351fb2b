#!/usr/bin/env bash
# Run inside a loopback-only network namespace (unshare -rn): a logplane
# server with `heroku logs --tail` (the real heroku CLI, SSE) and
# `logplane logs -t` (WebSocket) reading one app; the server is stopped
# gracefully (SIGTERM) and started again on the same ports and data dir; both
# tails must print the lines sent before and after the restart and still be
# running. Prints sections the test checks:
#   === heroku: what `heroku logs --tail` printed, then `alive` or its exit status
#   === logplane: the same for `logplane logs -t`
# Usage: heroku-restart-netns.sh <logplane.js> <heroku bin> <work dir>
set -euo pipefail
logplane_js=$1
heroku=$2
work=$3
ip link set lo up
cd "$work"
export LOGPLANE_API_KEY=heroku-cli-test-key-0123456789
export LOGPLANE_DATA_DIR="$work/data"
server=
start_server() {
  node "$logplane_js" serve --port 18701 --syslog-port 16701 >> serve.out 2>> serve.err &
  server=$!
  for _ in $(seq 1 200); do
    if node -e 'require("net").connect(18701,"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))'; then return 0; fi
    sleep 0.05
  done
  echo "the server did not start" >&2
  return 1
}
trap 'kill $server 2>/dev/null; kill $heroku_pid $lp_pid 2>/dev/null; wait 2>/dev/null || true' EXIT
start_server
export LOGPLANE_URL=http://127.0.0.1:18701
node "$logplane_js" apps:create demo > /dev/null
token=$(node -e 'console.log(require(process.argv[1]).apps[0].tokens[0].token)' "$LOGPLANE_DATA_DIR/config.json")

send() {
  node -e '
    const net = require("net"); const [tok, ...msgs] = process.argv.slice(1);
    const s = net.connect(16701, "127.0.0.1", () => {
      for (const msg of msgs) {
        const m = `<190>1 2026-11-22T10:00:00+00:00 host ${tok} web.1 - - ${msg}`;
        s.write(`${Buffer.byteLength(m)} ${m}`);
      }
      s.end();
    });' "$token" "$@"
}
wait_for() { # file text
  for _ in $(seq 1 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timed out waiting for \"$2\" in $1" >&2
  return 1
}

export HEROKU_HOST=http://127.0.0.1:18701 HEROKU_API_KEY=$LOGPLANE_API_KEY DISABLE_TELEMETRY=true HOME="$work"
"$heroku" logs -a demo --tail -n 0 > heroku.out 2> heroku.err &
heroku_pid=$!
NO_COLOR=1 node "$logplane_js" logs -a demo -t -n 0 > lp.out 2> lp.err &
lp_pid=$!
# both connected: a line sent now reaches both
for i in $(seq 1 100); do
  send "before restart $i"
  if grep -q "before restart" heroku.out 2>/dev/null && grep -q "before restart" lp.out 2>/dev/null; then break; fi
  sleep 0.1
done
wait_for heroku.out "before restart"
wait_for lp.out "before restart"

# graceful restart on the same ports and data dir
kill -TERM "$server"
wait "$server" || true
start_server
send "after restart"
wait_for heroku.out "after restart" || true
wait_for lp.out "after restart" || true

status() { if kill -0 "$1" 2>/dev/null; then echo alive; else wait "$1"; echo "exited $?"; fi; }
echo "=== heroku"
cat heroku.out
echo "--- stderr"
cat heroku.err
echo "--- status"
status "$heroku_pid" || true
echo "=== logplane"
cat lp.out
echo "--- stderr"
cat lp.err
echo "--- status"
status "$lp_pid" || true
