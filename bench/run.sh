#!/usr/bin/env bash
# run.sh BUILD: the benchmarks behind `make bench` (which builds everything first; this script
# builds nothing). It starts its own Postgres (BUILD/bench-pg, a free port, fsync on) and its
# own Apache Kafka (tools/kafka, BUILD/bench-work/kafka, a free port), runs every benchmark
# BENCH_REPEAT times, prints one table (figure, ours, baseline,
# ratio, target, met?) and writes it as JSON to bench/results/latest.json. Every process it
# starts is stopped on exit, failure or interrupt. See docs/PERFORMANCE.md.
#
# BENCH_SCALE         events for the ingest figures (default 1000000; "small" = a quick run:
#                     50,000 events, rollup at 30k/100k/300k rows, reads at 50k/150k, 500 tasks)
# BENCH_REPEAT        repetitions of each measurement; the median is reported (default 3)
# BENCH_NAIVE_ROWS    messages the row-at-a-time consumer applies (default SCALE/50, >= 10000)
# BENCH_ROLLUP_SIZES  task_usage history sizes (default 1000000,3000000,10000000)
# BENCH_SCATTERED     repetitions of the rollup's worst case (default 1; its target is at the largest size)
# BENCH_SCATTERED_MAX_ROWS  history sizes above this skip the worst case (default 3000000;
#                     at 10M rows one costs about two minutes; 0 = every size)
# BENCH_PARTITIONS    partitions per topic (default 6, as in production; 3 ingesters need >= 3)
# BENCH_STAGES        which parts run (default footprint,ingest,rollup,http,flow; the table marks
#                     the rest)
# BENCH_IDLE_SECONDS  how long each service idles before its RSS is read (footprint; default 10)
# BENCH_KEEP_LOGS     1 keeps BUILD/bench-work (logs, the COPY file) after the run
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
BIN=$BUILD/bin
BBIN=$BUILD/bench
WORK=$BUILD/bench-work
RESULTS=$ROOT/bench/results

SCALE=${BENCH_SCALE:-1000000}
ROLLUP_SIZES=${BENCH_ROLLUP_SIZES:-1000000,3000000,10000000}
SMALL=0
if [ "$SCALE" = small ]; then
    SMALL=1
    SCALE=50000
    ROLLUP_SIZES=${BENCH_ROLLUP_SIZES:-30000,100000,300000}
fi
REPEAT=${BENCH_REPEAT:-3}
NAIVE_MIN=$([ "$SMALL" = 1 ] && echo 5000 || echo 10000)
NAIVE_ROWS=${BENCH_NAIVE_ROWS:-$((SCALE / 50 > NAIVE_MIN ? SCALE / 50 : NAIVE_MIN))}
if [ "$NAIVE_ROWS" -gt "$SCALE" ]; then NAIVE_ROWS=$SCALE; fi
PARTITIONS=${BENCH_PARTITIONS:-6}
STAGES=${BENCH_STAGES:-footprint,ingest,rollup,http,flow}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

for b in "$BIN/multica-usage-ingester" "$BIN/multica-migrate" \
    "$BIN/multica-api-gateway" "$BIN/multica-task-dispatcher" "$BIN/multica-rollup-scheduler" \
    "$BIN/multica-daemon-sim" \
    "$BBIN/multica-bench-produce" "$BBIN/multica-bench-ingest" "$BBIN/multica-bench-naive" \
    "$BBIN/multica-bench-rollup"; do
    if [ ! -x "$b" ]; then
        log "missing $b: run 'make bench' (it builds first)"
        exit 1
    fi
done
for t in jq psql curl; do
    command -v "$t" >/dev/null || {
        log "missing $t (make deps)"
        exit 1
    }
done

# The first of N consecutive ports nothing listens on (bash's /dev/tcp connect fails), below
# Linux's ephemeral range (32768-60999) so a client's outgoing connection cannot take one
# between the choice and the bind.
free_port() {
    local n=${1:-1} p i busy
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 12000))
        busy=0
        for i in $(seq 0 $((n - 1))); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$((p + i))") 2>/dev/null; then busy=1; fi
        done
        if [ "$busy" = 0 ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

export DEV_PG_DIR=$BUILD/bench-pg
DEV_PG_PORT=$(free_port)
export DEV_PG_PORT
# Durable settings (fsync and synchronous_commit on), as in production: the row-at-a-time
# baseline pays a WAL flush per row and the ingester one per batch, which is the point.
export DEV_PG_FAST=0
export KAFKA_DIR=$WORK/kafka KAFKA_LOG=$WORK/logs/kafka.log
KAFKA_PORT=$(free_port 2)
export KAFKA_PORT
BROKER_UP=
STACK_UP=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$STACK_UP" ]; then
        BIN=$BIN "$ROOT/tools/devstack.sh" stop >/dev/null 2>&1 || true
    fi
    if [ -n "$BROKER_UP" ]; then "$ROOT/tools/kafka" destroy >/dev/null 2>&1 || true; fi
    "$ROOT/tools/devpg.sh" destroy >/dev/null 2>&1 || true
    if [ "${BENCH_KEEP_LOGS:-0}" != 1 ]; then rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

START=$(date +%s)
rm -rf "$WORK"
mkdir -p "$WORK/logs" "$RESULTS"
chmod 755 "$WORK"

log "postgres: fresh cluster in $DEV_PG_DIR on port $DEV_PG_PORT (fsync on)"
"$ROOT/tools/devpg.sh" destroy >/dev/null 2>&1 || true
"$ROOT/tools/devpg.sh" start
PG_ADMIN=postgres://postgres:postgres@127.0.0.1:$DEV_PG_PORT
DATABASE_URL=$PG_ADMIN/multica "$BIN/multica-migrate" up >"$WORK/logs/migrate.log" 2>&1 || {
    log "migrations failed; see $WORK/logs/migrate.log"
    exit 1
}
PG_DATA=$(psql -X -tA "$PG_ADMIN/postgres" -c "SHOW data_directory")
PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")
PG_SETTINGS=$(psql -X -tA "$PG_ADMIN/postgres" -c "SELECT json_object_agg(name,
    current_setting(name)) FROM pg_settings WHERE name IN ('server_version', 'fsync',
    'synchronous_commit', 'full_page_writes', 'shared_buffers', 'work_mem', 'max_wal_size',
    'checkpoint_timeout', 'jit', 'wal_level', 'max_connections')")

log "kafka: Apache Kafka $("$ROOT/tools/kafka" version) on port $KAFKA_PORT, $PARTITIONS partitions per topic"
BROKER_UP=1
"$ROOT/tools/kafka" start
BROKERS=$("$ROOT/tools/kafka" url)
KAFKA_BROKERS=$BROKERS "$BIN/multica-migrate" topics --partitions "$PARTITIONS" \
    >"$WORK/logs/topics.log" 2>&1 || {
    log "creating the topics failed; see $WORK/logs/topics.log"
    exit 1
}

stage() { case ",$STAGES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
# First, while nothing else runs: each service alone, its time to ready and its idle memory.
: >"$WORK/footprint.jsonl"
if stage footprint; then
    log "footprint: each service alone, start -> /healthz ready, RSS after an idle period"
    BIN=$BIN KAFKA_BROKERS=$BROKERS BENCH_SMALL=$SMALL BENCH_REPEAT=$REPEAT \
        "$ROOT/bench/footprint.sh" >"$WORK/footprint.jsonl"
fi
: >"$WORK/ingest.jsonl"
: >"$WORK/rollup.jsonl"
echo '{}' >"$WORK/produce.json"
if stage ingest; then
log "produce: $SCALE usage events into multica.usage.events"
"$BBIN/multica-bench-produce" --brokers "$BROKERS" --events "$SCALE" \
    --copy-file "$WORK/rows.tsv" >"$WORK/produce.json"
log "  $(cat "$WORK/produce.json")"

# One ingest measurement on a fresh database cloned from the migrated template.
ingest() {
    local mode=$1 consumers=$2 rows=$3 rep=$4
    local db=bench_${mode}${consumers}_$rep
    psql -X -q "$PG_ADMIN/postgres" -c "CREATE DATABASE $db TEMPLATE multica"
    local line
    line=$("$BBIN/multica-bench-ingest" --mode "$mode" --consumers "$consumers" --rows "$rows" \
        --db "$PG_ADMIN/$db" \
        --consumer-db "postgres://multica_usage:multica_usage@127.0.0.1:$DEV_PG_PORT/$db" \
        --brokers "$BROKERS" --group "$db" --bin "$([ "$mode" = naive ] && echo "$BBIN" || echo "$BIN")" \
        --logs "$WORK/logs" --copy-file "$WORK/rows.tsv" --pg-pid "$PG_PID" --timeout 1200)
    psql -X -q "$PG_ADMIN/postgres" -c "DROP DATABASE $db"
    log "  $line"
    echo "$line" >>"$WORK/ingest.jsonl"
}

for rep in $(seq 1 "$REPEAT"); do
    log "ingest, repetition $rep of $REPEAT"
    ingest ours 1 "$SCALE" "$rep"
    ingest ours 3 "$SCALE" "$rep"
    ingest copy 1 "$SCALE" "$rep"
    ingest naive 1 "$NAIVE_ROWS" "$rep"
done
fi

if stage rollup; then
log "rollup: history sizes $ROLLUP_SIZES, 10000 fresh changes, $REPEAT repetitions"
psql -X -q "$PG_ADMIN/postgres" -c "CREATE DATABASE bench_rollup TEMPLATE multica"
"$BBIN/multica-bench-rollup" --db "$PG_ADMIN/bench_rollup" --sizes "$ROLLUP_SIZES" \
    --changes 10000 --repeat "$REPEAT" --scattered "${BENCH_SCATTERED:-1}" \
    --scattered-max-rows "${BENCH_SCATTERED_MAX_ROWS:-3000000}" | tee "$WORK/rollup.jsonl" >&2
psql -X -q "$PG_ADMIN/postgres" -c "DROP DATABASE bench_rollup"
fi

# One stack benchmark: bench/NAME.sh, JSON lines into WORK/NAME.jsonl (see each script's header).
stack_bench() {
    local name=$1
    if [ ! -x "$ROOT/bench/$name.sh" ]; then
        log "$name: bench/$name.sh is missing; its figures are reported as not measured"
        return 0
    fi
    log "$name: bench/$name.sh"
    (
        # shellcheck disable=SC1091
        . "$MULTICA_RUN_DIR/env"
        export ROOT BIN BBIN BENCH_SMALL=$SMALL BENCH_REPEAT=$REPEAT
        "$ROOT/bench/$name.sh"
    ) >"$WORK/$name.jsonl"
}

: >"$WORK/http.jsonl"
: >"$WORK/flow.jsonl"
if stage http || stage flow; then
# The HTTP, lag and dispatch figures need the whole product: the four services (as `make run`
# starts them) on this durable Postgres and this broker, under their own topic prefix so that
# the events of the ingest figures are not theirs.
export KAFKA_PREFIX=stack.
export MULTICA_RUN_DIR=$WORK/stack BENCH_TMP=$WORK/tmp
mkdir -p "$BENCH_TMP"
GATEWAY_PORT=$(free_port 4)
DISPATCHER_PORT=$((GATEWAY_PORT + 1)) INGESTER_PORT=$((GATEWAY_PORT + 2))
SCHEDULER_PORT=$((GATEWAY_PORT + 3))
export GATEWAY_PORT DISPATCHER_PORT INGESTER_PORT SCHEDULER_PORT
log "stack: the four services on port $GATEWAY_PORT.. (logs in $MULTICA_RUN_DIR/logs)"
STACK_UP=1
# The services' Kafka settings are the product's own (BENCH_KAFKA_CONFIG adds any).
export KAFKA_CONFIG=${BENCH_KAFKA_CONFIG:-}
BIN=$BIN APP_ENV=development MULTICA_DEV_VERIFICATION_CODE=888888 "$ROOT/tools/devstack.sh" start \
    >"$WORK/logs/stack.log" 2>&1 || {
    log "the stack did not start; see $WORK/logs/stack.log"
    tail -n 20 "$WORK/logs/stack.log" >&2
    exit 1
}
if stage http; then stack_bench http; fi
if stage flow; then stack_bench flow; fi
fi

END=$(date +%s)
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)

jq -n --slurpfile footprint "$WORK/footprint.jsonl" --slurpfile ingest "$WORK/ingest.jsonl" --slurpfile rollup "$WORK/rollup.jsonl" \
    --slurpfile http "$WORK/http.jsonl" --slurpfile flow "$WORK/flow.jsonl" \
    --slurpfile produce "$WORK/produce.json" --argjson pg "$PG_SETTINGS" \
    --arg started "$(date -u -d "@$START" +%Y-%m-%dT%H:%M:%SZ)" --argjson seconds $((END - START)) \
    --argjson scale "$SCALE" --argjson repeat "$REPEAT" --argjson naive_rows "$NAIVE_ROWS" \
    --argjson nproc "$(nproc)" --arg cpu "$CPU_MODEL" --arg mem "$MEM_GIB" \
    --arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    -f "$ROOT/bench/report.jq" >"$RESULTS/latest.json"

jq -r '["figure", "ours", "baseline", "ratio", "target", "met?"],
       (.rows[] | [.figure, .ours, .baseline, .ratio, .target, .met]) | @tsv' \
    "$RESULTS/latest.json" | column -t -s "$(printf '\t')"
echo
jq -r '"run: \(.run.started), \(.run.seconds) s, scale \(.run.scale) events, median of \(.run.repeat), commit \(.run.commit)"' \
    "$RESULTS/latest.json"
log "results in $RESULTS/latest.json"
if jq -e '[.raw.ingest[] | select(.ok != true)] | length > 0' "$RESULTS/latest.json" >/dev/null; then
    log "some ingest runs failed their checks (rows, lost offsets, DLQ): see raw.ingest"
    exit 1
fi
