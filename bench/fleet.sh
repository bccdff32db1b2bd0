#!/usr/bin/env bash
# bench/fleet.sh — the hub at fleet scale, as root, in a network namespace
# that the e2e benchmark creates and removes (internal/testlan): every probe
# goes to loopback addresses inside it, nothing reaches the real network.
# The real binary on one core (GOMAXPROCS=1), default probe intervals:
#   - 10,000 machines watched for SECONDS seconds (default 30): the probe
#     rounds per second it keeps up with, its CPU and RSS
#   - then 1,000 event-stream clients beside them (event_streams.max
#     raised to 1,000), reading: the RSS with them open, per stream
#   - and a hub of its own with 1,000 event streams and nothing else,
#     20 events delivered to each: RSS, Go heap, per stream, delivery time
# BenchmarkFleet in e2e/fleet_test.go and BenchmarkEventStreams in
# e2e/streams_bench_test.go, built without -race; each stops by itself.
# Usage: sudo bench/fleet.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export MOONWAKE_BENCH_SECONDS=${1:-30}
[ "$(id -u)" = 0 ] || { echo "bench/fleet.sh needs root (network namespaces)"; exit 1; }
command -v ip >/dev/null || { echo "install iproute2"; exit 1; }
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
if ! go test -run '^$' -bench 'BenchmarkFleet|BenchmarkEventStreams' -benchtime 1x -timeout 20m ./e2e/ >"$OUT" 2>&1; then
	cat "$OUT"
	exit 1
fi
grep -E "Benchmark|machines on one core|event streams open|events to each|SKIP" "$OUT" | sed -E 's/^ *[a-z_]+_test.go:[0-9]+: //'
