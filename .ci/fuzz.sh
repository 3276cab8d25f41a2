#!/usr/bin/env bash
# Fuzzes every target for its budget of executions, one after the other,
# and exits non-zero when any of them failed (after running them all). The
# seed corpora (f.Add and testdata/fuzz/) also run in every plain `go test`.
#
# Budgets are execution counts (-fuzztime=Nx), a few seconds each on a
# 2-core machine, not durations: with a duration, Go 1.26's fuzzing coordinator
# sometimes fails a target with "context deadline exceeded" as its time
# runs out, having found nothing and written no input (golang/go#75804,
# fixed in Go 1.27). A count ends fuzzing without that deadline, so the
# race cannot happen. Should a target fail anyway (a duration in FUZZTIME
# brings the race back), the failure counts only when replaying the
# target's corpus, which holds any input the fuzzer just wrote, fails too;
# a failure the replay does not confirm is a warning that names any input
# written.
#   .ci/fuzz.sh                                     # CI: each target's budget
#   FUZZTIME=500000x .ci/fuzz.sh                    # this many executions each
#   FUZZTIME=2m .ci/fuzz.sh                         # longer, locally
#   FUZZ_PARALLEL=1 .ci/fuzz.sh                     # one worker (a shared machine)
#   .ci/fuzz.sh FuzzConfigVariable FuzzBearerHeader # only these targets
# A failing target writes its input to <package>/testdata/fuzz/<target>/:
# commit that file with the fix, as a regression test.
set -uo pipefail
cd "$(dirname "$0")/.."
parallel="${FUZZ_PARALLEL:-2}"
selected="$*"
# The budget of a target listed without one.
default_budget=20000x
# package, target, and its budget in executions (2 to 6 s each here).
targets=(
  "./upstream/ FuzzResponseDecode 50000x"
  "./upstream/ FuzzRetryAfterHeader 30000x"
  "./upstream/ FuzzUpstreamTime 20000x"
  "./upstream/ FuzzCleanBaseURL 20000x"
  "./graph/model/ FuzzDateTimeEmit 80000x"
  "./graph/model/ FuzzAppendJSON 50000x"
  "./graph/ FuzzCheckIDCharset 60000x"
  "./graph/ FuzzPageArgs 50000x"
  "./internal/auth/ FuzzBearerHeader 70000x"
  "./internal/config/ FuzzConfigVariable 10000x"
  "./internal/httpserver/ FuzzDocumentLimits"
  "./internal/httpserver/ FuzzPlainParams 100000x"
  "./graph/loader/ FuzzFoldEmailIsEqualFold 100000x"
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
unconfirmed=()
ran=0
for t in "${targets[@]}"; do
  set -- $t
  pkg=$1 name=$2
  budget="${FUZZTIME:-${3:-$default_budget}}"
  if [ -n "$selected" ] && [[ " $selected " != *" $name "* ]]; then
    continue
  fi
  ran=$((ran + 1))
  corpus="${pkg%/}/testdata/fuzz/$name"
  before=$(ls "$corpus" 2>/dev/null)
  echo "==> $name ($pkg, $budget)"
  if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$budget" -parallel "$parallel" "$pkg"; then
    continue
  fi
  written=$(comm -13 <(echo "$before") <(ls "$corpus" 2>/dev/null) | sed "s|^|$corpus/|" | paste -sd ' ')
  echo "==> $name failed; replaying its corpus${written:+ (new: $written)}"
  if ! go test -count=1 -run="^${name}\$" "$pkg"; then
    failed+=("$pkg $name")
  elif [ -n "$written" ]; then
    unconfirmed+=("$pkg $name: the input it wrote passes on replay: $written")
  else
    unconfirmed+=("$pkg $name: no input written and the corpus passes: the fuzzing engine failed, not the code (golang/go#75804?)")
  fi
done
if [ "$ran" -eq 0 ]; then
  echo "no fuzz target matches: $selected" >&2
  exit 2
fi
if [ "${#unconfirmed[@]}" -gt 0 ]; then
  printf '\nWARNING: fuzz failures the corpus replay does not confirm (not counted):\n' >&2
  printf '  %s\n' "${unconfirmed[@]}" >&2
fi
if [ "${#failed[@]}" -gt 0 ]; then
  printf '\nFAILED fuzz targets:\n' >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "all $ran fuzz targets passed"
