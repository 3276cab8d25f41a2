#!/usr/bin/env bash
# Runs the end-to-end tests (see README.md): installs the locked npm packages,
# builds the gateway once, and runs every *.test.mjs with node's test runner.
# Needs Node.js 20+, Go, and Chromium (Debian: apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")"

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "e2e: no Chromium at $chromium; install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH" >&2
  exit 1
fi

# playwright-core drives the system Chromium and must never download one;
# no package here needs its install script.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund

tmp=$(mktemp -d)
mkdir "$tmp/pids"
# Whatever happens, end the test runner with the test files it started
# (they outlive a SIGTERM while a test hangs), every gateway a test started
# (each in its own process group), and remove the build.
cleanup() {
  set +e # a group that is already gone is fine
  [ -n "${runner:-}" ] && kill -KILL -- "-$runner" 2>/dev/null
  for f in "$tmp"/pids/*; do
    [ -e "$f" ] && kill -KILL -- "-${f##*/}" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One build for all test files, unless they are pointed at a running gateway.
if [ -z "${GATEWAY_URL:-}" ]; then
  (cd .. && go build -o "$tmp/gateway" .)
  export GATEWAY_BIN="$tmp/gateway"
fi
export E2E_PID_DIR="$tmp/pids"
# @apollo/gateway reports usage to Apollo unless told not to.
export APOLLO_TELEMETRY_DISABLED=true

# Each file runs in its own process with its own gateway, in parallel; files
# that share one GATEWAY_URL run one after another, so that the upstream calls
# they count are their own. A test gets 2 minutes; the whole run 10.
serial=()
[ -n "${GATEWAY_URL:-}" ] && serial=(--test-concurrency=1)
# timeout runs in a process group of its own: cleanup ends that group.
timeout --kill-after=15s 10m node --test "${serial[@]}" --test-timeout=120000 ./*.test.mjs &
runner=$!
wait "$runner"
