# Sourced by scripts/bench-gateway.sh and scripts/bench-flood.sh: what both
# need to run wrk against loopback servers that are processes of their own.
# The sourcing script sets BENCH_NAME (log prefix) and BIN first.
#
# Provides: log, die; wrk and $BIN present (installed/built if absent);
# $work (a temporary directory removed on exit, with every process started
# by `start` killed); no GATEHOUSE_* variable of the caller's; check_ports;
# start; wait_http; cpu_ticks; clk_tck; run_counted; duration_seconds;
# wrk_summary.

log() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# The operator's GATEHOUSE_* variables override every config this script
# writes, in `gatehouse user add` and `gatehouse serve` alike:
# GATEHOUSE_STORE would put the bench user and its sessions in their real
# database, GATEHOUSE_LOG_LEVEL or GATEHOUSE_SESSIONS_CACHE_TTL would change
# what is measured. None reaches the processes started here (as with
# `gatehouse bench`).
while read -r v; do unset "$v"; done < <(compgen -e GATEHOUSE_ || true)

if ! command -v wrk >/dev/null; then
	log "installing wrk"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	if command -v apt-get >/dev/null && { [ -z "$sudo" ] || command -v sudo >/dev/null; }; then
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || true
	fi
	command -v wrk >/dev/null ||
		die "wrk is needed and could not be installed with apt-get: install it (apt-get install wrk, brew install wrk, or from https://github.com/wg/wrk) and run again"
fi
command -v curl >/dev/null || die "curl is needed"
if [ ! -x "$BIN" ]; then
	log "building $BIN"
	go build -o "$BIN" ./cmd/gatehouse
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-$BENCH_NAME.XXXXXX")
pids=()
# cleanup_extra: the sourcing script may redefine it (e.g. Redis keys).
cleanup_extra() { :; }
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	cleanup_extra
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_ports() { # port...
	local p
	for p in "$@"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			die "port $p is in use; set BENCH_PORT_BASE to a free range"
		fi
	done
}

declare -A pid_of
start() { # name command...: runs command in the background, log in $work/name.log
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	pid_of[$name]=$!
}

# cpu_ticks name: user+system CPU the named process has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/${pid_of[$1]}/stat"; }
clk_tck=$(getconf CLK_TCK)

wait_http() { # name url
	for _ in $(seq 1 150); do
		if curl -fsS -o /dev/null "$2" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	log "$1 did not come up at $2; its log:"
	tail -n 20 "$work/$1.log" >&2
	exit 1
}

# run_counted out ticks-file command...: runs command with stdout to out and
# writes the CPU clock ticks it used (user+system, children included) to
# ticks-file. A short-lived load generator is measured this way, as the
# child of a shell that reads its own cumulative children's time.
run_counted() {
	local out=$1 ticks=$2
	shift 2
	sh -c '"$@" >"$0" && awk "{ print \$16 + \$17 }" /proc/$$/stat' "$out" "$@" >"$ticks"
}

# duration_seconds d: a wrk duration (10, 10s, 2m, 1h) in whole seconds,
# or 10 when it is none of these.
duration_seconds() {
	local v=${1%[smh]}
	case $v in '' | *[!0-9]*)
		echo 10
		return
		;;
	esac
	case $1 in
	*h) echo $((v * 3600)) ;;
	*m) echo $((v * 60)) ;;
	*) echo "$v" ;;
	esac
}

# wrk_summary file: "req/s p99-ms bad requests p50-ms" of a wrk --latency
# output; bad = non-2xx/3xx answers plus socket errors.
wrk_summary() {
	awk '
		/^Requests\/sec:/ { rps = $2 }
		/ requests in / { n = $1 }
		function msof(v,   unit) {
			unit = v; sub(/^[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
			return v * (unit == "us" ? 0.001 : unit == "s" ? 1000 : unit == "m" ? 60000 : 1)
		}
		/^ +50%/ { p50 = msof($2) }
		/^ +99%/ { p99 = msof($2) }
		/Non-2xx or 3xx responses:/ { bad += $NF }
		/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { gsub(",", "", $i); bad += $i } }
		END { printf "%s %.2f %d %d %.3f\n", rps, p99, bad, n, p50 }' "$1"
}
