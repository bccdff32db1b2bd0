#!/usr/bin/env bash
# bench/serverless.sh — cold start of the serverless front, from process
# start to the first answer, side by side with the seed's Python function
# (Flask under gunicorn, 2 sync workers: what moonwake's front replaces).
# As root, entirely inside network namespaces that it creates and removes
# (the seed broadcasts to 255.255.255.255): nothing reaches the real
# network. Rows:
#   - moonwake front (the Knative Service's process): to /healthz, and to
#     a wake through a running hub (GET /wake?mac=…&token=… → the hub's 202)
#   - the same front alone in a binary (bench/frontonly), to see what the
#     whole moonwake binary costs at start
#   - the seed: to its first 200 on GET /wake?mac=…
# Needs Debian's python3-flask and gunicorn, and the seed beside the
# repository (SEED_DIR, default /work/shared/baseline).
# Usage: sudo bench/serverless.sh [runs per row, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
SEED_DIR=${SEED_DIR:-/work/shared/baseline}
[ "$(id -u)" = 0 ] || { echo "bench/serverless.sh needs root (network namespaces)"; exit 1; }
[ -x /usr/bin/gunicorn ] && python3 -c 'import flask' 2>/dev/null ||
	{ echo "install python3-flask and gunicorn (apt-get install python3-flask gunicorn)"; exit 1; }
[ -x "$SEED_DIR/run-seed-fn.sh" ] || { echo "no seed function at $SEED_DIR (set SEED_DIR)"; exit 1; }

TMP=$(mktemp -d)
NS=mw-sless-$$
LAN=mw-sless-$$-lan
HUB=
cleanup() {
	[ -z "$HUB" ] || kill "$HUB" 2>/dev/null || true
	wait 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	ip netns del "$LAN" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

echo "building"
go build -o "$TMP/moonwake" ./cmd/moonwake
go build -o "$TMP/frontonly" ./bench/frontonly
go build -o "$TMP/coldstart" ./bench/coldstart
echo "binaries: moonwake $(du -h "$TMP/moonwake" | cut -f1), frontonly $(du -h "$TMP/frontonly" | cut -f1)"

# The functions' namespace and a LAN namespace behind a veth pair. The
# default route leads only to the LAN namespace, so the seed's broadcast to
# 255.255.255.255 has somewhere to go, and goes nowhere else.
ip netns add "$NS"
ip netns add "$LAN"
ip -n "$NS" link set lo up
ip -n "$LAN" link set lo up
ip -n "$NS" link add eth0 type veth peer name eth0 netns "$LAN"
ip -n "$NS" addr add 10.79.0.1/24 dev eth0
ip -n "$LAN" addr add 10.79.0.2/24 dev eth0
ip -n "$NS" link set eth0 up
ip -n "$LAN" link set eth0 up
ip -n "$NS" route add default dev eth0
IN() { ip netns exec "$NS" "$@"; }

# A hub for the front to forward to, with the machine the wakes are for
# and a token that may wake it, as a phone's shortcut would hold.
export MOONWAKE_RATE_LIMIT_PER_MINUTE=1000000000 MOONWAKE_RATE_LIMIT_BURST=1000000 MOONWAKE_UI_REVERSE_DNS=off
ip netns exec "$NS" "$TMP/moonwake" serve --listen 127.0.0.1:8080 --data "$TMP/data" >"$TMP/hub.out" 2>"$TMP/hub.log" &
HUB=$!
for _ in $(seq 100); do IN curl -sf -o /dev/null http://127.0.0.1:8080/healthz && break; sleep 0.05; done
ADMIN=$(grep -o 'mw_[A-Za-z0-9_-]*' "$TMP/hub.out")
IN curl -sf -o /dev/null -H "Authorization: Bearer $ADMIN" -X POST http://127.0.0.1:8080/api/v1/machines \
	-d '{"name":"pc","mac":"02:79:00:00:00:01","interface":"eth0"}'
TOKEN=$(IN curl -sf -H "Authorization: Bearer $ADMIN" -X POST http://127.0.0.1:8080/api/v1/tokens \
	-d '{"name":"shortcut","machines":["pc"],"actions":["wake"]}' | grep -o 'mw_[A-Za-z0-9_-]*')
MAC=02:79:00:00:00:01

echo
echo "== cold start: process start → first answer ($RUNS runs each, loopback in the namespace)"
IN "$TMP/coldstart" -runs "$RUNS" -name "moonwake front → 200 /healthz" -url http://127.0.0.1:8081/healthz -- \
	"$TMP/moonwake" front --hub http://127.0.0.1:8080 --listen 127.0.0.1:8081
IN "$TMP/coldstart" -runs "$RUNS" -status 202 -name "moonwake front → hub's 202 /wake?mac=&token=" \
	-url "http://127.0.0.1:8081/wake?mac=$MAC&token=$TOKEN" -- \
	"$TMP/moonwake" front --hub http://127.0.0.1:8080 --listen 127.0.0.1:8081
IN env MOONWAKE_HUB=http://127.0.0.1:8080 HOST=127.0.0.1 PORT=8081 "$TMP/coldstart" -runs "$RUNS" \
	-name "frontonly → 200 /healthz" -url http://127.0.0.1:8081/healthz -- "$TMP/frontonly"
IN env BIND=127.0.0.1:8082 "$TMP/coldstart" -runs "$RUNS" -name "seed, gunicorn+Flask → 200 /wake?mac=" \
	-url "http://127.0.0.1:8082/wake?mac=$MAC" -- "$SEED_DIR/run-seed-fn.sh"
