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
cd "$work"
http_port=18701 syslog_port=16701
. "$(dirname "$0")/netns-lib.sh"
start_server() { lp_start; }
trap 'kill $server 2>/dev/null; kill $heroku_pid $lp_pid 2>/dev/null; wait 2>/dev/null || true' EXIT
start_server
token=$(lp_app demo)
send() { for m in "$@"; do lp_send "$token" web.1 "$m"; done; }

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
