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
#   BENCH_HOGS         busy-loop processes (default 0: skipped) for the second
#                      table: BENCH_HOG_LOGINS (default 2) concurrent logins alone,
#                      then beside that many busy loops at normal priority in
#                      gatehouse's own CPU cgroup (a build beside a demo, a VM
#                      without per-service cgroups): how slow the deprioritised
#                      password hashing gets when other programs want every CPU
#   BENCH_LOG_LEVEL    gatehouse log level (default warn, as in the earlier figures;
#                      info, gatehouse's default, adds a log line per shed login)
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
LOG_LEVEL=${BENCH_LOG_LEVEL:-warn}
HOGS=${BENCH_HOGS:-0}
HOG_LOGINS=${BENCH_HOG_LOGINS:-2}

BENCH_NAME=bench-flood
# shellcheck source=scripts/lib-bench.sh
. scripts/lib-bench.sh

UP=$PORT_BASE
GH=$((PORT_BASE + 1))
check_ports "$UP" "$GH"

cat >"$work/gatehouse.yaml" <<EOF
listen: 127.0.0.1:$GH
admin_listen: ""
store: sqlite://$work/gatehouse.db
log: {level: $LOG_LEVEL}
login: {max_failures: 1000000}
$EXTRA_YAML
routes:
  - {name: token, match: {path_prefix: /token/}, upstream: "http://127.0.0.1:$UP", auth: token}
EOF
password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
seconds=$(duration_seconds "$DURATION")
nfloods=$(wc -w <<<"$FLOODS")
# The token route's access token is issued once and sent in every run: it
# must outlive them all (an hour to spare), or the runs after the default
# access_ttl (10 minutes) measure fast 401s.
token_ttl="$((ROUNDS * nfloods * (seconds + 8) + 3600))s"
printf '%s\n' "$password" | "$BIN" user add bench --password-stdin -c "$work/gatehouse.yaml" >/dev/null
start upstream "$BIN" bench fixture upstream --listen "127.0.0.1:$UP"
wait_http upstream "http://127.0.0.1:$UP/"
start gatehouse env GATEHOUSE_TOKENS_ACCESS_TTL="$token_ttl" "$BIN" serve -c "$work/gatehouse.yaml"
wait_http gatehouse "http://127.0.0.1:$GH/readyz" # /healthz answers while the stores open

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
  if status == 200 then ok = ok + 1 elseif status == 503 or status == 429 then shed = shed + 1 else other = other + 1 end
end
function done()
  local o, s, x = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); s = s + t:get("shed"); x = x + t:get("other") end
  io.write(string.format("LOGINS %d %d %d\n", o, s, x))
end
EOF

# run flood: appends "req/s p99-ms errors logins-ok/s shed/s other
# cpu-gatehouse cpu-upstream cpu-wrk cpu-flood" to $work/result.<flood>;
# the CPU figures are cores (CPU seconds per second) of each process over
# the measured window (the flood generator's over its whole run).
run() {
	local n=$1 fpid="" out="$work/wrk.$1.txt" flood="$work/flood.$1.txt" g0 g1 u0 u1 rps p99 bad
	local logins="0 0 0" fcpu=0
	if [ "$n" -gt 0 ]; then
		# The flood runs 2 s before and after the measurement, so the
		# measured window is entirely under load.
		run_counted "$flood" "$work/flood.ticks" \
			wrk -t1 -c"$n" -d"$((seconds + 4))s" --timeout 30s -s "$work/login.lua" "http://127.0.0.1:$GH/auth/token" &
		fpid=$!
		sleep 2
	fi
	g0=$(cpu_ticks gatehouse) u0=$(cpu_ticks upstream)
	run_counted "$out" "$work/wrk.ticks" wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "$auth" "http://127.0.0.1:$GH/token/x"
	g1=$(cpu_ticks gatehouse) u1=$(cpu_ticks upstream)
	if [ -n "$fpid" ]; then
		wait "$fpid"
		logins=$(awk '/^LOGINS/ { print $2, $3, $4 }' "$flood")
		fcpu=$(awk -v hz="$clk_tck" -v s="$((seconds + 4))" '{ printf "%.2f", $1 / hz / s }' "$work/flood.ticks")
	fi
	read -r rps p99 bad _ < <(wrk_summary "$out")
	awk -v logins="$logins" -v secs="$((seconds + 4))" -v s="$rps $p99 $bad" -v hz="$clk_tck" -v w="$seconds" \
		-v g="$((g1 - g0))" -v u="$((u1 - u0))" -v k="$(cat "$work/wrk.ticks")" -v f="$fcpu" 'BEGIN {
		split(logins, l, " ")
		printf "%s %.1f %.1f %d %.2f %.2f %.2f %.2f\n", s, l[1] / secs, l[2] / secs, l[3], g / hz / w, u / hz / w, k / hz / w, f
	}' >>"$work/result.$n"
}

log "token route: wrk -t2 -c$CONNS -d$DURATION; floods of $FLOODS concurrent logins; $ROUNDS round(s)"
for round in $(seq 1 "$ROUNDS"); do
	for n in $FLOODS; do
		run "$n"
		log "round $round, $n logins: $(tail -n1 "$work/result.$n" |
			awk '{ printf "%s req/s, p99 %s ms, errors %s, logins %s ok/s, %s shed/s, %s other; CPU cores: gatehouse %s, upstream %s, wrk %s, flood %s", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }')"
	done
done

# summary flood: "req/s p99 errors ok/s shed/s other cpu-g cpu-u cpu-w cpu-f"
# over the rounds: req/s the mean, p99 the median.
summary() {
	sort -k2,2n "$work/result.$1" | awk '
		{ sum += $1; bad += $3; p[NR] = $2; ok += $4; shed += $5; other += $6; g += $7; u += $8; w += $9; f += $10 }
		END {
			m = (NR % 2) ? p[(NR + 1) / 2] : (p[NR / 2] + p[NR / 2 + 1]) / 2
			printf "%.0f %.2f %d %.1f %.1f %d %.2f %.2f %.2f %.2f\n", sum / NR, m, bad, ok / NR, shed / NR, other, g / NR, u / NR, w / NR, f / NR
		}'
}
# The "vs no flood" columns compare with the runs without a flood (0 in
# BENCH_FLOODS), whatever their place in the list; without them there is
# nothing to compare with ("—"), not the first flood size.
base_rps="" base_p99=""
if [ -f "$work/result.0" ]; then read -r base_rps base_p99 _ < <(summary 0); fi
printf '\ntoken route (ES256) on %s (%s CPUs), gatehouse %s, wrk -t2 -c%s -d%s × %s round(s), log.level %s%s\n\n' \
	"$(uname -m)" "$(nproc)" "$("$BIN" version | awk 'NR == 1 { print $2 }')" "$CONNS" "$DURATION" "$ROUNDS" "$LOG_LEVEL" \
	"${EXTRA_YAML:+, extra config: $EXTRA_YAML}"
printf '| concurrent logins | token req/s | vs no flood | p99 (ms) | vs no flood | token errors | logins ok/s | logins shed (429/503)/s | other login answers | CPU cores: gatehouse / upstream / wrk / flood |\n'
printf '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n'
for n in $FLOODS; do
	read -r r p e ok shed other cg cu cw cf < <(summary "$n")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s / %s |\n' "$n" "$r" \
		"$(awk -v a="$r" -v b="$base_rps" 'BEGIN { if (b > 0) printf "%.0f %%", 100 * a / b; else printf "—" }')" "$p" \
		"$(awk -v a="$p" -v b="$base_p99" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else printf "—" }')" "$e" "$ok" "$shed" "$other" \
		"$cg" "$cu" "$cw" "$cf"
done
printf '\nTarget (issue 15): with 16 concurrent logins the token route keeps >= 60 %% of its req/s and p99 <= 2x.\n'
printf 'CPU cores: CPU seconds per second of each process (user+system, /proc) while the token route is measured;\n'
printf 'the flood generator'"'"'s over its whole run. All share the same %s CPUs.\n' "$(nproc)"

# Logins beside busy programs: the hashing thread's lowered priority
# (docs/security.md) must not starve logins when CPU-bound programs share
# gatehouse's cgroup. Each line: logins alone, then beside HOGS busy loops.
[ "$HOGS" -gt 0 ] || exit 0
# hog_run label: appends "ok/s p50-ms p99-ms failed shed/s" to $work/hog.<label>;
# failed = no answer within 30 s, a socket error or an answer other than 200/429/503.
hog_run() {
	local out="$work/hog.$1.txt" p99 bad p50
	wrk -t1 -c"$HOG_LOGINS" -d"$DURATION" --latency --timeout 30s -s "$work/login.lua" \
		"http://127.0.0.1:$GH/auth/token" >"$out"
	read -r _ p99 bad _ p50 < <(wrk_summary "$out")
	awk -v s="$seconds" -v p50="$p50" -v p99="$p99" -v bad="$bad" '/^LOGINS/ {
		printf "%.1f %.1f %.1f %d %.1f\n", $2 / s, p50, p99, bad - $3, $3 / s }' "$out" >>"$work/hog.$1"
}
log "logins: $HOG_LOGINS concurrent, alone and beside $HOGS busy loop(s), $ROUNDS round(s)"
for round in $(seq 1 "$ROUNDS"); do
	hog_run alone
	hogs=()
	for i in $(seq 1 "$HOGS"); do
		start "hog$i" sh -c 'while :; do :; done'
		hogs+=("${pid_of[hog$i]}")
	done
	hog_run beside
	kill "${hogs[@]}" 2>/dev/null || true
	wait "${hogs[@]}" 2>/dev/null || true
	log "round $round: alone $(tail -n1 "$work/hog.alone"); beside $(tail -n1 "$work/hog.beside") (ok/s p50 p99 failed shed/s)"
done
printf '\n%s concurrent password-grant logins, alone and beside %s busy loop(s) in the same CPU cgroup, wrk -d%s × %s round(s)\n\n' \
	"$HOG_LOGINS" "$HOGS" "$DURATION" "$ROUNDS"
printf '| logins | ok/s | p50 (ms) | p99 (ms) | failed (no answer in 30 s, error, not 200/429/503) | shed/s |\n|---|--:|--:|--:|--:|--:|\n'
for label in alone beside; do
	sort -k3,3n "$work/hog.$label" | awk -v l="$label" '
		{ ok += $1; p50[NR] = $2; p99[NR] = $3; bad += $4; shed += $5 }
		END {
			m = (NR % 2) ? p99[(NR + 1) / 2] : (p99[NR / 2] + p99[NR / 2 + 1]) / 2
			if (ok == 0) { printf "| %s | 0 | — | — | %d | %.1f |\n", l, bad, shed / NR; exit }
			printf "| %s | %.1f | %.0f | %.0f | %d | %.1f |\n", l, ok / NR, p50[int((NR + 1) / 2)], m, bad, shed / NR
		}'
done
printf '\np50: of the median round by p99; p99: the median over rounds ("—": no login finished within a run).\n'
printf 'A busy loop is `while :; do :; done` in sh. Logins still running when a run ends are not counted.\n'
