#!/usr/bin/env bash
# The container image, built as the README's Deployment says (the static
# binary built here, then podman build of the Dockerfile), run and checked:
# -version; in -demo mode a customers query through /query, /healthz,
# /readyz and /metrics; -healthcheck from inside the image; the process's
# non-root user; an image of two files and no shell; and SIGTERM turning it
# unready, draining a request in flight and exiting 0. Prints the image
# size (which must stay under 32 MB), the build times and the time from
# podman run to ready. Installs podman if it is missing (Debian, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

max_bytes=$((32 * 1000 * 1000))

say() { printf '  %s\n' "$*"; }
ctr=""
fail() {
  echo "image: $*" >&2
  if [ -n "$ctr" ]; then
    echo "image: the container's logs:" >&2
    podman logs "$ctr" >&2 2>&1 || true
  fi
  exit 1
}
# seconds since $1 (date +%s%N), to the millisecond
since() { printf '%d.%03d' $(((($(date +%s%N) - $1) / 1000000) / 1000)) $(((($(date +%s%N) - $1) / 1000000) % 1000)); }

missing=()
for tool in podman runc curl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
podman --version

# What running a container takes on these machines: runc (crun fails on
# their cgroups), explicit limits (the defaults ask for more than is
# granted), the host's network (no firewall rules to add), and no
# health-check timer (that needs systemd; the check is run by hand below).
run_flags=(--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --network host --no-healthcheck)

tmp=$(mktemp -d)
mkdir "$tmp/context"
tag="localhost/botpenguin-gateway:check-$$"
slow=""
cleanup() {
  set +e # what is already gone is fine
  [ -n "$slow" ] && kill "$slow" 2>/dev/null
  [ -n "$ctr" ] && podman rm -f "$ctr" >/dev/null 2>&1
  podman rmi -f "$tag" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "build"
version=$(git describe --tags --always --dirty)
t=$(date +%s%N)
# -buildvcs=auto records the commit even where GOFLAGS turns it off.
CGO_ENABLED=0 go build -buildvcs=auto -trimpath -ldflags="-s -w -X main.version=$version" -o "$tmp/context/gateway" .
go_build=$(since "$t")
cp /etc/ssl/certs/ca-certificates.crt "$tmp/context/"
t=$(date +%s%N)
# The docker format keeps the HEALTHCHECK, which OCI images cannot hold.
podman build --quiet --layers=false --format docker --build-arg VERSION="$version" -f Dockerfile -t "$tag" "$tmp/context" >/dev/null
image_build=$(since "$t")
size=$(podman image inspect --format '{{.Size}}' "$tag")
binary=$(stat -c %s "$tmp/context/gateway")
say "go build: ${go_build} s (binary $binary bytes); podman build: ${image_build} s"
say "image size: $size bytes ($((size / 1000 / 1000)) MB; limit $((max_bytes / 1000 / 1000)) MB)"
[ "$size" -lt "$max_bytes" ] || fail "the image is $size bytes, not under $max_bytes"

echo "image contents and configuration"
mnt=$(podman image mount "$tag")
files=$(cd "$mnt" && find . -not -type d | sort)
podman image unmount "$tag" >/dev/null
[ "$files" = $'./etc/ssl/certs/ca-certificates.crt\n./gateway' ] ||
  fail "the image holds more than the binary and the certificates: $files"
say "files: ${files//$'\n'/ }"
config=$(podman image inspect --format '{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.ExposedPorts}} {{json .Config.Healthcheck.Test}}' "$tag")
[ "$config" = '65532:65532 ["/gateway"] {"8080/tcp":{}} ["CMD","/gateway","-healthcheck"]' ] ||
  fail "image configuration: $config"
say "user, entrypoint, port, health check: $config"

echo "gateway -version"
out=$(podman run --rm "${run_flags[@]}" "$tag" -version)
echo "$out" | sed 's/^/  /'
grep -qx "version $version" <<<"$out" || fail "-version does not say version $version"
grep -qx "go $(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)" <<<"$out" || fail "-version does not say this Go"
# Go records the commit when built in a clone (not in a git worktree,
# whose .git is a file).
if [ -d .git ]; then
  grep -q "^commit $(git rev-parse HEAD)" <<<"$out" || fail "-version does not say commit $(git rev-parse HEAD)"
else
  grep -qx "commit unknown" <<<"$out" || fail "-version says a commit Go could not have recorded"
fi

echo "gateway -demo"
# The gateway chooses its port: no port is picked here and then taken by
# someone else. Every sample upstream answer is 2 s late, longer than
# SHUTDOWN_DELAY, so that a query is still in flight when the listener
# closes (below).
t=$(date +%s%N)
ctr=$(podman run -d "${run_flags[@]}" -e ADDR=127.0.0.1:0 -e SHUTDOWN_DELAY=1s "$tag" -demo -demo-latency 2s)
addr=""
for _ in $(seq 400); do
  addr=$(podman logs "$ctr" 2>&1 | sed -n 's/.*"msg":"gateway listening","addr":"\([^"]*\)".*/\1/p' | head -n 1)
  [ -n "$addr" ] && break
  [ "$(podman inspect --format '{{.State.Running}}' "$ctr")" = true ] || fail "the container stopped"
  sleep 0.05
done
[ -n "$addr" ] || fail "no \"gateway listening\" line in 20 s"
base="http://$addr"
status() { curl -s -o /dev/null -w '%{http_code}' "$@" || true; }
for _ in $(seq 400); do
  [ "$(status "$base/readyz")" = 200 ] && break
  sleep 0.05
done
[ "$(status "$base/readyz")" = 200 ] || fail "/readyz is not 200"
say "ready on $addr $(since "$t") s after podman run"

[ "$(status "$base/healthz")" = 200 ] || fail "/healthz is not 200"
query() { curl -sS "$base/query" -H 'Content-Type: application/json' -d "{\"query\": \"$1\"}"; }
answer=$(query '{ customers { page hasNextPage nodes { id name contact { email } status } } }')
grep -qF '"page":1,"hasNextPage":true,"nodes":[{"id":"661000009e3779b97f4a7c15","name":"Jonas v1","contact":{"email":"jonas+0@monday101.com"},"status":"UNKNOWN"}' <<<"$answer" ||
  fail "customers: $answer"
! grep -qF '"errors"' <<<"$answer" || fail "customers: $answer"
say "/healthz 200, /readyz 200, customers through /query: ${answer:0:90}..."
metrics=$(curl -fsS "$base/metrics")
for series in 'gateway_graphql_operations_total{operation="anonymous",outcome="ok"} 1' 'gateway_upstream_requests_total{outcome="ok",status="200"}' go_goroutines process_resident_memory_bytes; do
  grep -qF "$series" <<<"$metrics" || fail "/metrics has no $series"
done
say "/metrics: operations, upstream calls, Go and process series"

out=$(podman exec -e ADDR="$addr" "$ctr" /gateway -healthcheck) || fail "-healthcheck failed: $out"
say "inside the image, $out"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$(podman inspect --format '{{.State.Pid}}' "$ctr")/status")
[ "$uid" = 65532 ] || fail "the gateway runs as uid $uid"
say "the gateway runs as uid $uid"
if podman exec "$ctr" /bin/sh -c true 2>/dev/null; then
  fail "a shell runs in the image"
fi
say "no /bin/sh to exec"

echo "SIGTERM"
# A query in flight: customer(id) of an unknown id reads every page, each
# 2 s late.
curl -sS -o "$tmp/slow.json" -w '%{http_code}' "$base/query" -H 'Content-Type: application/json' \
  -d '{"query": "{ customer(id: \"ffffffffffffffffffffffff\") { id } }"}' >"$tmp/slow.status" &
slow=$!
in_flight=""
for _ in $(seq 200); do
  in_flight=$(curl -sS "$base/metrics" | grep -x 'gateway_http_requests_in_flight 1' || true)
  [ -n "$in_flight" ] && break
  sleep 0.02
done
[ -n "$in_flight" ] || fail "the query is not in flight"
t=$(date +%s%N)
podman kill --signal TERM "$ctr" >/dev/null
for _ in $(seq 100); do
  [ "$(status "$base/readyz")" = 503 ] && break
  sleep 0.02
done
[ "$(status "$base/readyz")" = 503 ] || fail "/readyz is not 503 after SIGTERM"
answer=$(query '{ customers(page: 2) { page } }')
[ "$answer" = '{"data":{"customers":{"page":2}}}' ] || fail "not serving while unready: $answer"
say "unready (/readyz 503), still serving"
closed=""
for _ in $(seq 150); do
  closed=$(podman logs "$ctr" 2>&1 | grep -F '"msg":"shutting down: listener closed, finishing in-flight requests"' || true)
  [ -n "$closed" ] && break
  sleep 0.02
done
[ -n "$closed" ] || fail "the listener did not close within 3 s of SIGTERM"
kill -0 "$slow" 2>/dev/null || fail "the query ended before the listener closed: nothing was left to drain"
say "listener closed, the query still in flight"
exit_code=$(podman wait "$ctr")
stopped=$(since "$t")
[ "$exit_code" = 0 ] || fail "exit code $exit_code after SIGTERM"
wait "$slow" || fail "the query in flight failed"
slow=""
[ "$(cat "$tmp/slow.status")" = 200 ] && [ "$(cat "$tmp/slow.json")" = '{"data":{"customer":null}}' ] ||
  fail "the query in flight got $(cat "$tmp/slow.status"): $(cat "$tmp/slow.json")"
logs=$(podman logs "$ctr" 2>&1)
! grep -qF 'demo-key' <<<"$logs" || fail "the key is in the logs"
say "exit code 0, $stopped s after SIGTERM; the query in flight got its answer"
echo "image: all checks passed"
