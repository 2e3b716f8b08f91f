#!/usr/bin/env bash
# Stop the services that scripts/start_postgres.sh and scripts/start_rgw.sh started.
#
#   scripts/stop_services.sh [STATE_DIR] [pg] [rgw]     (default: both)
#
# STATE_DIR defaults to TETHER_CI_STATE, then .ci-state/. Only the processes whose pids those
# scripts recorded are signalled, and only if the pid still runs the expected program.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${TETHER_CI_STATE:-$ROOT/.ci-state}
if [ $# -gt 0 ] && [ "$1" != pg ] && [ "$1" != rgw ]; then STATE=$1; shift; fi
WHAT=${*:-rgw pg}

log() { echo "stop_services: $*" >&2; }

# kill_recorded PIDFILE:PROGRAM...: TERM them all, wait up to 20s, then KILL the rest.
# A pid that no longer runs PROGRAM (exited, maybe recycled) is left alone.
kill_recorded() {
    local spec pidfile prog pid pids=() alive=() i
    for spec in "$@"; do
        pidfile=${spec%:*} prog=${spec##*:}
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        rm -f "$pidfile"
        if [[ ! "$pid" =~ ^[0-9]+$ ]] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$prog" ]; then
            continue
        fi
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    done
    for ((i = 0; i < 40; i++)); do
        alive=()
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        [ ${#alive[@]} = 0 ] && return 0
        sleep 0.5
    done
    log "killing pids that did not stop: ${alive[*]}"
    kill -KILL "${alive[@]}" 2>/dev/null
    return 0
}

stop_pg() {
    local pg="$STATE/pg" data bindir
    [ -d "$pg" ] || return 0
    data=$(cat "$pg/datadir" 2>/dev/null || true)
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -n "$data" ] && [ -f "$data/postmaster.pid" ] && [ -n "$bindir" ]; then
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$bindir/pg_ctl" -D "$data" -m fast -t 30 stop >/dev/null 2>&1
        else
            "$bindir/pg_ctl" -D "$data" -m fast -t 30 stop >/dev/null 2>&1
        fi
    fi
    kill_recorded "$pg/pid:postgres"
    # A data dir placed under /tmp (see start_postgres.sh) is ours to remove; keep its log.
    case "$data" in
        /tmp/tether-pg.*/data)
            rm -f "$pg/postgres.log"
            cp "$(dirname "$data")/postgres.log" "$pg/postgres.log" 2>/dev/null
            rm -rf "$(dirname "$data")"
            ;;
    esac
    log "PostgreSQL stopped"
}

stop_rgw() {
    local d="$STATE/ceph" asok
    [ -d "$d" ] || return 0
    kill_recorded "$d/run/client.rgw.a.pid:radosgw" "$d/run/osd.0.pid:ceph-osd" "$d/run/mon.a.pid:ceph-mon"
    # A daemon killed before it wrote its pid file (a start that failed early) is found by the
    # CEPH_CONF in its environment, which names this state dir and no other.
    local pid left=()
    for pid in $(pgrep -x ceph-osd; pgrep -x ceph-mon; pgrep -x radosgw); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "CEPH_CONF=$d/ceph.conf"; then
            kill -TERM "$pid" 2>/dev/null && left+=("$pid")
        fi
    done
    if [ ${#left[@]} -gt 0 ]; then
        sleep 2
        kill -KILL "${left[@]}" 2>/dev/null || true
    fi
    asok=$(cat "$d/asok_dir" 2>/dev/null || true)
    case "$asok" in /tmp/tether-ceph.*) rm -rf "$asok" ;; esac
    rm -f "$d/endpoint"
    log "Ceph/radosgw stopped"
}

for service in $WHAT; do
    case "$service" in
        pg) stop_pg ;;
        rgw) stop_rgw ;;
        *) log "unknown service: $service (expected pg or rgw)"; exit 2 ;;
    esac
done
exit 0
