#!/usr/bin/env bash
# Makes sure PostgreSQL accepts connections on 127.0.0.1:5432 as user
# postgres, for the postgres store's tests and the multi-gateway tests.
#
#   - already running: nothing to do;
#   - installed but stopped: starts the newest cluster with pg_ctlcluster
#     (creating it if the package left none);
#   - not installed: apt-get installs postgresql, allows trust auth for user
#     postgres on 127.0.0.1 only, and starts it.
#
# Exits non-zero with one clear message if the server is still not ready
# after about 30 seconds. Safe to run again and again.
set -euo pipefail

HOST=127.0.0.1
PORT="${CUSTOS_PG_PORT:-5432}"       # overridable to test this script on a spare cluster
CLUSTER="${CUSTOS_PG_CLUSTER:-main}"
WAIT=30

say() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

ready() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"
	elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
	else die "need root to run: $* (run as root or install sudo)"
	fi
}

# newest_version prints the newest PostgreSQL major version with a cluster
# directory in /etc/postgresql, or nothing.
newest_version() {
	ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

# allow_trust lets user postgres in from 127.0.0.1 without a password. Only
# used on a server or cluster this script installed or created itself.
allow_trust() {
	local hba="/etc/postgresql/$1/$CLUSTER/pg_hba.conf"
	[ -f "$hba" ] || die "no $hba after installing postgresql"
	if ! grep -Eq '^host[[:space:]]+all[[:space:]]+postgres[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
		as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
		say "allowed trust auth for user postgres on 127.0.0.1 in $hba"
	fi
}

if ready && psql -h "$HOST" -p "$PORT" -U postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
	say "PostgreSQL is ready on $HOST:$PORT"
	exit 0
fi

installed_now=no
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
	say "PostgreSQL is not installed; installing it with apt-get"
	command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available: install PostgreSQL and start it on $HOST:$PORT"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	installed_now=yes
fi

ver="$(newest_version)"
if [ -z "$ver" ]; then
	ver="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
	[ -n "$ver" ] || die "PostgreSQL binaries not found in /usr/lib/postgresql"
fi
if [ ! -d "/etc/postgresql/$ver/$CLUSTER" ]; then
	# The package is there but the cluster is not: create it.
	say "creating cluster $ver/$CLUSTER on port $PORT"
	as_root pg_createcluster -p "$PORT" "$ver" "$CLUSTER" >/dev/null
	installed_now=yes
fi
if [ "$installed_now" = yes ]; then
	allow_trust "$ver"
	# A server the package started before the rule was added must reload it.
	as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$CLUSTER" reload >/dev/null 2>&1 || true
fi

if ! ready; then
	say "starting PostgreSQL $ver/$CLUSTER"
	# "already running" is not an error here: readiness is checked below.
	as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$CLUSTER" start || true
fi

for _ in $(seq 1 "$WAIT"); do
	if ready; then
		if psql -h "$HOST" -p "$PORT" -U postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
			say "PostgreSQL $ver is ready on $HOST:$PORT"
			exit 0
		fi
		die "PostgreSQL is up on $HOST:$PORT but user postgres cannot log in without a password: add 'host all postgres 127.0.0.1/32 trust' to /etc/postgresql/$ver/$CLUSTER/pg_hba.conf and reload, or point CUSTOS_TEST_POSTGRES at a reachable server"
	fi
	sleep 1
done
die "PostgreSQL is not ready on $HOST:$PORT after ${WAIT}s; see /var/log/postgresql/postgresql-$ver-$CLUSTER.log"
