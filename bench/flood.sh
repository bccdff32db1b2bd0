#!/usr/bin/env bash
# bench/flood.sh — a flood of Moonlight's Wake PC port (the UDP passthrough,
# open to the internet), as root, on a LAN of network namespaces that the
# test creates and removes: nothing reaches the real network. 32 sender
# addresses send magic packets as fast as they can for SECONDS (default 60)
# for a PC that is on, a PC that is off and 62 unknown MACs. It prints the
# packets sent, the actions and events recorded and the database's growth,
# extrapolated to a week.
#
# What bounds the growth: a PC that is on costs nothing (counted, not
# recorded); unknown MACs cost nothing; a PC that is off gets one wake at a
# time, and the wakes from outside that start a new action draw on a
# budget of 6, one back every 5 minutes: at most about 2,000 actions a week
# per machine, which retention (retention.actions, 90 days) then prunes.
# Usage: sudo bench/flood.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/flood.sh needs root (network namespaces)"; exit 1; }
export MOONWAKE_FLOOD_SECONDS=${1:-60}
go test -count=1 -run '^TestPassthroughFlood$' -v -timeout 70m ./e2e/ 2>&1 | grep -E 'flood_test|^(ok|FAIL|---)'
