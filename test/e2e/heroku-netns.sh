#!/usr/bin/env bash
# Run inside a loopback-only network namespace (unshare -rn): a logplane
# server, then the real heroku CLI against it. The heroku CLI calls out to the
# internet when it can; here it cannot. Prints sections the test checks:
#   === history / === tail, each followed by what `heroku logs` printed;
#   === drains: `heroku drains --extended` after `heroku drains:add`, and
#   === drains-json: `heroku drains --json` (the drain's id).
# Usage: heroku-netns.sh <logplane.js> <heroku bin> <work dir>
set -euo pipefail
logplane_js=$1
heroku=$2
work=$3
cd "$work"
http_port=18700 syslog_port=16700
. "$(dirname "$0")/netns-lib.sh"
# the drain added below points at 127.0.0.1 (nothing listens; nothing is sent out of the namespace)
export LOGPLANE_DRAIN_ALLOW_PRIVATE=1
lp_start
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
token=$(lp_app demo)
send() { lp_send "$token" "$@"; }
send web.1 "history one" worker.1 "history two" web.2 "history three"
lp_wait_history demo "history three"

export HEROKU_HOST=http://127.0.0.1:18700 HEROKU_API_KEY=$LOGPLANE_API_KEY DISABLE_TELEMETRY=true HOME="$work"
echo "=== history"
timeout 60 "$heroku" logs -a demo -n 2 2>/dev/null || echo "heroku logs failed: $?"

echo "=== tail"
timeout 60 "$heroku" logs -a demo --tail -s app -d web > tail.out 2>/dev/null &
tail_pid=$!
for _ in $(seq 1 300); do grep -q "history three" tail.out 2>/dev/null && break; sleep 0.1; done
send web.1 "live web" worker.1 "live worker" webhook.1 "live webhook" web.3 "live web three"
for _ in $(seq 1 300); do grep -q "live web three" tail.out 2>/dev/null && break; sleep 0.1; done
kill "$tail_pid" 2>/dev/null || true
cat tail.out

echo "=== drains"
timeout 60 "$heroku" drains:add "https://127.0.0.1:9/heroku-drain" -a demo > /dev/null 2>&1 || echo "heroku drains:add failed: $?"
timeout 60 "$heroku" drains -a demo --extended 2>/dev/null || echo "heroku drains --extended failed: $?"
echo "=== drains-json"
timeout 60 "$heroku" drains -a demo --json 2>/dev/null || echo "heroku drains --json failed: $?"
