#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 10s). The seed corpora
# (f.Add and testdata/fuzz/) also run in every plain `go test`.
#   .ci/fuzz.sh              # CI: 10 s each
#   FUZZTIME=2m .ci/fuzz.sh  # longer, locally
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
targets=(
  "./upstream/ FuzzDecodeBody"
  "./upstream/ FuzzParseRetryAfter"
  "./graph/model/ FuzzDateTime"
  "./graph/ FuzzCheckID"
  "./graph/auth/ FuzzBearer"
  "./graph/gateway/ FuzzLoadConfig"
)
for t in "${targets[@]}"; do
  set -- $t
  echo "==> $2 ($1, $fuzztime)"
  go test -run='^$' -fuzz="^$2\$" -fuzztime="$fuzztime" -parallel 2 "$1"
done
