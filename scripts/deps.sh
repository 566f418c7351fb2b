#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks use, when missing:
# redis-server (distributed-mode tests), rsyslog (syslog drain tests, bench
# reference), util-linux's logger (syslog ingest tests), openssl (test certs),
# chromium (browser tests). Needs root or sudo; does nothing when all are there.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have redis-server || need+=(redis-server)
have rsyslogd || need+=(rsyslog)
have logger || need+=(bsdutils)
have openssl || need+=(openssl)
have chromium || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
