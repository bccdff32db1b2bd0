#!/usr/bin/env bash
# bench/fleet.sh — the hub at fleet scale, as root, in a network namespace
# that the e2e benchmark creates and removes (internal/testlan): every probe
# goes to loopback addresses inside it, nothing reaches the real network.
# The real binary on one core (GOMAXPROCS=1), default probe intervals:
#   - 10,000 machines watched for SECONDS seconds (default 30): the probe
#     rounds per second it keeps up with, its CPU and RSS
#   - then as many event-stream clients as the hub allows (256), reading:
#     the RSS with them open, per stream
# BenchmarkFleet in e2e/fleet_test.go, built without -race.
# Usage: sudo bench/fleet.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export MOONWAKE_BENCH_SECONDS=${1:-30}
[ "$(id -u)" = 0 ] || { echo "bench/fleet.sh needs root (network namespaces)"; exit 1; }
command -v ip >/dev/null || { echo "install iproute2"; exit 1; }
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
if ! go test -run '^$' -bench 'BenchmarkFleet' -benchtime 1x -timeout 20m ./e2e/ >"$OUT" 2>&1; then
	cat "$OUT"
	exit 1
fi
grep -E "Benchmark|machines on one core|event streams open|SKIP" "$OUT" | sed 's/^ *fleet_test.go:[0-9]*: //'
