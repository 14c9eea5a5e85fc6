#!/usr/bin/env bash
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# A throwaway PostgreSQL server for the IPAM tests and benchmark, on 127.0.0.1 only.
#
#   tests/tools/postgres.sh start    install postgresql (apt) if missing, init and start; print the DSN
#   tests/tools/postgres.sh dsn      print the DSN (server must be running)
#   tests/tools/postgres.sh status   exit 0 when running
#   tests/tools/postgres.sh stop     stop the server and delete its data directory
#
# Idempotent: start on a running server only prints the DSN; stop on a stopped one does nothing.
# Environment: VMNET_PG_DIR (default /var/tmp/vmnet-ipfabric-pg), VMNET_PG_PORT (default 54329).
# As root the server runs as the postgres user (postgres refuses to run as root).
set -euo pipefail

DIR=${VMNET_PG_DIR:-/var/tmp/vmnet-ipfabric-pg}
PORT=${VMNET_PG_PORT:-54329}
DATA=$DIR/data
SOCK=$DIR/sock
LOG=$DIR/server.log
DSN="postgresql://postgres@127.0.0.1:${PORT}/postgres"

log() { echo "postgres.sh: $*" >&2; }

bindir() {
    local d
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    done
    return 1
}

install_pg() {
    if bindir >/dev/null; then return 0; fi
    if [ "$(id -u)" != 0 ]; then
        log "PostgreSQL server binaries not found and not root: install the postgresql package"; exit 1
    fi
    log "installing postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends postgresql >&2; then
        apt-get update >&2
        apt-get install -y --no-install-recommends postgresql >&2
    fi
    bindir >/dev/null || { log "postgresql installed but no pg_ctl found"; exit 1; }
}

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    local bin
    bin=$(bindir) || return 1
    [ -f "$DATA/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
    install_pg
    local bin
    bin=$(bindir)
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; fi
    (
        flock 9
        if running; then exit 0; fi
        if [ ! -f "$DATA/PG_VERSION" ]; then
            as_pg rm -rf "$DATA"
            as_pg mkdir -p "$DATA" "$SOCK"
            as_pg "$bin/initdb" -D "$DATA" --auth=trust --username=postgres --encoding=UTF8 \
                --no-sync >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
        fi
        as_pg mkdir -p "$SOCK"
        if ! as_pg "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$SOCK -c max_connections=200" \
            start >&2 9>&-; then
            cat "$LOG" >&2 || true
            exit 1
        fi
    ) 9>"$DIR.lock"
    echo "$DSN"
}

stop() {
    local bin
    if bin=$(bindir) && [ -f "$DATA/PG_VERSION" ]; then
        as_pg "$bin/pg_ctl" -D "$DATA" -m fast -w stop >&2 2>/dev/null || true
    fi
    rm -rf "$DIR" "$DIR.lock"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    dsn) running && echo "$DSN" ;;
    status) running ;;
    *) echo "usage: $0 start|stop|status|dsn" >&2; exit 2 ;;
esac
