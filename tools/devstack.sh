#!/usr/bin/env bash
# devstack.sh: the local stack behind `make run` / `make stop`.
#
#   tools/devstack.sh start   private Postgres + Apache Kafka + topics + migrations + the four
#                             services
#   tools/devstack.sh stop    stops everything it started (by pid file, never by name)
#   tools/devstack.sh status  what is running
#
# Everything lives under .run/ (ignored by git; MULTICA_RUN_DIR moves it, as make bench does):
# pg/ (the cluster), kafka/ (the broker and its log), logs/, pids/, and env, a shell file to
# source for psql and kcat against the running stack.
#
# Ports: GATEWAY_PORT (8080), DISPATCHER_PORT (8081), INGESTER_PORT (8082),
# SCHEDULER_PORT (8083), DEV_PG_PORT (55432), KAFKA_PORT (59092; its controller on the next
# port). A port another process holds stops the start with a message naming the variable.
# A service counts as started only when its own pid listens on its port and answers
# /healthz; if any part fails, everything this run started is stopped again. Any other
# variable in the environment (APP_ENV, MULTICA_DEV_VERIFICATION_CODE, JWT_SECRET, ...) reaches
# the services unchanged.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${MULTICA_RUN_DIR:-$ROOT/.run}
BIN=${BIN:-$ROOT/build/bin}
export DEV_PG_DIR=${DEV_PG_DIR:-$RUN/pg}
export DEV_PG_PORT=${DEV_PG_PORT:-55432}
export KAFKA_DIR=${KAFKA_DIR:-$RUN/kafka}
export KAFKA_PORT=${KAFKA_PORT:-59092}
export KAFKA_LOG=${KAFKA_LOG:-$RUN/logs/kafka.log}

declare -A PORTS=(
    [api-gateway]=${GATEWAY_PORT:-8080}
    [task-dispatcher]=${DISPATCHER_PORT:-8081}
    [usage-ingester]=${INGESTER_PORT:-8082}
    [rollup-scheduler]=${SCHEDULER_PORT:-8083}
)
declare -A ROLES=(
    [api-gateway]=multica_gateway
    [task-dispatcher]=multica_dispatch
    [usage-ingester]=multica_usage
    [rollup-scheduler]=multica_scheduler
)
SERVICES=(api-gateway task-dispatcher usage-ingester rollup-scheduler)

log() { printf '%s\n' "$*" >&2; }

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {
    local pidfile=$1 name=$2
    if running "$pidfile"; then
        local pid
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "  $name did not stop within 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "  stopped $name"
    fi
    rm -f "$pidfile"
}

# True when something accepts TCP connections on 127.0.0.1:port.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when process pid holds the listening socket of TCP port (from /proc: the socket's
# inode in /proc/net/tcp, among the pid's open files). This is what tells our service apart
# from another process answering on the same port.
owns_port() {
    local pid=$1 port=$2 hex inode
    hex=$(printf '%04X' "$port")
    inode=$(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10; exit }' \
        /proc/net/tcp)
    [ -n "$inode" ] || return 1
    local fd
    for fd in /proc/"$pid"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ] && return 0
    done
    return 1
}

wait_healthy() {
    local name=$1 port=$2 pid
    pid=$(cat "$RUN/pids/$name.pid")
    for _ in $(seq 1 120); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "  $name exited; last lines of $RUN/logs/$name.log:"
            tail -n 20 "$RUN/logs/$name.log" >&2 || true
            return 1
        fi
        if owns_port "$pid" "$port" && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    log "  $name is not healthy after 60 s: $(curl -sS "http://127.0.0.1:$port/healthz" 2>&1 || true)"
    return 1
}

# What this start brought up, so that a failure takes exactly that down again.
STARTED=()

undo_start() {
    local status=$?
    [ "$status" -eq 0 ] && return 0
    if [ ${#STARTED[@]} -gt 0 ]; then
        log "start failed; stopping what this run started: ${STARTED[*]}"
        local i
        for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
            case "${STARTED[$i]}" in
            postgres) "$ROOT/tools/devpg.sh" stop && log "  stopped postgres" ;;
            kafka) "$ROOT/tools/kafka" stop && log "  stopped kafka" ;;
            *) stop_pidfile "$RUN/pids/${STARTED[$i]}.pid" "${STARTED[$i]}" ;;
            esac
        done
    fi
    rm -f "$RUN/env"
    exit "$status"
}

check_port() {
    local port=$1 variable=$2 who=$3
    if port_taken "$port"; then
        log "port $port ($variable) is taken by another process, so $who cannot listen there;"
        log "stop that process or choose another port: $variable=... make run"
        exit 1
    fi
}

start() {
    mkdir -p "$RUN/logs" "$RUN/pids"
    for b in "${SERVICES[@]}" migrate; do
        if [ ! -x "$BIN/multica-$b" ]; then
            log "missing $BIN/multica-$b: run 'make build' first"
            exit 1
        fi
    done
    trap undo_start EXIT
    local -A var=([api-gateway]=GATEWAY_PORT [task-dispatcher]=DISPATCHER_PORT
        [usage-ingester]=INGESTER_PORT [rollup-scheduler]=SCHEDULER_PORT)
    for s in "${SERVICES[@]}"; do
        running "$RUN/pids/$s.pid" || check_port "${PORTS[$s]}" "${var[$s]}" "$s"
    done

    if ! "$ROOT/tools/devpg.sh" status >/dev/null 2>&1; then
        check_port "$DEV_PG_PORT" DEV_PG_PORT postgres
        log "postgres: starting private cluster on 127.0.0.1:$DEV_PG_PORT"
        "$ROOT/tools/devpg.sh" start
        STARTED+=(postgres)
    fi
    local admin_url
    admin_url=$("$ROOT/tools/devpg.sh" url)

    if ! "$ROOT/tools/kafka" status >/dev/null 2>&1; then
        check_port "$KAFKA_PORT" KAFKA_PORT kafka
        log "kafka: starting Apache Kafka (KRaft, one node) on 127.0.0.1:$KAFKA_PORT"
        "$ROOT/tools/kafka" start
        STARTED+=(kafka)
    fi
    local brokers
    brokers=$("$ROOT/tools/kafka" url)

    log "topics: creating them from their definition (multica-migrate topics)"
    KAFKA_BROKERS=$brokers "$BIN/multica-migrate" topics --wait 60 >>"$RUN/logs/migrate.log" 2>&1 || {
        log "creating the topics failed; see $RUN/logs/migrate.log"
        tail -n 5 "$RUN/logs/migrate.log" >&2
        exit 1
    }

    log "migrations: applying every slice"
    DATABASE_URL=$admin_url "$BIN/multica-migrate" up >>"$RUN/logs/migrate.log" 2>&1 || {
        log "migrations failed; see $RUN/logs/migrate.log"
        tail -n 5 "$RUN/logs/migrate.log" >&2
        exit 1
    }

    # Development defaults; anything set in the caller's environment wins.
    export APP_ENV=${APP_ENV:-development}
    export JWT_SECRET=${JWT_SECRET:-dev-only-secret-change-me-0123456789abcdef}
    for s in "${SERVICES[@]}"; do
        if running "$RUN/pids/$s.pid"; then
            log "$s: already running (pid $(cat "$RUN/pids/$s.pid"))"
            continue
        fi
        local role=${ROLES[$s]}
        DATABASE_URL="postgres://$role:$role@127.0.0.1:$DEV_PG_PORT/multica" \
            KAFKA_BROKERS=$brokers HTTP_PORT=${PORTS[$s]} HTTP_BIND=127.0.0.1 \
            "$BIN/multica-$s" >>"$RUN/logs/$s.log" 2>&1 &
        echo $! >"$RUN/pids/$s.pid"
        STARTED+=("$s")
    done
    for s in "${SERVICES[@]}"; do
        wait_healthy "$s" "${PORTS[$s]}"
    done

    cat >"$RUN/env" <<EOF
# Written by 'make run'. Source it: . .run/env
export DATABASE_URL='$admin_url'
export KAFKA_BROKERS='$brokers'
export GATEWAY_URL='http://127.0.0.1:${PORTS[api-gateway]}'
export DISPATCHER_URL='http://127.0.0.1:${PORTS[task-dispatcher]}'
export INGESTER_URL='http://127.0.0.1:${PORTS[usage-ingester]}'
export SCHEDULER_URL='http://127.0.0.1:${PORTS[rollup-scheduler]}'
EOF
    trap - EXIT
    cat <<EOF

Multica-C is running.
  api-gateway       http://127.0.0.1:${PORTS[api-gateway]}   (/healthz, /metrics, /api/...)
  task-dispatcher   http://127.0.0.1:${PORTS[task-dispatcher]}
  usage-ingester    http://127.0.0.1:${PORTS[usage-ingester]}
  rollup-scheduler  http://127.0.0.1:${PORTS[rollup-scheduler]}
  postgres          $admin_url
  kafka             $brokers (Apache Kafka $("$ROOT/tools/kafka" version), one KRaft node)
  logs              $RUN/logs/
  environment       . .run/env   (then: psql "\$DATABASE_URL", kcat -b "\$KAFKA_BROKERS" -L)
Stop everything with: make stop
EOF
}

stop() {
    log "stopping the local stack"
    for s in "${SERVICES[@]}"; do
        stop_pidfile "$RUN/pids/$s.pid" "$s"
    done
    "$ROOT/tools/kafka" stop && log "  stopped kafka"
    "$ROOT/tools/devpg.sh" stop && log "  stopped postgres"
    rm -f "$RUN/env"
}

status() {
    for s in "${SERVICES[@]}"; do
        if running "$RUN/pids/$s.pid"; then
            echo "$s: running (pid $(cat "$RUN/pids/$s.pid"))"
        else
            echo "$s: stopped"
        fi
    done
    "$ROOT/tools/kafka" status || true
    "$ROOT/tools/devpg.sh" status >/dev/null 2>&1 && echo "postgres: running" || echo "postgres: stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
