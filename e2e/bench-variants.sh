#!/usr/bin/env bash
# Runs variations of the harness's diverse load (e2e/bench/variants.lua)
# against Apollo Server and this gateway, side by side, with the peer
# harness's own machinery (start, check, warm-up, quiet wait, CPU and peak
# RSS), as the README's Performance section reports.
#
#   e2e/bench-variants.sh [PEERS_DIR]               # every variant, 2 cycles, upstream at 0 ms
#   VARIANTS="small" CYCLES=1 e2e/bench-variants.sh # some of them
#   ACCEPT_ENCODING="gzip, deflate, br, zstd" VARIANTS=every e2e/bench-variants.sh
#                                                   # answers compressed, as browsers get them
#
# Each variant is a run of e2e/bench-peers.sh with variants.lua as the
# DIVERSE load; VARIANT, TOKENS and ACCEPT_ENCODING reach wrk through the
# environment.
# About 2 minutes per variant.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export SYSTEMS="${SYSTEMS:-apollo gateway}" QUERIES=DIVERSE LATENCIES="${LATENCIES:-0ms}" CYCLES="${CYCLES:-2}"
export DIVERSE_SCRIPT=e2e/bench/variants.lua
for spec in ${VARIANTS:-small hasnext pairs every:1000}; do
  export VARIANT="${spec%%:*}" TOKENS=16
  [ "$spec" = "$VARIANT" ] || TOKENS="${spec#*:}"
  echo "=== VARIANT=$VARIANT TOKENS=$TOKENS"
  "$here/bench-peers.sh" "$@" 2>/dev/null | sed -n '/^Summary/,$p'
done
