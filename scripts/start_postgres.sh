#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on a free loopback port for the test suite.
#
#   scripts/start_postgres.sh [STATE_DIR]     (or TETHER_CI_STATE; default .ci-state/)
#
# Prints the SQLAlchemy URL as the last line of stdout; progress goes to stderr.
# Records port, pid and data dir under STATE_DIR/pg so scripts/stop_services.sh can stop it.
# If STATE_DIR already holds a running cluster, that cluster is reused. The role may create
# databases: the test fixtures clone a template database per test.
# Environment: TETHER_PG_PORT (port to use instead of a free one).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${1:-${TETHER_CI_STATE:-$ROOT/.ci-state}}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
PG="$STATE/pg"

log() { echo "start_postgres: $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
url_for() { echo "postgresql+psycopg://tether:tether@127.0.0.1:$1/tether"; }

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# Run a command as the cluster owner: postgres refuses to run as root.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_postgres() {
    [ -n "$(pg_bindir)" ] && [ -x "$(pg_bindir)/initdb" ] && return 0
    log "installing PostgreSQL (Debian package)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q >&2
    $sudo apt-get install -y -q --no-install-recommends postgresql postgresql-client >&2
}

running_cluster() {
    [ -f "$PG/datadir" ] && [ -f "$PG/port" ] || return 1
    local datadir bindir
    datadir=$(cat "$PG/datadir")
    bindir=$(pg_bindir)
    [ -n "$bindir" ] && as_owner "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1
}

if running_cluster; then
    log "reusing running cluster in $(cat "$PG/datadir")"
    url_for "$(cat "$PG/port")"
    exit 0
fi

install_postgres
BIN=$(pg_bindir)
PORT=${TETHER_PG_PORT:-$(free_port)}

# The cluster owner must be able to reach the data dir; a fresh clone under a private home
# may not allow that, so fall back to a private directory under /tmp.
if [ -d "$PG" ]; then "$ROOT/scripts/stop_services.sh" "$STATE" pg >&2 || true; fi
# On any failure below, stop whatever this run already started.
stop_on_failure() {
    local rc=$?
    [ "$rc" = 0 ] || "$ROOT/scripts/stop_services.sh" "$STATE" pg >&2
    exit "$rc"
}
trap stop_on_failure EXIT
rm -rf "$PG"
mkdir -p "$PG"
DATA="$PG/data"
if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG"
    if ! runuser -u postgres -- test -w "$PG"; then
        DATA=$(mktemp -d /tmp/tether-pg.XXXXXX)/data
        chown postgres "$(dirname "$DATA")"
        log "state dir not reachable by user postgres; data in $DATA"
    fi
fi
echo "$DATA" >"$PG/datadir"
echo "$PORT" >"$PG/port"
LOGFILE="$(dirname "$DATA")/postgres.log"

start=$SECONDS
as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$PG/initdb.log" 2>&1 \
    || { cat "$PG/initdb.log" >&2; exit 1; }
# TCP on loopback only, no unix socket (avoids socket-path clashes), durability off: test data only.
as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >&2 || { cat "$LOGFILE" >&2; exit 1; }
head -1 "$DATA/postmaster.pid" >"$PG/pid"
[ "$LOGFILE" = "$PG/postgres.log" ] || ln -sf "$LOGFILE" "$PG/postgres.log"

"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qc \
    "CREATE ROLE tether LOGIN CREATEDB PASSWORD 'tether'" -c "CREATE DATABASE tether OWNER tether" >&2
# bench.scale's CHECKPOINT after its bulk load; the role exists from PostgreSQL 15 (older: skipped)
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qc "GRANT pg_checkpoint TO tether" >/dev/null 2>&1 || true
# the tests' DROP DATABASE ... WITH (FORCE) must be able to end an autovacuum worker that happens to
# be on that database (PostgreSQL 15 asks for pg_signal_backend to terminate one)
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qc "GRANT pg_signal_backend TO tether" >/dev/null 2>&1 || true
log "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') up on 127.0.0.1:$PORT in $((SECONDS - start))s (pid $(cat "$PG/pid"))"
url_for "$PORT"
