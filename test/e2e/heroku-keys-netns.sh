#!/usr/bin/env bash
# Run inside a loopback-only network namespace (unshare -rn): a logplane
# server with two apps and two API keys of app `appa` (a viewer key and a
# developer key), then the real heroku CLI with each key as HEROKU_API_KEY.
# Prints `=== <section>` headings, each followed by what heroku printed and,
# where the exit code matters, `exit=<code>`.
# Usage: heroku-keys-netns.sh <logplane.js> <heroku bin> <work dir>
set -euo pipefail
logplane_js=$1
heroku=$2
work=$3
cd "$work"
http_port=18700 syslog_port=16700
. "$(dirname "$0")/netns-lib.sh"
export LOGPLANE_DRAIN_ALLOW_PRIVATE=1
lp_start
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
token_a=$(lp_app appa)
token_b=$(lp_app appb)
viewer=$(node "$logplane_js" keys:create appa-viewer --role viewer -a appa)
developer=$(node "$logplane_js" keys:create appa-dev --role developer -a appa)
send() { lp_send "$@"; }
send "$token_a" web.1 "a one" web.2 "a two"
send "$token_b" web.1 "b secret"
lp_wait_history appa "a two"
unset LOGPLANE_API_KEY
export HEROKU_HOST=http://127.0.0.1:18700 DISABLE_TELEMETRY=true HOME="$work"

export HEROKU_API_KEY=$viewer
echo "=== viewer-history"
timeout 60 "$heroku" logs -a appa -n 5 2>/dev/null || echo "exit=$?"
echo "=== viewer-tail"
timeout 60 "$heroku" logs -a appa --tail > tail.out 2>/dev/null &
tail_pid=$!
for _ in $(seq 1 300); do grep -q "a two" tail.out 2>/dev/null && break; sleep 0.1; done
send "$token_a" web.1 "a live"
for _ in $(seq 1 300); do grep -q "a live" tail.out 2>/dev/null && break; sleep 0.1; done
kill "$tail_pid" 2>/dev/null || true
cat tail.out
echo "=== viewer-whoami"
timeout 60 "$heroku" auth:whoami 2>/dev/null || echo "exit=$?"
echo "=== viewer-other-app"
timeout 60 "$heroku" logs -a appb -n 5 > other.out 2>&1 && echo "exit=0" || echo "exit=$?"
grep -c "b secret" other.out || true
echo "=== viewer-drains-add"
timeout 60 "$heroku" drains:add "https://127.0.0.1:9/viewer-drain" -a appa > /dev/null 2>&1 && echo "exit=0" || echo "exit=$?"

export HEROKU_API_KEY=$developer
echo "=== developer-drains-add"
timeout 60 "$heroku" drains:add "https://127.0.0.1:9/dev-drain" -a appa > /dev/null 2>&1 && echo "exit=0" || echo "exit=$?"
echo "=== developer-drains"
timeout 60 "$heroku" drains -a appa --json 2>/dev/null || echo "exit=$?"
echo "=== developer-drains-remove"
timeout 60 "$heroku" drains:remove "https://127.0.0.1:9/dev-drain" -a appa > /dev/null 2>&1 && echo "exit=0" || echo "exit=$?"
echo "=== developer-drains-after"
timeout 60 "$heroku" drains -a appa --json 2>/dev/null || echo "exit=$?"
echo "=== developer-other-app"
timeout 60 "$heroku" drains:add "https://127.0.0.1:9/dev-drain" -a appb > /dev/null 2>&1 && echo "exit=0" || echo "exit=$?"
