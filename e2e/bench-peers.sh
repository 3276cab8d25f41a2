#!/usr/bin/env bash
# Runs the side-by-side benchmark of the peers (Apollo Server +
# RESTDataSource, Hive Gateway + Mesh, a Go ceiling) with this gateway in it,
# over one fake upstream, as the README's Performance section reports.
#
#   e2e/bench-peers.sh [PEERS_DIR]        # default: ../shared/bench-peers from the project root
#   CACHE_TTL=30s e2e/bench-peers.sh      # any exported variable reaches the gateway
#   CYCLES=1 DURATION=2 WARMUP=1 e2e/bench-peers.sh   # a quick smoke run
#   DIVERSE_SCRIPT=e2e/bench/variants.lua e2e/bench-peers.sh  # another load as DIVERSE (see bench-variants.sh)
#   GATEWAY_GOMAXPROCS=1 e2e/bench-peers.sh   # the gateway alone at one scheduler thread, as deploy/ runs it
#   FLOOR=1 SYSTEMS="apollo gateway" QUERIES=DIVERSE e2e/bench-peers.sh
#                                         # e2e/floor in the gateway's place: the HTTP work alone, no GraphQL
#
# The harness folder may be read-only: it is copied to a temporary folder
# (kept between runs in $BENCH_WORK, default a folder under TMPDIR, so that
# its npm installs are reused). Needs wrk (installed by the harness), Node
# and npm. Takes about 11 minutes; results and logs are in the copy's .run/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$(cd "$root" && cd "${1:-../shared/bench-peers}" && pwd)"
work="${BENCH_WORK:-${TMPDIR:-/tmp}/gateway-bench-peers}"

mkdir -p "$work"
# Refresh the harness but keep installed node_modules and earlier runs.
(cd "$peers" && tar --exclude=node_modules --exclude=.run --exclude=bin -cf - .) | (cd "$work" && tar -xf -)
# The copy's DIVERSE load, replaced until the next refresh (a path from
# the project root, or absolute).
case "${DIVERSE_SCRIPT:-}" in
  "") ;;
  /*) cp "$DIVERSE_SCRIPT" "$work/wrk/diverse.lua" ;;
  *) cp "$root/$DIVERSE_SCRIPT" "$work/wrk/diverse.lua" ;;
esac

# Built as the image builds it (see Dockerfile); with FLOOR=1, the floor
# (e2e/floor) is what runs as "gateway".
CGO_ENABLED=0 go build -C "$root" -trimpath -ldflags="-s -w" -o "$work/bin/gateway" "./${FLOOR:+e2e/floor}"
[ -z "${FLOOR:-}" ] || echo "FLOOR=1: the system named gateway below is e2e/floor" >&2
cd "$work"
# GOMAXPROCS for the gateway only: exported, it would reach the Go upstream too.
exec ./compare.sh "${GATEWAY_GOMAXPROCS:+GOMAXPROCS=$GATEWAY_GOMAXPROCS }exec $work/bin/gateway"
