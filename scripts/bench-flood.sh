#!/usr/bin/env bash
# make bench-flood (issue 11 finding 8, issue 15): does a login flood starve
# the gateway? One gatehouse (real argon2id cost: the defaults, 19 MiB, t=2)
# serves a token route (ES256) in front of a loopback upstream. wrk measures
# the token route alone, then while another wrk keeps FLOODS concurrent
# password-grant logins going (each connection posts the next login as soon
# as the previous answer arrives). Prints token-route req/s and p99 per
# flood size, and what the logins got: successes and 503 sheds per second.
#
# Environment:
#   BENCH_DURATION     wrk duration of each token-route measurement (default 10s)
#   BENCH_ROUNDS       rounds (default 1); every flood size runs once per round,
#                      req/s is the mean over rounds, p99 the median
#   BENCH_CONNECTIONS  token-route wrk connections (default 64)
#   BENCH_FLOODS       concurrent logins per run (default "0 16 64")
#   BENCH_PORT_BASE    first of 2 loopback ports used (default 18280)
#   BENCH_EXTRA_YAML   extra config lines, e.g. "passwords: {max_concurrent: 2}" to
#                      compare with the old default (all CPUs)
#   BIN                the gatehouse binary (default bin/gatehouse, built if absent)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/gatehouse}
DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-1}
CONNS=${BENCH_CONNECTIONS:-64}
FLOODS=${BENCH_FLOODS:-0 16 64}
PORT_BASE=${BENCH_PORT_BASE:-18280}
EXTRA_YAML=${BENCH_EXTRA_YAML:-}

log() { printf 'bench-flood: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if ! command -v wrk >/dev/null; then
	log "installing wrk"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
command -v curl >/dev/null || die "curl is needed"
if [ ! -x "$BIN" ]; then
	log "building $BIN"
	go build -o "$BIN" ./cmd/gatehouse
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-flood.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

UP=$PORT_BASE
GH=$((PORT_BASE + 1))
for p in "$UP" "$GH"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		die "port $p is in use; set BENCH_PORT_BASE to a free range"
	fi
done

wait_http() { # name url
	for _ in $(seq 1 150); do
		if curl -fsS -o /dev/null "$2" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	log "$1 did not come up at $2; its log:"
	tail -n 20 "$work/$1.log" >&2
	exit 1
}

cat >"$work/gatehouse.yaml" <<EOF
listen: 127.0.0.1:$GH
admin_listen: ""
store: sqlite://$work/gatehouse.db
log: {level: warn}
login: {max_failures: 1000000}
$EXTRA_YAML
routes:
  - {name: token, match: {path_prefix: /token/}, upstream: "http://127.0.0.1:$UP", auth: token}
EOF
password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$password" | "$BIN" user add bench --password-stdin -c "$work/gatehouse.yaml" >/dev/null
"$BIN" bench fixture upstream --listen "127.0.0.1:$UP" >"$work/upstream.log" 2>&1 &
pids+=($!)
wait_http upstream "http://127.0.0.1:$UP/"
"$BIN" serve -c "$work/gatehouse.yaml" >"$work/gatehouse.log" 2>&1 &
pids+=($!)
wait_http gatehouse "http://127.0.0.1:$GH/healthz"

form="grant_type=password&username=bench&password=$password"
token=$(curl -fsS -d "$form" "http://127.0.0.1:$GH/auth/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || die "password grant failed"
auth="Authorization: Bearer $token"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "http://127.0.0.1:$GH/token/x")
[ "$code" = 200 ] || die "token route answered $code"

# The flood: wrk posting logins; done() prints "ok shed other" totals.
cat >"$work/login.lua" <<EOF
wrk.method = "POST"
wrk.body = "$form"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() ok, shed, other = 0, 0, 0 end
function response(status)
  if status == 200 then ok = ok + 1 elseif status == 503 then shed = shed + 1 else other = other + 1 end
end
function done()
  local o, s, x = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); s = s + t:get("shed"); x = x + t:get("other") end
  io.write(string.format("LOGINS %d %d %d\n", o, s, x))
end
EOF

seconds=${DURATION%s}
case $seconds in '' | *[!0-9]*) seconds=10 ;; esac

# run flood: appends "req/s p99-ms errors logins-ok/s shed/s other" to $work/result.<flood>.
run() {
	local n=$1 fpid="" out="$work/wrk.$1.txt" flood="$work/flood.$1.txt"
	if [ "$n" -gt 0 ]; then
		# The flood runs 2 s before and after the measurement, so the
		# measured window is entirely under load.
		wrk -t1 -c"$n" -d"$((seconds + 4))s" --timeout 30s -s "$work/login.lua" "http://127.0.0.1:$GH/auth/token" >"$flood" &
		fpid=$!
		sleep 2
	fi
	wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "$auth" "http://127.0.0.1:$GH/token/x" >"$out"
	local logins="0 0 0"
	if [ -n "$fpid" ]; then
		wait "$fpid"
		logins=$(awk '/^LOGINS/ { print $2, $3, $4 }' "$flood")
	fi
	awk -v logins="$logins" -v secs="$((seconds + 4))" '
		/^Requests\/sec:/ { rps = $2 }
		/^ +99%/ {
			v = $2; unit = v; sub(/^[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
			p99 = v * (unit == "us" ? 0.001 : unit == "s" ? 1000 : unit == "m" ? 60000 : 1)
		}
		/Non-2xx or 3xx responses:/ { bad += $NF }
		END { split(logins, l, " "); printf "%s %.2f %d %.1f %.1f %d\n", rps, p99, bad, l[1] / secs, l[2] / secs, l[3] }' \
		"$out" >>"$work/result.$n"
}

log "token route: wrk -t2 -c$CONNS -d$DURATION; floods of $FLOODS concurrent logins; $ROUNDS round(s)"
for round in $(seq 1 "$ROUNDS"); do
	for n in $FLOODS; do
		run "$n"
		log "round $round, $n logins: $(tail -n1 "$work/result.$n" |
			awk '{ printf "%s req/s, p99 %s ms, errors %s, logins %s ok/s, %s shed/s, %s other", $1, $2, $3, $4, $5, $6 }')"
	done
done

base_rps="" base_p99=""
printf '\ntoken route (ES256) on %s (%s CPUs), gatehouse %s, wrk -t2 -c%s -d%s × %s round(s)%s\n\n' \
	"$(uname -m)" "$(nproc)" "$("$BIN" version | awk '{print $2}')" "$CONNS" "$DURATION" "$ROUNDS" \
	"${EXTRA_YAML:+, extra config: $EXTRA_YAML}"
printf '| concurrent logins | token req/s | vs no flood | p99 (ms) | vs no flood | token errors | logins ok/s | logins shed (503)/s | other login answers |\n'
printf '|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n'
for n in $FLOODS; do
	read -r r p e ok shed other < <(sort -k2,2n "$work/result.$n" | awk '
		{ sum += $1; bad += $3; p[NR] = $2; ok += $4; shed += $5; other += $6 }
		END {
			m = (NR % 2) ? p[(NR + 1) / 2] : (p[NR / 2] + p[NR / 2 + 1]) / 2
			printf "%.0f %.2f %d %.1f %.1f %d\n", sum / NR, m, bad, ok / NR, shed / NR, other
		}')
	if [ -z "$base_rps" ]; then base_rps=$r base_p99=$p; fi
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$r" \
		"$(awk -v a="$r" -v b="$base_rps" 'BEGIN { printf "%.0f %%", b ? 100 * a / b : 0 }')" "$p" \
		"$(awk -v a="$p" -v b="$base_p99" 'BEGIN { printf "%.1f×", b ? a / b : 0 }')" "$e" "$ok" "$shed" "$other"
done
printf '\nTarget (issue 15): with 16 concurrent logins the token route keeps >= 60 %% of its req/s and p99 <= 2x.\n'
