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
ip link set lo up
cd "$work"
export LOGPLANE_API_KEY=heroku-cli-test-key-0123456789
export LOGPLANE_DATA_DIR="$work/data"
# the drain added below points at 127.0.0.1 (nothing listens; nothing is sent out of the namespace)
export LOGPLANE_DRAIN_ALLOW_PRIVATE=1
node "$logplane_js" serve --port 18700 --syslog-port 16700 > serve.out 2> serve.err &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if node -e 'require("net").connect(18700,"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))'; then break; fi
  sleep 0.1
done
export LOGPLANE_URL=http://127.0.0.1:18700
token=$(node "$logplane_js" apps:create demo --json | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).tokens.app))')

# Octet-counted RFC 5424 frames to the syslog port: token in APP-NAME, dyno in PROCID.
send() {
  node -e '
    const net = require("net"); const [tok, ...pairs] = process.argv.slice(1);
    const s = net.connect(16700, "127.0.0.1", () => {
      for (let i = 0; i < pairs.length; i += 2) {
        const m = `<190>1 2026-11-22T10:00:00+00:00 host ${tok} ${pairs[i]} - - ${pairs[i + 1]}`;
        s.write(`${Buffer.byteLength(m)} ${m}`);
      }
      s.end();
    });' "$token" "$@"
}
send web.1 "history one" worker.1 "history two" web.2 "history three"
# wait (bounded) until the three lines are in the history, not a fixed time
node -e '
  const deadline = Date.now() + 30000;
  (async () => {
    for (;;) {
      const r = await fetch("http://127.0.0.1:18700/v3/channels/demo/logs?num=10", { headers: { authorization: `Bearer ${process.env.LOGPLANE_API_KEY}` } }).catch(() => null);
      if (r) await r.arrayBuffer();
      if (r && r.headers.get("logplex-msg-count") === "3") process.exit(0);
      if (Date.now() > deadline) { console.error("the three history lines never arrived"); process.exit(1); }
      await new Promise((ok) => setTimeout(ok, 50));
    }
  })();'

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
