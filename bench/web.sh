#!/usr/bin/env bash
# bench/web.sh — load test of the web app, run by bench/run.sh against the
# hub it started in its network namespace (nothing here leaves it):
#   - GET / (the dashboard) with a session cookie, after signing in through
#     /setup with the hub's first admin token
#   - GET /l/<secret>, a one-tap wake link of desk, which is on: each
#     request the link's rate limits let through (burst 6, then 10 a
#     minute per link) starts a committed wake; the others get the 429 page
# Every run is bounded in time (DURATION seconds) and in count
# (MAX_REQUESTS, across wrk's threads): wrk stops at whichever comes first.
# Environment, set by run.sh: NS (the namespace), TOKEN (an admin token),
# TMP (a scratch directory), DURATION, HUB (the hub's pid, for RSS);
# BASE defaults to http://127.0.0.1:8080 and MAX_REQUESTS to 1000000.
set -euo pipefail
: "${NS:?run by bench/run.sh}" "${TOKEN:?}" "${TMP:?}" "${DURATION:?}" "${HUB:?}"
BASE=${BASE:-http://127.0.0.1:8080}
MAX_REQUESTS=${MAX_REQUESTS:-1000000}
THREADS=2
case "$BASE" in http://127.0.0.1:*) ;; *) echo "bench/web.sh: BASE must be loopback, in the namespace"; exit 1 ;; esac
IN() { ip netns exec "$NS" "$@"; }
rss() { awk -v what="$2" '$1 == what":" { printf "%.1f MiB", $2 / 1024 }' "/proc/$1/status"; }

# Sign in as a browser does on a new hub: the admin token sets the password.
PW="bench password $$"
IN curl -sf -o /dev/null -c "$TMP/jar" --data-urlencode "token=$TOKEN" --data-urlencode "password=$PW" \
	--data-urlencode "confirm=$PW" "$BASE/setup" ||
	IN curl -sf -o /dev/null -c "$TMP/jar" --data-urlencode "password=$PW" "$BASE/login"
COOKIE=$(awk '$6 == "moonwake" { print $6 "=" $7 }' "$TMP/jar")
[ -n "$COOKIE" ] || { echo "bench/web.sh: no session cookie after /setup"; exit 1; }
IN curl -sf -o /dev/null -H "Cookie: $COOKIE" "$BASE/" || { echo "bench/web.sh: the dashboard refused the session"; exit 1; }

# A one-tap wake link for desk (on, as run.sh left it).
SECRET=$(IN curl -sf -H "Authorization: Bearer $TOKEN" -X POST "$BASE/api/v1/tokens" \
	-d '{"name":"link-bench-desk","machines":["desk"],"actions":["wake"]}' | grep -o '"secret":"[^"]*"' | cut -d'"' -f4)
[ -n "$SECRET" ] || { echo "bench/web.sh: could not create the link"; exit 1; }

# wrk runs one Lua state per thread: each stops after its share of the count.
cat >"$TMP/bounded.lua" <<LUA
local max, n = math.ceil($MAX_REQUESTS / $THREADS), 0
response = function(status, headers, body)
	n = n + 1
	if n >= max then wrk.thread:stop() end
end
LUA
load() { # name url [header]
	echo
	echo "-- $1"
	local args=(-t"$THREADS" -c32 -d"${DURATION}s" --latency -s "$TMP/bounded.lua")
	[ -n "${3:-}" ] && args+=(-H "$3")
	# shellcheck disable=SC2086 # LOAD_TASKSET is "taskset -c 0-0" or empty
	IN ${LOAD_TASKSET:-} wrk "${args[@]}" "$2" | grep -E 'requests in|Requests/sec|Non-2xx|Socket errors|^ +(50|90|99)%'
}
echo
echo "== web app (at most $MAX_REQUESTS requests or ${DURATION}s a run)"
load "GET / (dashboard, 2 machines, session cookie)" "$BASE/" "Cookie: $COOKIE"
echo "RSS after load: $(rss "$HUB" VmRSS) (peak $(rss "$HUB" VmHWM))"
for i in $(seq 3 50); do # 48 more machines, asleep on the namespace's LAN
	IN curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -X POST "$BASE/api/v1/machines" \
		-d "$(printf '{"name":"pc-%02d","mac":"02:77:00:00:01:%02x","interface":"eth0"}' "$i" "$i")"
done
load "GET / (dashboard, 50 machines, session cookie)" "$BASE/" "Cookie: $COOKIE"
echo "RSS after load: $(rss "$HUB" VmRSS) (peak $(rss "$HUB" VmHWM))"
load "GET /l/… (one-tap wake link of desk, on; rate-limited: mostly 429)" "$BASE/l/$SECRET"
echo "RSS after load: $(rss "$HUB" VmRSS) (peak $(rss "$HUB" VmHWM))"
