#!/usr/bin/env bash
# devpg.sh: a private PostgreSQL cluster for local runs and tests (never for production), run
# by the newest PostgreSQL installed (/usr/lib/postgresql/<major>: 15 on Debian 12, 16 on
# Ubuntu 24.04, 17 on Debian 13; PGBIN overrides it). When DEV_PG_PRELOAD names pg_cron, the
# newest major that has pg_cron installed.
#
#   tools/devpg.sh start | stop | destroy | status | url | psql [args]
#
# DEV_PG_DIR   where the cluster lives (default .run/pg, ignored by git)
# DEV_PG_PORT  its TCP port on 127.0.0.1 (default 55432)
# DEV_PG_FAST  1 turns off fsync and friends (tests only: a crash loses the cluster)
# DEV_PG_PRELOAD  shared_preload_libraries (for example pg_cron in one test)
# DEV_PG_CRON_DB  the database pg_cron runs jobs in (default multica)
# DEV_PG_CONF  more postgresql.conf settings, separated by ';' (for example auto_explain's
#              when profiling: DEV_PG_CONF='auto_explain.log_min_duration=2ms')
#
# initdb and postgres run as the 'postgres' user when this script runs as root (PostgreSQL
# refuses to run as root), otherwise as the current user. It creates the database 'multica',
# and one login role per service (multica_gateway, multica_dispatch, multica_usage,
# multica_scheduler) whose dev password equals its name.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${DEV_PG_DIR:-$ROOT/.run/pg}
PORT=${DEV_PG_PORT:-55432}
# newest_pgbin: the bin directory of the newest installed major (with pg_cron when preloaded).
newest_pgbin() {
    local d
    for d in $(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort -rV); do
        [ -x "$d/bin/pg_ctl" ] || continue
        if [[ ${DEV_PG_PRELOAD:-} == *pg_cron* ]] && [ ! -e "$d/lib/pg_cron.so" ]; then continue; fi
        echo "$d/bin"
        return
    done
    command -v pg_ctl >/dev/null && dirname "$(command -v pg_ctl)" && return
    echo "devpg: no PostgreSQL server found under /usr/lib/postgresql; run tools/deps.sh" >&2
    exit 2
}
PGBIN=${PGBIN:-$(newest_pgbin)}
DB=multica
ROLES=(multica_gateway multica_dispatch multica_usage multica_scheduler)

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# The postgres user must be able to reach the data directory; a checkout under a private home
# directory is not always traversable, so fall back to a folder under /tmp named after it.
resolve_dir() {
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$DIR" 2>/dev/null; then
        local alt
        alt=/tmp/multica-devpg-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
        mkdir -p "$alt"
        DIR=$alt
    fi
    if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; fi
}

psql_super() {
    as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/sock" -p "$PORT" -U postgres "$@"
}

start() {
    resolve_dir
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        as_pg mkdir -p "$DIR/data" "$DIR/sock"
        echo postgres | as_pg tee "$DIR/pwfile" >/dev/null
        as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 --pwfile="$DIR/pwfile" -E UTF8 --locale=C.UTF-8 >/dev/null
        rm -f "$DIR/pwfile"
        {
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $PORT"
            echo "unix_socket_directories = '$DIR/sock'"
            echo "max_connections = 300"
            echo "shared_buffers = 256MB"
            echo "timezone = 'UTC'"
            echo "log_min_messages = warning"
            if [ "${DEV_PG_FAST:-0}" = 1 ]; then
                echo "fsync = off"
                echo "synchronous_commit = off"
                echo "full_page_writes = off"
            fi
            if [ -n "${DEV_PG_PRELOAD:-}" ]; then
                echo "shared_preload_libraries = '$DEV_PG_PRELOAD'"
                echo "cron.database_name = '${DEV_PG_CRON_DB:-$DB}'"
                # pg_cron opens a libpq connection per job; over the socket, trust applies.
                echo "cron.host = '$DIR/sock'"
            fi
            if [ -n "${DEV_PG_CONF:-}" ]; then
                tr ';' '\n' <<<"$DEV_PG_CONF"
            fi
        } | as_pg tee -a "$DIR/data/postgresql.conf" >/dev/null
    fi
    if ! as_pg "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 start >/dev/null
    fi
    if [ "$(psql_super -tAc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
        psql_super -c "CREATE DATABASE $DB"
    fi
    for r in "${ROLES[@]}"; do
        psql_super -d "$DB" -c "DO \$\$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$r') THEN
                CREATE ROLE $r LOGIN PASSWORD '$r';
            END IF; END \$\$"
    done
}

stop() {
    resolve_dir
    if [ -f "$DIR/data/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null
    fi
}

destroy() {
    stop
    rm -rf "$DIR"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
destroy) destroy ;;
status)
    resolve_dir
    as_pg "$PGBIN/pg_ctl" -D "$DIR/data" status
    ;;
url) echo "postgres://postgres:postgres@127.0.0.1:$PORT/$DB" ;;
psql)
    shift
    resolve_dir
    psql_super -d "$DB" "$@"
    ;;
*)
    echo "usage: $0 start|stop|destroy|status|url|psql" >&2
    exit 2
    ;;
esac
