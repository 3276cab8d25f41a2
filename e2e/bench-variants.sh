#!/usr/bin/env bash
# Runs variations of the harness's diverse load (e2e/bench/variants.lua)
# against Apollo Server and this gateway, side by side, with the peer
# harness's own machinery (start, check, warm-up, quiet wait, CPU and peak
# RSS), as the README's Performance section reports.
#
#   e2e/bench-variants.sh [PEERS_DIR]               # every variant, 2 cycles, upstream at 0 ms
#   VARIANTS="small" CYCLES=1 e2e/bench-variants.sh # some of them
#
# It refreshes the same harness copy as e2e/bench-peers.sh ($BENCH_WORK)
# and, in that copy only and while it runs, puts variants.lua in the place
# of wrk/diverse.lua; VARIANT (and TOKENS) reach wrk through the
# environment. About 2 minutes per variant.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$(cd "$root" && cd "${1:-../shared/bench-peers}" && pwd)"
work="${BENCH_WORK:-${TMPDIR:-/tmp}/gateway-bench-peers}"

mkdir -p "$work"
(cd "$peers" && tar --exclude=node_modules --exclude=.run --exclude=bin -cf - .) | (cd "$work" && tar -xf -)
# Built as the image builds it (see Dockerfile).
CGO_ENABLED=0 go build -C "$root" -trimpath -ldflags="-s -w" -o "$work/bin/gateway" .
cp "$root/e2e/bench/variants.lua" "$work/wrk/diverse.lua"
trap 'cp "$peers/wrk/diverse.lua" "$work/wrk/diverse.lua"' EXIT
cd "$work"
export SYSTEMS="${SYSTEMS:-apollo gateway}" QUERIES=DIVERSE LATENCIES="${LATENCIES:-0ms}" CYCLES="${CYCLES:-2}"
for spec in ${VARIANTS:-small hasnext pairs every:1000}; do
  export VARIANT="${spec%%:*}" TOKENS=16
  [ "$spec" = "$VARIANT" ] || TOKENS="${spec#*:}"
  echo "=== VARIANT=$VARIANT TOKENS=$TOKENS"
  ./compare.sh "exec $work/bin/gateway" 2>/dev/null | sed -n '/^Summary/,$p'
done
