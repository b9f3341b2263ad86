#!/usr/bin/env bash
# Makes sure Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, user
# postgres, trust auth, database "test") are running, installing them with
# apt-get when absent, and that nginx and Caddy are installed (only
# installed: the forward-auth tests start their own instances on random
# loopback ports). Idempotent; `make test` calls it first.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
apt_updated=""
apt_install() {
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		apt_updated=1
	fi
	log "installing $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # name, command...
	local name=$1; shift
	for _ in $(seq 1 60); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	log "$name did not come up"
	return 1
}

command -v curl >/dev/null || apt_install curl
# systemd-analyze checks the unit in docs/deploy.md (scripts/check-systemd-unit.sh).
command -v systemd-analyze >/dev/null || apt_install systemd

# nginx and Caddy for internal/frontproxy's tests. Debian's packages start a
# system daemon on port 80 when a service manager runs; stop it, the tests
# need only the binaries.
if ! [ -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null || ! command -v caddy >/dev/null; then
	apt_install nginx caddy
	for svc in nginx caddy; do
		if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
			systemctl stop "$svc" || true
		fi
	done
fi

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_up; then
	command -v redis-server >/dev/null || apt_install redis-server redis-tools
	log "starting redis"
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
	wait_for redis redis_up
fi

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! command -v pg_ctlcluster >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
	apt_install postgresql postgresql-client
fi
if ! pg_up; then
	version=$(ls /etc/postgresql | sort -V | tail -n1)
	log "starting postgresql $version"
	pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
	wait_for postgresql pg_up
fi
# Trust auth on loopback and the test database, as the tests expect.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
	version=$(ls /etc/postgresql | sort -V | tail -n1)
	hba=/etc/postgresql/$version/main/pg_hba.conf
	log "enabling trust auth on loopback in $hba"
	sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
	pg_ctlcluster --skip-systemctl-redirect "$version" main reload
	wait_for "postgresql trust auth" psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1'
fi
if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atqc "select 1 from pg_database where datname='test'")" != 1 ]; then
	log "creating database test"
	psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database test'
fi
log "redis and postgresql are up"
