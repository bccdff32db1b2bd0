#!/usr/bin/env bash
# bench/relay.sh — the relay's numbers, as root, on LANs of network
# namespaces that the e2e benchmarks create and remove (internal/testlan):
# nothing reaches the real network. It measures, on this machine:
#   - wake latency, from POST /api/v1/machines/{name}/wake to the magic
#     packet arriving at a host on the machine's LAN, WAKES wakes one after
#     the other (default 200), p50 and p99: the hub on that LAN sending
#     itself ("direct"), and the hub on another LAN (a pod network) with a
#     relay on both sending it ("relay")
#   - the relay's RSS and CPU while the hub watches 100 machines on its LAN
#     at the default probe intervals, for SECONDS seconds (default 30); the
#     machines do not exist, so every probe waits out its timeout
# Both are Go benchmarks in e2e/relaybench_test.go, built without -race.
# Usage: sudo bench/relay.sh [WAKES [SECONDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
WAKES=${1:-200}
SECONDS_=${2:-30}
[ "$(id -u)" = 0 ] || { echo "bench/relay.sh needs root (network namespaces)"; exit 1; }
command -v ip >/dev/null || { echo "install iproute2"; exit 1; }
export MOONWAKE_BENCH_SECONDS=$SECONDS_
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
run() { # name benchmark benchtime pattern
	echo "== $1"
	if ! go test -run '^$' -bench "$2" -benchtime "$3" -timeout 10m ./e2e/ >"$OUT" 2>&1; then
		cat "$OUT"
		exit 1
	fi
	grep -E "$4" "$OUT"
	echo
}
run "wake latency, $WAKES wakes each" BenchmarkWakeLatency "${WAKES}x" 'Benchmark|wakes,|SKIP'
run "relay RSS, 100 machines probed for ${SECONDS_}s" BenchmarkRelayRSS 1x 'Benchmark|relay with|SKIP'
