#!/usr/bin/env bash
# bench/soak.sh — a long run of the hub under a steady, mixed load, watching
# that its memory stays flat (bench/soak/main.go says what the load is). All
# on loopback; no root needed. Not in CI: it takes DURATION (default 30m).
# Usage: bench/soak.sh [DURATION [RATE]]   e.g. bench/soak.sh 3m
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-30m}
RATE=${2:-40}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
go build -o "$TMP/moonwake" ./cmd/moonwake
go build -o "$TMP/soak" ./bench/soak
"$TMP/soak" -bin "$TMP/moonwake" -duration "$DURATION" -rate "$RATE"
