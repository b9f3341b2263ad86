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
# --- Redis Cluster, Sentinel and PgBouncer (issue 17) -----------------------
# A 6-node Redis Cluster (3 primaries + 3 replicas, 127.0.0.1:7000-7005), a
# Sentinel group "gatehouse-test" (primary 6380, replica 6381, sentinel
# 26379) and PgBouncer in transaction pooling on 127.0.0.1:6432 in front of
# the local PostgreSQL (any database; any role, looked up with auth_user
# postgres, so that tests can use a role per schema; idle server
# connections close after 2 s because tests leave many small pools). Loopback only, no persistence, state under
# $GATEHOUSE_SERVICES_DIR; reused when already up. Tests that fail over a
# Sentinel group start a private one; these stay put.
svc_dir=${GATEHOUSE_SERVICES_DIR:-/tmp/gatehouse-services}
cluster_ports="7000 7001 7002 7003 7004 7005"

redis_port_up() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }
start_redis_node() { # port, extra redis-server args...
	local port=$1; shift
	mkdir -p "$svc_dir/$port"
	redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
		--dir "$svc_dir/$port" --logfile "$svc_dir/$port/redis.log" --pidfile "$svc_dir/$port/redis.pid" "$@"
	wait_for "redis on $port" redis_port_up "$port"
}

redis_cluster_ok() { redis-cli -h 127.0.0.1 -p 7000 cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }
start_redis_cluster() {
	redis_cluster_ok && return 0
	local addrs=() port
	# Not healthy (first run, or a node died): start over with empty nodes.
	for port in $cluster_ports; do
		if redis_port_up "$port"; then
			redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
			wait_for "redis $port to stop" sh -c "! redis-cli -h 127.0.0.1 -p $port ping"
		fi
		rm -f "$svc_dir/$port/nodes.conf"
		start_redis_node "$port" --cluster-enabled yes --cluster-config-file "$svc_dir/$port/nodes.conf" \
			--cluster-node-timeout 2000
		addrs+=("127.0.0.1:$port")
	done
	log "creating redis cluster on ports $cluster_ports"
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
	wait_for "redis cluster" redis_cluster_ok
}

sentinel_up() { redis-cli -h 127.0.0.1 -p 26379 sentinel get-master-addr-by-name gatehouse-test 2>/dev/null | grep -q 63; }
start_redis_sentinel() {
	sentinel_up && return 0
	redis_port_up 6380 || start_redis_node 6380
	redis_port_up 6381 || start_redis_node 6381 --replicaof 127.0.0.1 6380
	mkdir -p "$svc_dir/26379"
	cat >"$svc_dir/26379/sentinel.conf" <<-EOC
		port 26379
		bind 127.0.0.1
		daemonize yes
		logfile $svc_dir/26379/sentinel.log
		dir $svc_dir/26379
		sentinel monitor gatehouse-test 127.0.0.1 6380 1
		sentinel down-after-milliseconds gatehouse-test 2000
		sentinel failover-timeout gatehouse-test 10000
	EOC
	log "starting redis sentinel on 26379"
	redis-server "$svc_dir/26379/sentinel.conf" --sentinel
	wait_for "redis sentinel" sentinel_up
}

pgbouncer_up() { psql -h 127.0.0.1 -p 6432 -U postgres -d test -Atqc 'select 1' >/dev/null 2>&1; }
start_pgbouncer() {
	pgbouncer_up && return 0
	command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || apt_install pgbouncer
	mkdir -p "$svc_dir/pgbouncer"
	cat >"$svc_dir/pgbouncer/pgbouncer.ini" <<-EOC
		[databases]
		* = host=127.0.0.1 port=5432 auth_user=postgres
		[pgbouncer]
		listen_addr = 127.0.0.1
		listen_port = 6432
		auth_type = trust
		auth_file = $svc_dir/pgbouncer/userlist.txt
		pool_mode = transaction
		max_client_conn = 500
		default_pool_size = 20
		ignore_startup_parameters = extra_float_digits
		server_idle_timeout = 2
		max_db_connections = 40
		unix_socket_dir =
		logfile = $svc_dir/pgbouncer/pgbouncer.log
		pidfile = $svc_dir/pgbouncer/pgbouncer.pid
	EOC
	echo '"postgres" ""' >"$svc_dir/pgbouncer/userlist.txt"
	chown -R postgres "$svc_dir/pgbouncer" 2>/dev/null || true
	log "starting pgbouncer on 6432 (transaction pooling)"
	if [ "$(id -u)" = 0 ]; then
		su postgres -s /bin/sh -c "/usr/sbin/pgbouncer -d $svc_dir/pgbouncer/pgbouncer.ini"
	else
		/usr/sbin/pgbouncer -d "$svc_dir/pgbouncer/pgbouncer.ini"
	fi
	wait_for pgbouncer pgbouncer_up
}

mkdir -p "$svc_dir"
command -v redis-server >/dev/null || apt_install redis-server redis-tools
start_redis_cluster
start_redis_sentinel
start_pgbouncer
log "redis, redis cluster, redis sentinel, postgresql and pgbouncer are up"
