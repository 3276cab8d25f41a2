#!/usr/bin/env bash
# Compares two revisions of the gateway on the harness's DIVERSE load (many
# tokens, many queries: nothing shared), as the README's Performance section
# measures a change: each round starts both binaries afresh, in turn, the
# order alternating, and the medians over the rounds are compared; so is
# each round's pair, since a machine that drifts over minutes moves both
# of a pair alike: the median of NEW/OLD, the middle half of those
# ratios, and in how many rounds NEW was better.
#
#   e2e/bench-ab.sh OLD [NEW]               # git revisions; NEW defaults to the work tree
#   ROUNDS=8 SECONDS_EACH=6 e2e/bench-ab.sh HEAD~1
#   LATENCY=20ms e2e/bench-ab.sh HEAD~1     # the fake upstream's latency
#   B_ENV="GOMAXPROCS=1" e2e/bench-ab.sh HEAD HEAD   # one revision, two settings
#   WRK_SCRIPT=e2e/bench/variants.lua VARIANT=every ACCEPT_ENCODING="gzip, deflate, br" \
#     e2e/bench-ab.sh HEAD~1          # another load (a path from the project root); its
#                                     # settings reach wrk through the environment
#
# Why fresh processes: the same two processes measured round after round
# keep their own luck (where their threads and memory landed). The same
# binary measured against itself so differed by up to 7 % in every round,
# more than most single changes gain. A new pair each round, and medians,
# brought that to 0.2 % in one such run; but one change measured -7.8 % and
# then +1.7 % in two runs of this script, so run it again before believing
# a few percent.
#
# Needs wrk, Go, and the peer harness (../shared/bench-peers, or PEERS_DIR);
# binaries are built as the image builds them. About 2 minutes per 8 rounds
# of 6 s, plus the builds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
old="${1:?usage: e2e/bench-ab.sh OLD_REVISION [NEW_REVISION]}"
new="${2:-}"
peers="$(cd "$root" && cd "${PEERS_DIR:-../shared/bench-peers}" && pwd)"
rounds="${ROUNDS:-8}" secs="${SECONDS_EACH:-6}"
script="$peers/wrk/diverse.lua"
if [ -n "${WRK_SCRIPT:-}" ]; then
  script="$(cd "$root" && realpath "$WRK_SCRIPT")"
fi
command -v wrk >/dev/null || { echo "bench-ab.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# build REVISION OUT: the binary of a revision ("" = the work tree).
build() {
  local src="$root"
  if [ -n "$1" ]; then
    src="$work/src-$(basename "$2")"
    mkdir -p "$src"
    git -C "$root" archive "$1" | tar -x -C "$src"
  fi
  CGO_ENABLED=0 go build -C "$src" -trimpath -ldflags="-s -w" -o "$2" .
}
build "$old" "$work/a"
build "$new" "$work/b"
(cd "$peers/upstream" && go build -o "$work/upstream" .)

port_up=19790 port_gw=19791
# The upstream and each gateway run in sessions of their own (setsid), as
# the harness starts them: where the kernel groups each session's threads
# for its scheduler (autogroup), that decides how the three processes
# share the two cores, and a change measured with all of them in one
# session was once cheaper here and far worse in the harness.
setsid "$work/upstream" -addr "127.0.0.1:$port_up" -latency "${LATENCY:-0ms}" >"$work/upstream.log" 2>&1 &
up=$!
pids+=("$up")
sleep 0.5

results="$work/results"
: >"$results"
for i in $(seq 1 "$rounds"); do
  order="a b"
  [ $((i % 2)) = 0 ] && order="b a"
  for side in $order; do
    side_env="A_ENV"
    [ "$side" = b ] && side_env="B_ENV"
    # shellcheck disable=SC2086 # the settings are words on purpose
    setsid env ${!side_env:-} SHUTDOWN_DELAY=0 ADDR="127.0.0.1:$port_gw" \
      BOTPENGUIN_BASE_URL="http://127.0.0.1:$port_up" "$work/$side" >"$work/$side.log" 2>&1 &
    gw=$!
    pids+=("$gw")
    for _ in $(seq 1 50); do
      curl -fsS -o /dev/null "http://127.0.0.1:$port_gw/healthz" 2>/dev/null && break
      sleep 0.1
    done
    line=$(UPSTREAM="http://127.0.0.1:$port_up" SERVER_PID=$gw UPSTREAM_PID=$up \
      WRK_SCRIPT="$script" "$peers/bench.sh" "http://127.0.0.1:$port_gw/query" Q1 32 "$secs" | tail -1)
    echo "round $i $side: $line"
    echo "$i $side $line" >>"$results"
    kill "$gw"
    wait "$gw" 2>/dev/null || true
  done
done

# Medians per side, and B against A; then B against A within each round,
# which a machine that drifts over minutes moves less: the median of those
# ratios, the middle half of them, and in how many rounds B was the
# cheaper (if that is about half of them, the difference is noise).
awk '
  function sort(list, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j-1] > list[j]; j--) { t = list[j]; list[j] = list[j-1]; list[j-1] = t }
  }
  function median(list, n) {
    sort(list, n)
    return (n % 2) ? list[(n+1)/2] : (list[n/2] + list[n/2+1]) / 2
  }
  # paired NAME VALUES LOWER: NEW/OLD of VALUES within each round; LOWER
  # names what it counts (a lower value is better for every field here
  # but req/s).
  function paired(name, v, lower,   i, k, q, better, quarter, m) {
    k = 0; better = 0
    for (i = 1; i <= last; i++) {
      if (!(("a", i) in v) || !(("b", i) in v) || v["a", i] == 0) continue
      q[++k] = v["b", i] / v["a", i]
      if ((lower && q[k] < 1) || (!lower && q[k] > 1)) better++
    }
    if (k == 0) return
    m = median(q, k) # sorts q
    quarter = int(k / 4)
    printf "  %-6s median %.3f, middle half %.3f-%.3f, NEW better in %d of %d rounds\n", name, m, q[quarter+1], q[k-quarter], better, k
  }
  {
    round = $1; side = $2
    if (round > last) last = round
    for (f = 3; f <= NF; f++) {
      split($f, kv, "=")
      if (kv[1] == "rps") rps[side, round] = kv[2]
      if (kv[1] == "p99_ms") p99[side, round] = kv[2]
      if (kv[1] == "cpu_ms_per_req") cpu[side, round] = kv[2]
    }
  }
  END {
    for (s = 1; s <= 2; s++) {
      side = (s == 1) ? "a" : "b"
      n = 0
      for (i = 1; i <= last; i++) if ((side, i) in cpu) { n++; r[n] = rps[side, i]; p[n] = p99[side, i]; c[n] = cpu[side, i] }
      mr[side] = median(r, n); mp[side] = median(p, n); mc[side] = median(c, n)
      printf "%s (%s): median req/s %.0f, p99 %.2f ms, CPU %.4f ms/req over %d rounds\n", side, (side == "a") ? "OLD" : "NEW", mr[side], mp[side], mc[side], n
    }
    printf "NEW/OLD: CPU %.3f, req/s %.3f, p99 %.3f\n", mc["b"] / mc["a"], mr["b"] / mr["a"], mp["b"] / mp["a"]
    print "NEW/OLD within each round:"
    paired("CPU", cpu, 1); paired("req/s", rps, 0); paired("p99", p99, 1)
  }' "$results"
