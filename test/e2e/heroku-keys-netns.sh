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
ip link set lo up
cd "$work"
export LOGPLANE_API_KEY=heroku-cli-test-key-0123456789
export LOGPLANE_DATA_DIR="$work/data"
export LOGPLANE_DRAIN_ALLOW_PRIVATE=1
node "$logplane_js" serve --port 18700 --syslog-port 16700 > serve.out 2> serve.err &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if node -e 'require("net").connect(18700,"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))'; then break; fi
  sleep 0.1
done
export LOGPLANE_URL=http://127.0.0.1:18700
node "$logplane_js" apps:create appa > /dev/null
node "$logplane_js" apps:create appb > /dev/null
token_a=$(node -e 'console.log(require(process.argv[1]).apps.find((a) => a.id === "appa").tokens[0].token)' "$LOGPLANE_DATA_DIR/config.json")
token_b=$(node -e 'console.log(require(process.argv[1]).apps.find((a) => a.id === "appb").tokens[0].token)' "$LOGPLANE_DATA_DIR/config.json")
viewer=$(node "$logplane_js" keys:create appa-viewer --role viewer -a appa)
developer=$(node "$logplane_js" keys:create appa-dev --role developer -a appa)

send() {
  node -e '
    const net = require("net"); const [tok, ...pairs] = process.argv.slice(1);
    const s = net.connect(16700, "127.0.0.1", () => {
      for (let i = 0; i < pairs.length; i += 2) {
        const m = `<190>1 2026-11-22T10:00:00+00:00 host ${tok} ${pairs[i]} - - ${pairs[i + 1]}`;
        s.write(`${Buffer.byteLength(m)} ${m}`);
      }
      s.end();
    });' "$@"
}
send "$token_a" web.1 "a one" web.2 "a two"
send "$token_b" web.1 "b secret"
# wait (bounded) until both lines of appa are in its history (2 lines + the key audit lines)
node -e '
  const deadline = Date.now() + 30000;
  (async () => {
    for (;;) {
      const r = await fetch("http://127.0.0.1:18700/v3/channels/appa/logs?num=10", { headers: { authorization: `Bearer ${process.env.LOGPLANE_API_KEY}` } }).catch(() => null);
      const text = r ? await r.text() : "";
      if (text.includes("a two")) process.exit(0);
      if (Date.now() > deadline) { console.error("the history lines never arrived"); process.exit(1); }
      await new Promise((ok) => setTimeout(ok, 50));
    }
  })();'
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
