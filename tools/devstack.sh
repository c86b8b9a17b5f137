#!/usr/bin/env bash
# devstack.sh: the local stack behind `make run` / `make stop`.
#
#   tools/devstack.sh start   private Postgres + dev broker + migrations + the four services
#   tools/devstack.sh stop    stops everything it started (by pid file, never by name)
#   tools/devstack.sh status  what is running
#
# Everything lives under .run/ (ignored by git; MULTICA_RUN_DIR moves it, as make bench does):
# pg/ (the cluster), logs/, pids/, and env,
# a shell file to source for psql and kcat against the running stack.
#
# Ports: GATEWAY_PORT (8080), DISPATCHER_PORT (8081), INGESTER_PORT (8082),
# SCHEDULER_PORT (8083), DEV_PG_PORT (55432). Any other variable in the environment
# (APP_ENV, MULTICA_DEV_VERIFICATION_CODE, JWT_SECRET, ...) reaches the services unchanged.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${MULTICA_RUN_DIR:-$ROOT/.run}
BIN=${BIN:-$ROOT/build/bin}
export DEV_PG_DIR=${DEV_PG_DIR:-$RUN/pg}
export DEV_PG_PORT=${DEV_PG_PORT:-55432}
PARTITIONS=${DEV_BROKER_PARTITIONS:-6}

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

wait_healthy() {
    local name=$1 url=$2
    for _ in $(seq 1 120); do
        if curl -fsS "$url/healthz" >/dev/null 2>&1; then
            return 0
        fi
        if ! running "$RUN/pids/$name.pid"; then
            log "  $name exited; last lines of $RUN/logs/$name.log:"
            tail -n 20 "$RUN/logs/$name.log" >&2 || true
            return 1
        fi
        sleep 0.5
    done
    log "  $name is not healthy after 60 s: $(curl -sS "$url/healthz" 2>&1 || true)"
    return 1
}

start() {
    mkdir -p "$RUN/logs" "$RUN/pids"
    for b in "${SERVICES[@]}" dev-broker migrate; do
        if [ ! -x "$BIN/multica-$b" ]; then
            log "missing $BIN/multica-$b: run 'make build' first"
            exit 1
        fi
    done

    log "postgres: starting private cluster on 127.0.0.1:$DEV_PG_PORT"
    "$ROOT/tools/devpg.sh" start
    local admin_url
    admin_url=$("$ROOT/tools/devpg.sh" url)

    if ! running "$RUN/pids/dev-broker.pid"; then
        log "kafka: starting the dev broker ($PARTITIONS partitions per topic)"
        rm -f "$RUN/kafka.bootstrap"
        "$BIN/multica-dev-broker" --partitions "$PARTITIONS" --bootstrap-file "$RUN/kafka.bootstrap" \
            >>"$RUN/logs/dev-broker.log" 2>&1 &
        echo $! >"$RUN/pids/dev-broker.pid"
        for _ in $(seq 1 100); do
            [ -s "$RUN/kafka.bootstrap" ] && break
            sleep 0.1
        done
    fi
    if [ ! -s "$RUN/kafka.bootstrap" ]; then
        log "the dev broker did not start; see $RUN/logs/dev-broker.log"
        exit 1
    fi
    local brokers
    brokers=$(cat "$RUN/kafka.bootstrap")

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
    done
    for s in "${SERVICES[@]}"; do
        wait_healthy "$s" "http://127.0.0.1:${PORTS[$s]}"
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
    cat <<EOF

Multica-C is running.
  api-gateway       http://127.0.0.1:${PORTS[api-gateway]}   (/healthz, /metrics, /api/...)
  task-dispatcher   http://127.0.0.1:${PORTS[task-dispatcher]}
  usage-ingester    http://127.0.0.1:${PORTS[usage-ingester]}
  rollup-scheduler  http://127.0.0.1:${PORTS[rollup-scheduler]}
  postgres          $admin_url
  kafka             $brokers (dev broker, $PARTITIONS partitions per topic)
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
    stop_pidfile "$RUN/pids/dev-broker.pid" dev-broker
    "$ROOT/tools/devpg.sh" stop && log "  stopped postgres"
    rm -f "$RUN/env"
}

status() {
    for s in "${SERVICES[@]}" dev-broker; do
        if running "$RUN/pids/$s.pid"; then
            echo "$s: running (pid $(cat "$RUN/pids/$s.pid"))"
        else
            echo "$s: stopped"
        fi
    done
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
