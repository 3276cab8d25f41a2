#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 10s), one after the
# other, and exits non-zero when any of them fails (after running them all).
# The seed corpora (f.Add and testdata/fuzz/) also run in every plain
# `go test`.
#   .ci/fuzz.sh                               # CI: 10 s each
#   FUZZTIME=2m .ci/fuzz.sh                   # longer, locally
#   FUZZ_PARALLEL=1 .ci/fuzz.sh               # one worker (a shared machine)
#   .ci/fuzz.sh FuzzConfigVariable FuzzBearerHeader # only these targets
# A failing target writes its input to <package>/testdata/fuzz/<target>/:
# commit that file with the fix, as a regression test.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
parallel="${FUZZ_PARALLEL:-2}"
selected="$*"
targets=(
  "./upstream/ FuzzResponseDecode"
  "./upstream/ FuzzRetryAfterHeader"
  "./upstream/ FuzzUpstreamTime"
  "./upstream/ FuzzCleanBaseURL"
  "./graph/model/ FuzzDateTimeEmit"
  "./graph/ FuzzCheckIDCharset"
  "./graph/ FuzzPageArgs"
  "./graph/auth/ FuzzBearerHeader"
  "./graph/gateway/ FuzzConfigVariable"
  "./graph/gateway/ FuzzDocumentLimits"
)
# Every fuzz target of the module is listed above.
listed=" ${targets[*]} "
for name in $(grep -rhoE --include='*_test.go' --exclude-dir=node_modules --exclude-dir=e2e \
  '^func Fuzz[A-Za-z0-9_]*\(' . | sed 's/^func //; s/($//' | sort -u); do
  if [[ "$listed" != *" $name "* ]]; then
    echo "fuzz target $name is not listed in $0" >&2
    exit 2
  fi
done
failed=()
ran=0
for t in "${targets[@]}"; do
  set -- $t
  pkg=$1 name=$2
  if [ -n "$selected" ] && [[ " $selected " != *" $name "* ]]; then
    continue
  fi
  ran=$((ran + 1))
  echo "==> $name ($pkg, $fuzztime)"
  if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -parallel "$parallel" "$pkg"; then
    failed+=("$pkg $name")
  fi
done
if [ "$ran" -eq 0 ]; then
  echo "no fuzz target matches: $selected" >&2
  exit 2
fi
if [ "${#failed[@]}" -gt 0 ]; then
  printf '\nFAILED fuzz targets:\n' >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "all $ran fuzz targets passed"
