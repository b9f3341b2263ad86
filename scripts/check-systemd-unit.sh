#!/usr/bin/env bash
# Checks the systemd unit documented in docs/deploy.md (the first ```ini block
# after "## systemd") with `systemd-analyze security --offline=yes` and fails
# when its overall exposure is above MAX_EXPOSURE (default 2.0), so that the
# documented unit cannot drift to a weaker one. Called by `go test
# ./cmd/gatehouse` (TestDocumentedSystemdUnitIsHardened) and
# `make check-systemd`; scripts/services.sh installs systemd-analyze.
#   scripts/check-systemd-unit.sh [docs/deploy.md]
set -euo pipefail
cd "$(dirname "$0")/.."

doc=${1:-docs/deploy.md}
max=${MAX_EXPOSURE:-2.0}
command -v systemd-analyze >/dev/null || {
	echo "check-systemd-unit: systemd-analyze is missing (scripts/services.sh installs it)" >&2
	exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-unit.XXXXXX")
trap 'rm -rf "$work"' EXIT
unit=$work/gatehouse.service
awk '/^## systemd/ { s = 1 } s && /^```ini$/ { f = 1; next } f && /^```$/ { exit } f' "$doc" >"$unit"
grep -q '^\[Service\]' "$unit" || {
	echo "check-systemd-unit: no \`\`\`ini unit with [Service] under \"## systemd\" in $doc" >&2
	exit 1
}

out=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1) || true
exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for gatehouse.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
	printf '%s\n' "$out" >&2
	echo "check-systemd-unit: systemd-analyze gave no exposure level" >&2
	exit 1
fi
if awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e > m) }'; then
	printf '%s\n' "$out" | grep '✗' >&2 || true
	echo "check-systemd-unit: $doc unit exposure $exposure > $max" >&2
	exit 1
fi
echo "check-systemd-unit: $doc unit exposure $exposure <= $max"
