#!/bin/sh
# Runs every native Go fuzz target (func FuzzXxx(*testing.F)) in the module,
# one after another, for FUZZTIME each (default 2m, as make fuzz). Targets are discovered
# with `go test -list` per package, so new ones are picked up without
# editing this file. Failing inputs land in <package>/testdata/fuzz/<Target>/
# and from then on run as seeds in `make test`.
#   FUZZTIME=5m ./scripts/fuzz.sh            # all targets
#   FUZZTIME=30s ./scripts/fuzz.sh ./internal/token/...
# FUZZPARALLEL sets the fuzzing workers per target (default: GOMAXPROCS).
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-2m}
parallel=""
if [ -n "${FUZZPARALLEL:-}" ]; then parallel="-parallel=$FUZZPARALLEL"; fi
[ $# -gt 0 ] || set -- ./...

pkgs=$($GO list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "$@")
failed=""
count=0
for pkg in $pkgs; do
	# A test that does not compile lists nothing: a failure, not a package
	# without targets (sh has no pipefail, so the list is taken first).
	if ! list=$($GO test -list '^Fuzz' "$pkg"); then
		failed="$failed $pkg"
		continue
	fi
	targets=$(printf '%s\n' "$list" | grep '^Fuzz' || true)
	for target in $targets; do
		count=$((count + 1))
		echo "fuzz: $pkg $target for $FUZZTIME"
		# shellcheck disable=SC2086 # $parallel is one optional flag
		if ! $GO test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" $parallel "$pkg"; then
			failed="$failed $pkg.$target"
		fi
	done
done
echo "fuzz: ran $count targets"
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed (a package alone: its tests do not build; inputs saved under testdata/fuzz; re-run with go test -run=Target/ID)" >&2
	exit 1
fi
