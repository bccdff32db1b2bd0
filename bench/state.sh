#!/usr/bin/env bash
# bench/state.sh — how soon the hub's state follows a PC, as root, on a LAN
# of network namespaces that the e2e benchmark creates and removes
# (internal/testlan): nothing reaches the real network. With the hub's
# default probes and an emulated PC whose agent outlives its address (its
# link looks up while it is dark), SAMPLES samples each (default 20), p50
# and p99:
#   - command: a shutdown the agent accepted, PC dark to the state off
#   - rest:    the PC goes dark on its own, to the state off
#   - up:      a wake, the PC's first answer to the state on
# BenchmarkPowerState in e2e/dark_test.go, built without -race.
# Usage: sudo bench/state.sh [SAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${1:-20}
[ "$(id -u)" = 0 ] || { echo "bench/state.sh needs root (network namespaces)"; exit 1; }
command -v ip >/dev/null || { echo "install iproute2"; exit 1; }
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
if ! go test -run '^$' -bench 'BenchmarkPowerState' -benchtime "${SAMPLES}x" -timeout 60m ./e2e/ >"$OUT" 2>&1; then
	cat "$OUT"
	exit 1
fi
grep -E "samples:|SKIP" "$OUT" | grep -v ' 1 samples' | sed 's/^ *dark_test.go:[0-9]*: //'
