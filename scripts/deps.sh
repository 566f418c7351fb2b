#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks use, when missing:
# redis-server (distributed-mode tests), rsyslog (syslog drain tests, bench
# reference), util-linux's logger (syslog ingest tests), openssl (test certs),
# chromium (browser tests), iproute2 (a loopback-only namespace for the heroku
# CLI and README tests), curl (the README's examples), util-linux's script (a
# terminal for the CLI's progress test), promtool from the prometheus package
# (the /metrics format check; the package also brings the Prometheus server,
# which the tests never use). Needs root or sudo for apt; does nothing when all
# are there.
# Also installs the real heroku CLI from npm, outside the repo, for the test
# that runs it against logplane (LOGPLANE_HEROKU_CLI_DIR, default
# ~/.cache/logplane/heroku-cli).
set -euo pipefail
heroku_dir="${LOGPLANE_HEROKU_CLI_DIR:-$HOME/.cache/logplane/heroku-cli}"
if [ ! -x "$heroku_dir/node_modules/.bin/heroku" ]; then
  echo "installing the heroku CLI into $heroku_dir" >&2
  mkdir -p "$heroku_dir"
  [ -f "$heroku_dir/package.json" ] || echo '{"private": true}' > "$heroku_dir/package.json"
  npm install --prefix "$heroku_dir" --no-audit --no-fund --loglevel=error heroku@11 >/dev/null
fi
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have redis-server || need+=(redis-server)
have rsyslogd || need+=(rsyslog)
have logger || need+=(bsdutils)
have openssl || need+=(openssl)
have chromium || need+=(chromium)
have ip || need+=(iproute2)
have unshare || need+=(util-linux)
have promtool || need+=(prometheus)
have script || need+=(bsdutils)
have curl || need+=(curl)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
