#!/usr/bin/env bash
# footprint.sh: the footprint figures of `make bench`: for each of the four services, how long
# it takes from its start to a ready /healthz (200: database reachable, migrations current,
# broker checks passing) with Postgres and Kafka already up, and its resident memory (VmRSS
# of /proc/PID/status) after it has idled. bench/run.sh calls it once Postgres and Kafka run.
# Each service runs alone, on a free port, as `make run` starts it (its own database role,
# the product's settings), under the topic prefix "footprint." so that no benchmark's events
# reach it; it is stopped with SIGTERM after the reading.
#
# Environment (set by bench/run.sh): BIN, DEV_PG_PORT, KAFKA_BROKERS, BENCH_SMALL,
# BENCH_REPEAT (default 3). Optional: BENCH_IDLE_SECONDS (idle time before the reading,
# default 10; small 3).
#
# stdout: one JSON line per service and repetition:
#   {"bench":"footprint","service":"api-gateway","rep":R,"ready_ms":MS,"rss_kb":KB,
#    "hwm_kb":KB,"threads":N}
# (hwm_kb: VmHWM, the most it held at once, start-up included)
set -euo pipefail

: "${BIN:?}" "${DEV_PG_PORT:?}" "${KAFKA_BROKERS:?}"
REPEAT=${BENCH_REPEAT:-3}
IDLE=${BENCH_IDLE_SECONDS:-$([ "${BENCH_SMALL:-0}" = 1 ] && echo 3 || echo 10)}
TMP=$(mktemp -d)
PID=

log() { printf '[footprint %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

declare -A ROLES=(
    [api-gateway]=multica_gateway
    [task-dispatcher]=multica_dispatch
    [usage-ingester]=multica_usage
    [rollup-scheduler]=multica_scheduler
)
export KAFKA_PREFIX=footprint.
"$BIN/multica-migrate" topics >"$TMP/topics.log" 2>&1 || {
    log "creating the footprint. topics failed: $(tail -n 5 "$TMP/topics.log")"
    exit 1
}

# A port nothing listens on (bash's /dev/tcp connect fails), below the ephemeral range.
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

now_ms() { date +%s%3N; }

# status_kb PID FIELD: a VmXXX figure of /proc/PID/status in kB.
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

for rep in $(seq 1 "$REPEAT"); do
    for s in api-gateway task-dispatcher usage-ingester rollup-scheduler; do
        role=${ROLES[$s]}
        port=$(free_port)
        t0=$(now_ms)
        DATABASE_URL="postgres://$role:$role@127.0.0.1:$DEV_PG_PORT/multica" \
            KAFKA_BROKERS=$KAFKA_BROKERS HTTP_PORT=$port HTTP_BIND=127.0.0.1 APP_ENV=development \
            JWT_SECRET=footprint-bench-secret-0123456789abcdef0123 \
            "$BIN/multica-$s" >"$TMP/$s.log" 2>&1 &
        PID=$!
        ready=
        # Polled every 10 ms for 30 s; the figure is the first 200.
        for _ in $(seq 1 3000); do
            if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
                ready=$(($(now_ms) - t0))
                break
            fi
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.01
        done
        if [ -z "$ready" ]; then
            log "$s was not ready within 30 s: $(tail -n 5 "$TMP/$s.log")"
            exit 1
        fi
        sleep "$IDLE"
        rss=$(status_kb "$PID" VmRSS)
        hwm=$(status_kb "$PID" VmHWM)
        threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$PID/status")
        kill "$PID"
        wait "$PID" || {
            log "$s did not exit cleanly on SIGTERM: $(tail -n 5 "$TMP/$s.log")"
            exit 1
        }
        PID=
        log "$s: ready in $ready ms, $((rss / 1024)) MiB resident after $IDLE s idle"
        printf '{"bench":"footprint","service":"%s","rep":%d,"ready_ms":%d,"rss_kb":%d,"hwm_kb":%d,"threads":%d}\n' \
            "$s" "$rep" "$ready" "$rss" "$hwm" "$threads"
    done
done
