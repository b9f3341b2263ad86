#!/usr/bin/env bash
# make bench-gateway (issues 5, 6 and 15): wrk on loopback against an
# upstream, a bare httputil.ReverseProxy with a copy-buffer pool and a
# gateway route's transport (the reference: issue 15's "same transport
# settings"), the same without the pool, the same with the pool sizes only
# (bare-plain-transport, the reference before that was corrected), the
# reference with gatehouse's garbage-collector pacing (bare-gc), the
# reference sent the token and the cookie requests, and gatehouse gateway
# routes with auth none, session (SQLite; Redis with and without the local cache) and
# token (ES256, HS256). Every server is a process of its own, wrk another.
# Prints per target req/s, p50/p99, the CPU time per request of the process
# serving it (/proc/PID/stat), its CPU efficiency against the pooled bare
# proxy of the same rounds (bare CPU/request ÷ its CPU/request, the issue-15
# measure; with 5 or more rounds its 95 % interval, computed as gatehouse
# bench does) and flags targets whose rounds spread more than BENCH_NOISE.
#
# Environment:
#   BENCH_DURATION    wrk duration per target and round (default 10s)
#   BENCH_ROUNDS      rounds (default 1): every target runs once per round, in turn, so
#                     that a change in the machine's load spreads over all targets;
#                     req/s is the mean over rounds, p99 the median; 5 or more rounds
#                     give each CPU efficiency a 95 % interval and a verdict
#   BENCH_THREADS     wrk threads (default 2)
#   BENCH_CONNECTIONS wrk connections (default 64)
#   BENCH_PORT_BASE   first of 14 loopback ports used (default 18180)
#   BENCH_NOISE       flag a target as noisy when its rounds' req/s or CPU/request spread
#                     more than this fraction of their median (default 0.25; needs 2+ rounds)
#   BENCH_REDIS_URL   Redis for the issue-6 targets (default redis://127.0.0.1:6379/0;
#                     they are skipped when it does not answer)
#   BENCH_PROFILE     target names, comma-separated (e.g. bare,session-sqlite,token-ES256):
#                     CPU-profile the process serving each (gatehouse through
#                     admin_listen, the bare proxy through its --admin) while wrk runs
#                     on it in the first round, keep bin/bench-gateway-<target>.pprof
#                     and print `go tool pprof -top` for each
#   BENCH_LOG_LEVEL   gatehouse log level (default info, gatehouse's default: the access
#                     log line per request is part of what a deployment pays; warn leaves it out)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/gatehouse}
DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-1}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
PORT_BASE=${BENCH_PORT_BASE:-18180}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/0}
PROFILE=${BENCH_PROFILE:-}
LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
NOISE=${BENCH_NOISE:-0.25}

BENCH_NAME=bench-gateway
# shellcheck source=scripts/lib-bench.sh
. scripts/lib-bench.sh

redis_prefix="gatehouse-wrk-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n'):"
redis_used=""
cleanup_extra() {
	if [ -n "$redis_used" ]; then
		redis-cli -u "$REDIS_URL" --scan --pattern "${redis_prefix}*" 2>/dev/null |
			xargs -r -n 500 redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
	fi
}

# Ports, all on 127.0.0.1.
UP=$PORT_BASE
BARE=$((PORT_BASE + 1))
GH=$((PORT_BASE + 2)) GH_ADMIN=$((PORT_BASE + 3))
HS=$((PORT_BASE + 4)) HS_ADMIN=$((PORT_BASE + 5))
RC=$((PORT_BASE + 6)) RC_ADMIN=$((PORT_BASE + 7))
RN=$((PORT_BASE + 8)) RN_ADMIN=$((PORT_BASE + 9))
BARE_ADMIN=$((PORT_BASE + 10))
NOPOOL=$((PORT_BASE + 11))
BAREGC=$((PORT_BASE + 12))
PLAIN=$((PORT_BASE + 13))
check_ports $(seq "$PORT_BASE" $((PORT_BASE + 13)))

declare -A admin_of

# write_config name listen admin extra-yaml
write_config() {
	local up="http://127.0.0.1:$UP"
	cat >"$work/$1.yaml" <<EOF
listen: 127.0.0.1:$2
admin_listen: 127.0.0.1:$3
admin_pprof: $([ -n "$PROFILE" ] && echo true || echo false)
store: sqlite://$work/$1.db
log: {level: $LOG_LEVEL}
passwords: {memory_kib: 8192, iterations: 1, parallelism: 1}
$4
routes:
  - {name: none, match: {path_prefix: /none/}, upstream: "$up", auth: none}
  - {name: session, match: {path_prefix: /session/}, upstream: "$up", auth: session}
  - {name: token, match: {path_prefix: /token/}, upstream: "$up", auth: token}
EOF
}

password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
seconds=$(duration_seconds "$DURATION")
# The access tokens are issued once, before round 1, and sent until the
# last round: they must outlive the run (every target, every round, with
# an hour to spare), or the rounds after the default access_ttl (10
# minutes; BENCH_ROUNDS=5 BENCH_DURATION=10s already runs longer) measure
# 401s, which cost less than a proxied request. The TTL costs nothing per
# request.
token_ttl="$((ROUNDS * 14 * (seconds + 5) + 3600))s"

# start_gatehouse name port admin extra-yaml: serve, add the user "bench".
start_gatehouse() {
	write_config "$1" "$2" "$3" "$4"
	printf '%s\n' "$password" | "$BIN" user add bench --password-stdin -c "$work/$1.yaml" >/dev/null 2>"$work/$1.user.log" ||
		{ cat "$work/$1.user.log" >&2; die "user add failed for $1"; }
	start "$1" env GATEHOUSE_TOKENS_ACCESS_TTL="$token_ttl" "$BIN" serve -c "$work/$1.yaml"
	admin_of[$1]=$3
	wait_http "$1" "http://127.0.0.1:$2/readyz" # /healthz answers while the stores open
}

cookie_for() { # port → "Cookie: gatehouse=…"
	local jar="$work/jar.$1"
	curl -fsS -o /dev/null -c "$jar" -H 'Content-Type: application/json' \
		-d "{\"username\":\"bench\",\"password\":\"$password\"}" "http://127.0.0.1:$1/auth/login" ||
		die "login on port $1 failed"
	awk '$6 == "gatehouse" { print "Cookie: gatehouse=" $7 }' "$jar"
}

token_for() { # port → "Authorization: Bearer …"
	local t
	t=$(curl -fsS -d grant_type=password -d username=bench -d "password=$password" "http://127.0.0.1:$1/auth/token" |
		sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
	[ -n "$t" ] || die "password grant on port $1 failed"
	printf 'Authorization: Bearer %s\n' "$t"
}

log "starting upstream, bare proxy and gatehouse instances in $work"
start upstream "$BIN" bench fixture upstream --listen "127.0.0.1:$UP"
wait_http upstream "http://127.0.0.1:$UP/"
start bare "$BIN" bench fixture bare-proxy --listen "127.0.0.1:$BARE" --upstream "http://127.0.0.1:$UP" \
	--admin "127.0.0.1:$BARE_ADMIN"
admin_of[bare]=$BARE_ADMIN
wait_http bare "http://127.0.0.1:$BARE/bench/"
start bare-nopool "$BIN" bench fixture bare-proxy --listen "127.0.0.1:$NOPOOL" --upstream "http://127.0.0.1:$UP" \
	--buffer-pool=false
wait_http bare-nopool "http://127.0.0.1:$NOPOOL/bench/"
# The pooled bare proxy paced like gatehouse serve (gc_headroom_mib default):
# what the collector's pacing alone is worth, next to the issue's baseline.
start bare-gc "$BIN" bench fixture bare-proxy --listen "127.0.0.1:$BAREGC" --upstream "http://127.0.0.1:$UP" \
	--gc-headroom-mib 64
wait_http bare-gc "http://127.0.0.1:$BAREGC/bench/"
start bare-plain "$BIN" bench fixture bare-proxy --listen "127.0.0.1:$PLAIN" --upstream "http://127.0.0.1:$UP" \
	--gateway-transport=false
wait_http bare-plain "http://127.0.0.1:$PLAIN/bench/"

start_gatehouse gh "$GH" "$GH_ADMIN" "tokens: {algorithm: ES256}"
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/hmac.secret"
chmod 600 "$work/hmac.secret"
start_gatehouse hs "$HS" "$HS_ADMIN" "tokens: {algorithm: HS256, hmac_secret_file: $work/hmac.secret}"

redis_ok=""
if command -v redis-cli >/dev/null && redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG; then
	redis_ok=1
	redis_used=1
	start_gatehouse rc "$RC" "$RC_ADMIN" "sessions: {store: \"$REDIS_URL\"}
redis: {key_prefix: \"${redis_prefix}rc:\"}"
	start_gatehouse rn "$RN" "$RN_ADMIN" "sessions: {store: \"$REDIS_URL\", cache_ttl: 0s}
redis: {key_prefix: \"${redis_prefix}rn:\"}"
else
	log "Redis at $REDIS_URL does not answer PING: skipping the session-redis targets"
fi

# Targets: name | process serving it | URL | header | minimum CPU efficiency (issue 15).
targets=()
add() { targets+=("$1|$2|$3|$4|$5"); }
# Credentials first, as plain assignments, so that a failed login stops the script.
gh_cookie=$(cookie_for "$GH")
gh_token=$(token_for "$GH")
hs_token=$(token_for "$HS")
add bare bare "http://127.0.0.1:$BARE/bench/x" "" ""
add bare-nopool bare-nopool "http://127.0.0.1:$NOPOOL/bench/x" "" ""
add bare-gc bare-gc "http://127.0.0.1:$BAREGC/bench/x" "" ""
add bare-plain-transport bare-plain "http://127.0.0.1:$PLAIN/bench/x" "" ""
# The pooled bare proxy sent the token and the session routes' requests,
# header for header: parsing (and forwarding) an Authorization header of
# several hundred bytes or a cookie is work any proxy does, not gatehouse's.
add bare-token-request bare "http://127.0.0.1:$BARE/bench/x" "$gh_token" ""
add bare-cookie-request bare "http://127.0.0.1:$BARE/bench/x" "$gh_cookie" ""
add none gh "http://127.0.0.1:$GH/none/x" "" 0.95
add session-sqlite gh "http://127.0.0.1:$GH/session/x" "$gh_cookie" 0.90
add token-ES256 gh "http://127.0.0.1:$GH/token/x" "$gh_token" 0.90
add token-HS256 hs "http://127.0.0.1:$HS/token/x" "$hs_token" 0.90
if [ -n "$redis_ok" ]; then
	rc_cookie=$(cookie_for "$RC")
	rn_cookie=$(cookie_for "$RN")
	add session-redis rc "http://127.0.0.1:$RC/session/x" "$rc_cookie" 0.90
	add session-redis-nocache rn "http://127.0.0.1:$RN/session/x" "$rn_cookie" 0.90
fi
# The baseline again at the end: the ratio uses the mean of both bare runs,
# which cancels slow drift on a shared machine.
add bare-again bare "http://127.0.0.1:$BARE/bench/x" "" ""

# run_wrk name process url header: runs wrk and appends "req/s p99-in-ms
# errors requests cpu-seconds p50-in-ms" to $work/result.<name>: errors are non-2xx/3xx
# answers plus socket errors, cpu-seconds what the proxy process (bare proxy
# or gatehouse) used meanwhile. A profile is taken in the first round only.
run_wrk() {
	local out="$work/wrk.$1.txt" args=(-t"$THREADS" -c"$CONNS" -d"$DURATION" --latency) hdr=() prof_pid="" code
	local admin=${admin_of[$2]:-} ticks0 ticks1 rps p99 bad n p50
	if [ -n "$4" ]; then hdr=(-H "$4"); fi
	# Check the credential works before measuring: a 401 storm is not a benchmark.
	code=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" "$3")
	[ "$code" = 200 ] || die "$1: $3 answered $code before the run"
	if [[ ",$PROFILE," == *",$1,"* ]] && [ -n "$admin" ] && [ ! -f "$work/result.$1" ]; then
		curl -fsS -o "bin/bench-gateway-$1.pprof" \
			"http://127.0.0.1:$admin/debug/pprof/profile?seconds=$((seconds > 2 ? seconds - 1 : 1))" &
		prof_pid=$!
	fi
	ticks0=$(cpu_ticks "$2")
	wrk "${args[@]}" "${hdr[@]}" "$3" >"$out"
	ticks1=$(cpu_ticks "$2")
	if [ -n "$prof_pid" ]; then wait "$prof_pid"; fi
	# "req/s p99 errors requests cpu-seconds p50"
	read -r rps p99 bad n p50 < <(wrk_summary "$out")
	awk -v cpu="$((ticks1 - ticks0))" -v hz="$clk_tck" -v s="$rps $p99 $bad $n" -v p50="$p50" \
		'BEGIN { printf "%s %.2f %.3f\n", s, cpu / hz, p50 }' >>"$work/result.$1"
}

log "wrk -t$THREADS -c$CONNS -d$DURATION --latency per target, $ROUNDS round(s)"
for round in $(seq 1 "$ROUNDS"); do
	for t in "${targets[@]}"; do
		IFS='|' read -r name proc url header min <<<"$t"
		run_wrk "$name" "$proc" "$url" "$header"
		log "round $round: $name: $(tail -n1 "$work/result.$name" |
			awk '{ printf "%s req/s, p99 %s ms, errors %s, proxy CPU %.0f µs/request", $1, $2, $3, $4 ? $5 / $4 * 1e6 : 0 }')"
	done
done

# Per target: mean req/s, median p50 and p99, total errors, proxy CPU per
# request (total CPU ÷ total requests) over the rounds, and the spread of
# the rounds ((max − min) ÷ median of req/s and of CPU/request, the larger).
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.2f\n", ((NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
spread() { sort -n | awk '{ v[NR] = $1 } END {
	if (NR < 2) { print 0; exit }
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.2f\n", (m > 0 ? (v[NR] - v[1]) / m : 0) }'; }
declare -A rps p50 p99 errs cpu spr
for t in "${targets[@]}"; do
	IFS='|' read -r name proc url header min <<<"$t"
	f="$work/result.$name"
	read -r r e c < <(awk '{ sum += $1; bad += $3; n += $4; secs += $5 }
		END { printf "%.2f %d %.1f\n", sum / NR, bad, n ? secs / n * 1e6 : 0 }' "$f")
	rps[$name]=$r errs[$name]=$e cpu[$name]=$c
	p50[$name]=$(awk '{ print $6 }' "$f" | median)
	p99[$name]=$(awk '{ print $2 }' "$f" | median)
	s1=$(awk '{ print $1 }' "$f" | spread)
	s2=$(awk '$4 > 0 { print $5 / $4 * 1e6 }' "$f" | spread)
	spr[$name]=$(awk -v a="$s1" -v b="$s2" 'BEGIN { print (a + 0 > b + 0 ? a : b) }')
done
# efficiency target min base...: "<efficiency> <low> <high> <verdict>
# <text>" of the target against the mean of the bases, round by round,
# computed as gatehouse bench computes them (through `gatehouse bench
# fixture efficiency`): each side's CPU per request is its total CPU over
# its total requests, the interval a bootstrap over the paired rounds (so a
# load change that moves both sides of a round cancels out), the verdict
# met, missed or undecided by the interval; "-" for an interval fewer than 5
# rounds do not allow, and for the verdict when min is "". text is the
# efficiency as the reports print it ("0.93 [0.88–0.98]").
efficiency() {
	local t=$1 min=$2
	shift 2
	local files=("$work/result.$t") b
	for b in "$@"; do files+=("$work/result.$b"); done
	awk -v nb=$# '
		FNR == 1 { f++ }
		{ n[f, FNR] = $4; s[f, FNR] = $5; if (FNR > rounds) rounds = FNR }
		END {
			for (r = 1; r <= rounds; r++) {
				bn = 0; bs = 0
				for (i = 2; i <= nb + 1; i++) { bn += n[i, r]; bs += s[i, r] }
				if (bn > 0 && n[1, r] > 0)
					printf "%.0f %.3f %.0f %.3f\n", bn / nb, bs / bn * 1e6, n[1, r], s[1, r] / n[1, r] * 1e6
			}
		}' "${files[@]}" | "$BIN" bench fixture efficiency ${min:+--target "$min"}
}

bare_mean=$(awk -v a="${rps[bare]}" -v b="${rps[bare-again]}" 'BEGIN { printf "%.2f", (a + b) / 2 }')
printf '\nwrk -t%s -c%s -d%s × %s round(s) on %s (%s CPUs), gatehouse %s; ratio = req/s ÷ mean of bare and bare-again (%s req/s)\n\n' \
	"$THREADS" "$CONNS" "$DURATION" "$ROUNDS" "$(uname -m)" "$(nproc)" "$("$BIN" version | awk 'NR == 1 { print $2 }')" "$bare_mean"
printf '| target | req/s | p50 (ms) | p99 (ms) | × bare req/s | proxy CPU/request | CPU efficiency | target | same request | rounds spread | errors |\n'
printf '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n'
missed=0 noisy=0
for t in "${targets[@]}"; do
	IFS='|' read -r name proc url header min <<<"$t"
	ratio=$(awk -v r="${rps[$name]}" -v b="$bare_mean" 'BEGIN { printf "%.2f", r / b }')
	# Nothing is read when a side has no CPU figure.
	read -r _ lo _ judged eff < <(efficiency "$name" "$min" bare bare-again) || true
	eff=${eff:-n/a}
	# Against the bare proxy sent the same request (token or cookie), for
	# the authenticated routes.
	same="" ref=""
	case $name in
	token-*) ref=bare-token-request ;;
	session-*) ref=bare-cookie-request ;;
	none) same=$eff ;;
	esac
	if [ -n "$ref" ]; then
		read -r _ _ _ _ same < <(efficiency "$name" "" "$ref") || true
		same=${same:-n/a}
	fi
	verdict=""
	# A failed request (a 401, 404 or 502 answered early) costs less than
	# a proxied 200 and counts as a request in CPU/request: with failures
	# on either side the efficiency would pass for better than it is.
	failed=$((${errs[$name]} + ${errs[bare]} + ${errs[bare-again]}))
	if [ -n "$min" ] && [ "$failed" -gt 0 ]; then
		verdict="≥ $min: not judged (failed requests here or in bare)"
	elif [ -n "$min" ]; then
		case $judged in
		met) verdict="≥ $min met" ;;
		missed)
			verdict="≥ $min **missed**"
			missed=$((missed + 1))
			;;
		*)
			case $lo in
			-) verdict="≥ $min: no interval (BENCH_ROUNDS ≥ 5)" ;;
			"") verdict="≥ $min: no CPU figures" ;;
			*) verdict="≥ $min inside the interval" ;;
			esac
			;;
		esac
	fi
	sp=$(awk -v s="${spr[$name]}" 'BEGIN { printf "%.0f%%", s * 100 }')
	if [ "$ROUNDS" -ge 2 ] && awk -v s="${spr[$name]}" -v n="$NOISE" 'BEGIN { exit !(s > n) }'; then
		sp="$sp **noisy**"
		noisy=$((noisy + 1))
	fi
	printf '| %s | %s | %s | %s | %s | %s µs | %s | %s | %s | %s | %s |\n' "$name" "${rps[$name]}" "${p50[$name]}" \
		"${p99[$name]}" "$ratio" "${cpu[$name]}" "$eff" "$verdict" "$same" "$sp" "${errs[$name]}"
done

IFS=',' read -r -a profiled <<<"$PROFILE"
for name in "${profiled[@]}"; do
	[ -f "bin/bench-gateway-$name.pprof" ] || continue
	# bare is the bare proxy's profile (its --admin), not a gatehouse's.
	printf '\nCPU profile of the process serving %s (bin/bench-gateway-%s.pprof):\n\n' "$name" "$name"
	go tool pprof -top -nodecount=35 "$BIN" "bin/bench-gateway-$name.pprof" 2>/dev/null
done
printf '\nproxy CPU/request: user+system CPU of the process serving the target (the bare proxy or that gatehouse\n'
printf 'instance, from /proc/PID/stat) during the wrk run ÷ requests; it is far less sensitive to other load on\n'
printf 'the machine than req/s. Redis'"'"'s own CPU (session-redis targets) is not included. CPU efficiency: the\n'
printf 'pooled bare proxy'"'"'s CPU/request (its bare and bare-again runs) ÷ the target'"'"'s, each over all rounds, with\n'
printf 'its 95 %% interval from a bootstrap over the paired rounds (5 rounds or more), computed as gatehouse bench\n'
printf 'does; the target column is issue 15'"'"'s (log.level %s), met or missed only when the whole interval is on\n' "$LOG_LEVEL"
printf 'one side of it. Same request: against the bare proxy sent the same request (bare-token-request for token\n'
printf 'routes, bare-cookie-request for session routes).\n'
printf 'bare-gc: the pooled bare proxy with gatehouse'"'"'s gc_headroom_mib pacing (64); bare-plain-transport: with\n'
printf 'the gateway'"'"'s pool sizes but none of its timeouts (the reference before issue 15'"'"'s fourth round). For reference.\n'
printf 'Rounds spread: (max − min) ÷ median over the rounds of req/s or\n'
printf 'CPU/request, whichever is larger; noisy above %s.\n' "$NOISE"
if [ "$missed" -gt 0 ]; then
	log "$missed target(s) below the issue's CPU efficiency; profile with BENCH_PROFILE=<target>"
fi
if [ "$noisy" -gt 0 ]; then
	log "$noisy target(s) noisy: the machine's load changed during the run; measure again with more rounds"
fi
