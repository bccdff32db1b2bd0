#!/usr/bin/env bash
# bench/run.sh — load test of the hub's wake route, as root, entirely inside
# network namespaces that it creates and removes: nothing reaches the real
# network. It measures, on this machine:
#   - time from process start to the first served request (bench/startup):
#     GET /healthz, and an authorized GET /wake beside the bare handler's
#   - RSS at idle
#   - POST /api/v1/machines/{name}/wake and GET /wake?mac= under wrk
#     (-t2 -c32, loopback inside the namespace), auth and audit log on,
#     rate limits raised for the run
#   - RSS after the load
#   - the web app (bench/web.sh): GET / with a session cookie (2 and 50
#     machines) and a one-tap wake link GET /l/<secret> of a machine
#     that is on, each run bounded by time and by MAX_REQUESTS
#   - bench/baseline, a bare handler that only sends the packet, loaded in
#     turn with the hub's routes, ROUNDS times (default 3), so that the
#     machine's other work weighs on both alike; the medians and their
#     ratios to the bare handler's end the report
# The load generator and the servers run on separate CPUs (taskset): wrk
# on the first half of them, the hub and the bare handler on the second.
# Sharing two CPUs measures how the Go scheduler and wrk's threads take
# turns more than the server: the bare handler itself, with its one
# syscall taken out, answers 38 % more requests a second there, yet its
# p99 grows 1.5× (docs/performance.md). PIN=0 shares them as before.
# Usage: sudo [ROUNDS=3] [STARTUP=0] [WEB=0] [PIN=0] bench/run.sh [seconds per load run, default 10]
# (STARTUP=0 and WEB=0 leave out the start-up and web app parts.)
# With PROFILE=file, the hub is built with -tags pprof and a CPU profile of
# the first round's run of PROFILE_ROUTE (join, wake-get or already-on;
# default join) is written to file (go tool pprof file.bin file); with
# PROFILE_KIND=trace, an execution trace of it instead (go tool trace file).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
[ "$(id -u)" = 0 ] || { echo "bench/run.sh needs root (network namespaces)"; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }

TMP=$(mktemp -d)
NS=mw-bench-$$
LAN=mw-bench-$$-lan
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	ip netns del "$LAN" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

echo "building"
if [ -n "${PROFILE:-}" ]; then
	go build -tags pprof -o "$TMP/moonwake" ./cmd/moonwake
	cp "$TMP/moonwake" "${PROFILE}.bin"
else
	go build -o "$TMP/moonwake" ./cmd/moonwake
fi
go build -o "$TMP/baseline" ./bench/baseline
go build -o "$TMP/startup" ./bench/startup

# The hub's namespace and a LAN namespace behind a veth pair: magic
# packets go to the LAN's subnet broadcast, as in a home.
ip netns add "$NS"
ip netns add "$LAN"
ip -n "$NS" link set lo up
ip -n "$LAN" link set lo up
ip -n "$NS" link add eth0 type veth peer name eth0 netns "$LAN"
ip -n "$NS" addr add 10.78.0.1/24 dev eth0
ip -n "$LAN" addr add 10.78.0.2/24 dev eth0
ip -n "$NS" link set eth0 up
ip -n "$LAN" link set eth0 up
IN() { ip netns exec "$NS" "$@"; }
# SERVE runs a server on its CPUs, LOAD the load generator on the others.
SERVE=() LOAD=()
CPUS=$(nproc)
if [ "${PIN:-1}" = 1 ] && [ "$CPUS" -ge 2 ]; then
	half=$((CPUS / 2))
	LOAD=(taskset -c "0-$((half - 1))") SERVE=(taskset -c "$half-$((CPUS - 1))")
	echo "wrk on CPUs 0-$((half - 1)); the hub and the bare handler on CPUs $half-$((CPUS - 1)) (PIN=0 shares them)"
fi

if [ "${STARTUP:-1}" = 1 ]; then
echo
echo "== start-up (fresh and existing data directory, loopback in the namespace)"
IN "$TMP/startup" -bin "$TMP/moonwake" -runs 30 -listen 127.0.0.1:18181
# Cold start to the first authorized GET /wake of a machine the file
# declares, run for run with the bare handler's first GET /wake.
STARTUP_TOKEN=mw_startupBenchToken0123456789abcdefghijklmnop
echo "$STARTUP_TOKEN" >"$TMP/startup-token"
printf 'machines:\n  - {name: gaming-pc, mac: "02:77:00:00:00:01", interface: eth0}\n' >"$TMP/startup.yaml"
IN "$TMP/startup" -bin "$TMP/moonwake" -runs 30 -listen 127.0.0.1:18181 \
	-config "$TMP/startup.yaml" -token-file "$TMP/startup-token" \
	-path "/wake?mac=02:77:00:00:00:01&token=$STARTUP_TOKEN" \
	-baseline "$TMP/baseline" -target 10.78.0.255:9
fi

echo
echo "== hub"
export MOONWAKE_RATE_LIMIT_PER_MINUTE=1000000000 MOONWAKE_RATE_LIMIT_BURST=1000000 MOONWAKE_UI_REVERSE_DNS=off
echo "wake.count=${MOONWAKE_WAKE_COUNT:-default}"
# ip netns exec execs the program, so $! is the hub's own pid.
ip netns exec "$NS" "${SERVE[@]}" "$TMP/moonwake" serve --listen 127.0.0.1:8080 --data "$TMP/data" >"$TMP/hub.out" 2>"$TMP/hub.log" &
HUB=$!
PIDS+=("$HUB")
for _ in $(seq 100); do IN curl -sf -o /dev/null http://127.0.0.1:8080/healthz && break; sleep 0.05; done
TOKEN=$(cat "$TMP/data/admin-token")
# gaming-pc is asleep on the LAN: the first wake sends packets, and the
# requests that follow join that wake (one record, one burst a second).
IN curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -X POST http://127.0.0.1:8080/api/v1/machines \
	-d '{"name":"gaming-pc","mac":"02:77:00:00:00:01","interface":"eth0"}'
# desk is on (the probe finds the hub's own port open): a wake of it needs
# nothing done. The first is recorded, committed before it is answered;
# the same token's next ones share that record for a minute.
IN curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -X POST http://127.0.0.1:8080/api/v1/machines \
	-d '{"name":"desk","mac":"02:77:00:00:00:02","interface":"eth0","host":"127.0.0.1","ports":[8080]}'
rss() { awk -v what="$2" '$1 == what":" { printf "%.1f MiB", $2 / 1024 }' "/proc/$1/status"; }
sleep 2
echo "RSS at idle: $(rss "$HUB" VmRSS)"

cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
load() { # name url [script]
	echo
	echo "-- $1"
	local args=(-t2 -c32 -d"${DURATION}s" --latency)
	[ -n "${3:-}" ] && args+=(-s "$3")
	IN "${LOAD[@]}" wrk "${args[@]}" "$2" | tee "$TMP/wrk.out" | grep -E 'Requests/sec|Non-2xx|Socket errors|^ +(50|90|99)%'
	# One line per run for the summary: name, req/s, p99 in ms.
	awk -v name="$4" '
		$1 == "Requests/sec:" { rps = $2 }
		$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
			p99 = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
		END { if (name != "") printf "%s %s %s\n", name, rps, p99 }' "$TMP/wrk.out" >>"$TMP/results"
}
wait_profile() { [ -z "${PROFILE:-}" ] || while [ ! -s "$PROFILE" ]; do sleep 0.2; done; }
for _ in $(seq 100); do
	IN curl -sf -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/machines/desk | grep -q '"state":"on"' && break
	sleep 0.1
done

# The bare handler runs beside the hub, and the two are loaded in turn,
# ROUNDS times: whatever else the machine does weighs on both alike.
ip netns exec "$NS" "${SERVE[@]}" "$TMP/baseline" -listen 127.0.0.1:8081 -target 10.78.0.255:9 &
PIDS+=("$!")
for _ in $(seq 100); do IN curl -sf -o /dev/null http://127.0.0.1:8081/wake && break; sleep 0.05; done
ROUNDS=${ROUNDS:-3}
BEFORE=$(IN curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8080/api/v1/actions?limit=1" | grep -o '"id":"act_[^"]*"' | head -1 || true)
for round in $(seq "$ROUNDS"); do
	echo
	echo "== round $round of $ROUNDS"
	load "GET /wake (baseline: bare handler, no auth, no storage)" http://127.0.0.1:8081/wake "" baseline
	profile() { # route: profile this run of it
		if [ -n "${PROFILE:-}" ] && [ "$round" = 1 ] && [ "${PROFILE_ROUTE:-join}" = "$1" ]; then
			local what=profile
			[ "${PROFILE_KIND:-cpu}" = trace ] && what=trace
			(sleep 1; IN curl -sf -o "$PROFILE" "http://127.0.0.1:6060/debug/pprof/$what?seconds=$((DURATION - 2))") &
		fi
	}
	profile join
	load "POST /api/v1/machines/gaming-pc/wake (Bearer token; joins the running wake)" http://127.0.0.1:8080/api/v1/machines/gaming-pc/wake "$TMP/post.lua" join
	profile wake-get
	load "GET /wake?mac=…&token=… (compatibility route; joins)" "http://127.0.0.1:8080/wake?mac=02:77:00:00:00:01&token=$TOKEN" "" wake-get
	profile already-on
	load "POST /api/v1/machines/desk/wake (machine on: nothing to do, one record a minute)" http://127.0.0.1:8080/api/v1/machines/desk/wake "$TMP/post.lua" already-on
	[ "$round" = 1 ] && wait_profile
	echo "RSS after round $round: $(rss "$HUB" VmRSS) (peak $(rss "$HUB" VmHWM))"
done
ACTIONS=$(IN curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8080/api/v1/actions?limit=1" | grep -o '"id":"act_[^"]*"' | head -1 || true)
echo "audit log: last action before the runs $BEFORE, after $ACTIONS; database $(du -sh "$TMP/data" | cut -f1)"

echo
echo "== median of $ROUNDS rounds$([ ${#LOAD[@]} -gt 0 ] && echo ", wrk and the servers on separate CPUs"), against the bare handler (goals: join ≥ 95 % of its req/s, a PC that is on ≥ 80 %, p99 ≤ 1.3×)"
awk '
	{ n[$1]++; rps[$1, n[$1]] = $2; p99[$1, n[$1]] = $3 }
	function median(a, k, c,   i, j, t, v) {
		for (i = 1; i <= c; i++) v[i] = a[k, i]
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
	}
	END {
		br = median(rps, "baseline", n["baseline"]); bp = median(p99, "baseline", n["baseline"])
		printf "%-12s %10s %10s %8s %8s\n", "route", "req/s", "p99 ms", "req/s %", "p99 ×"
		split("baseline join wake-get already-on", order, " ")
		for (i = 1; i <= 4; i++) {
			k = order[i]; if (!n[k]) continue
			r = median(rps, k, n[k]); p = median(p99, k, n[k])
			printf "%-12s %10.0f %10.2f %7.0f%% %7.2f×\n", k, r, p, 100 * r / br, p / bp
		}
	}' "$TMP/results"
echo
[ "${WEB:-1}" = 1 ] && LOAD_TASKSET="${LOAD[*]}" NS=$NS TOKEN=$TOKEN TMP=$TMP DURATION=$DURATION HUB=$HUB bench/web.sh
kill "$HUB"; wait "$HUB" 2>/dev/null || true
