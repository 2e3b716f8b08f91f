#!/usr/bin/env bash
# Start a throwaway S3 server for the test suite: single-node Ceph (1 mon, 1 memstore OSD,
# no mgr, auth none) plus radosgw (beast frontend) on 127.0.0.1.
#
#   scripts/start_rgw.sh [STATE_DIR]     (or TETHER_CI_STATE; default .ci-state/)
#
# Prints the endpoint (http://127.0.0.1:PORT) as the last line of stdout; progress goes to stderr.
# The S3 user has access key "tetherak" and secret "tethersecret".
# Daemon pid files, config and logs live under STATE_DIR/ceph; scripts/stop_services.sh stops them.
# If STATE_DIR already holds a running gateway, it is reused.
# Environment: TETHER_CEPH_MON_PORT, TETHER_RGW_PORT (default: free ports; the stock 6789/7480
#              are avoided so a Ceph started by hand on this machine does not get in the way).
set -euo pipefail
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${1:-${TETHER_CI_STATE:-$ROOT/.ci-state}}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
D="$STATE/ceph"
ACCESS_KEY=tetherak
SECRET_KEY=tethersecret
DAEMONS="client.rgw.a osd.0 mon.a"

log() { echo "start_rgw: $*" >&2; }
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_up() {
    python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass  # any HTTP answer means the gateway is serving
PY
}
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_ceph() {
    local missing=0 cmd
    for cmd in ceph-mon ceph-osd radosgw radosgw-admin ceph uuidgen; do
        command -v "$cmd" >/dev/null || missing=1
    done
    [ $missing = 0 ] && return 0
    log "installing Ceph (Debian packages)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q >&2
    $sudo apt-get install -y -q --no-install-recommends ceph-mon ceph-osd radosgw ceph-common uuid-runtime >&2
}

running_gateway() {
    local name
    [ -f "$D/endpoint" ] || return 1
    for name in $DAEMONS; do pid_alive "$D/run/$name.pid" || return 1; done
    http_up "$(cat "$D/endpoint")"
}

# wait_for SECONDS DAEMON DESCRIPTION COMMAND...: poll COMMAND until it succeeds; give up early
# if DAEMON (a name like osd.0) has exited.
wait_for() {
    local start=$SECONDS limit=$1 daemon=$2 what=$3
    shift 3
    while [ $((SECONDS - start)) -lt "$limit" ]; do
        "$@" && return 0
        # A daemon writes its pid file only some way into its start (radosgw after ~10 s on a
        # busy machine): no file yet means still starting, not exited.
        if [ $((SECONDS - start)) -ge 5 ] && [ -f "$D/run/$daemon.pid" ] && ! pid_alive "$D/run/$daemon.pid"; then
            log "$daemon exited while waiting for $what"
            break
        fi
        sleep 0.5
    done
    log "gave up waiting for $what; logs in $D/log"
    tail -n 20 "$D"/log/*.log >&2 || true
    return 1
}

if running_gateway; then
    log "reusing running gateway"
    cat "$D/endpoint"
    exit 0
fi

install_ceph
# A half-started cluster from an earlier run: stop what it recorded, then start afresh.
if [ -d "$D" ]; then "$ROOT/scripts/stop_services.sh" "$STATE" rgw >&2 || true; fi
# On any failure below, stop whatever this run already started.
stop_on_failure() {
    local rc=$?
    [ "$rc" = 0 ] || "$ROOT/scripts/stop_services.sh" "$STATE" rgw >&2
    exit "$rc"
}
trap stop_on_failure EXIT

MON_PORT=${TETHER_CEPH_MON_PORT:-$(free_port)}
port_free "$MON_PORT" || { log "mon port $MON_PORT is taken"; exit 1; }
RGW_PORT=${TETHER_RGW_PORT:-$(free_port)}
ENDPOINT="http://127.0.0.1:$RGW_PORT"

rm -rf "$D"
mkdir -p "$D/mon" "$D/osd" "$D/rgw" "$D/run" "$D/log"
# Admin sockets are unix sockets (path limit ~107 bytes): keep them short if the state dir is deep.
ASOK_DIR="$D/run"
if [ ${#ASOK_DIR} -gt 80 ]; then ASOK_DIR=$(mktemp -d /tmp/tether-ceph.XXXXXX); fi
echo "$ASOK_DIR" >"$D/asok_dir"

cat >"$D/ceph.conf" <<CONF
[global]
fsid = $(uuidgen)
mon host = v1:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 8589934592
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
osd pool default pg autoscale mode = off
osd max object name len = 256
osd max object namespace len = 64
run dir = $D/run
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
keyring = /dev/null
[mon]
admin socket = $ASOK_DIR/\$name.asok
[mon.a]
mon data = $D/mon
public addr = v1:127.0.0.1:$MON_PORT
[osd]
admin socket = $ASOK_DIR/\$name.asok
# The OSD is put in the CRUSH map below. Left on, these make ceph-osd send mon commands early in
# its init, sometimes before it has the monmap: sent with a zero fsid, refused ("wrong fsid"), and
# the OSD exits.
osd crush update on start = false
osd class update on start = false
[osd.0]
osd data = $D/osd
[client]
admin socket =
[client.rgw.a]
admin socket = $ASOK_DIR/\$name.asok
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $D/rgw
# free deleted objects within a minute (default: hours), so repeated runs don't fill the memstore
rgw gc obj min wait = 30
rgw gc processor period = 30
CONF
export CEPH_CONF="$D/ceph.conf"
start=$SECONDS

ceph-mon --mkfs -i a >&2
ceph-mon -i a
# The OSD gets an explicit uuid, registered with the monitor and written by mkfs: without one,
# the OSD's boot-time "osd create <its uuid> <id>" was seen refused ("wrong fsid") now and then.
OSD_UUID=$(uuidgen)
OSD_ID=$(ceph --connect-timeout 30 osd create "$OSD_UUID")
ceph osd crush add "osd.$OSD_ID" 1 root=default host=localhost >/dev/null 2>&1 \
    || ceph osd crush add "osd.$OSD_ID" 1 root=default >/dev/null
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >"$D/log/osd-mkfs.log" 2>&1 \
    || { cat "$D/log/osd-mkfs.log" >&2; exit 1; }
ceph-osd -i "$OSD_ID" 2>>"$D/log/osd.$OSD_ID.stderr.log" \
    || { log "ceph-osd failed to start:"; cat "$D/log/osd.$OSD_ID.stderr.log" >&2; exit 1; }
wait_for 60 "osd.$OSD_ID" "the OSD" sh -c 'ceph osd stat 2>/dev/null | grep -q "1 up"'

radosgw -n client.rgw.a
wait_for 120 client.rgw.a "radosgw on $ENDPOINT" http_up "$ENDPOINT"
radosgw-admin user create --uid=tether --display-name=tether \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
echo "$ENDPOINT" >"$D/endpoint"
log "radosgw up on $ENDPOINT (mon 127.0.0.1:$MON_PORT) in $((SECONDS - start))s"
echo "$ENDPOINT"
