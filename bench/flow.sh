#!/usr/bin/env bash
# flow.sh: the benchmarks of `make bench` that drive the whole running stack over HTTP and
# WebSocket, as Multica's daemon protocol does: end-to-end usage lag (bench/e2e.c) and task
# dispatch with simulated daemons (bench/dispatch.c, multica-daemon-sim).
# bench/run.sh calls it after starting the stack (tools/devstack.sh, development mode) and
# sourcing its env file. Measurements go to stdout as JSON lines, one per repetition;
# progress goes to stderr. Exits non-zero when a check fails (a report refused or never
# visible, a task not completed).
#
# Environment (set by run.sh):
#   GATEWAY_URL, DATABASE_URL (superuser, db multica)   from $MULTICA_RUN_DIR/env
#   BIN, BBIN            build/bin (multica-daemon-sim) and build/bench (the programs)
#   BENCH_SMALL          1: a quick run (e2e 5 s per repetition, 500 dispatched tasks)
#   BENCH_REPEAT         repetitions of the e2e measurement (default 3)
#   MULTICA_RUN_DIR      the stack's folder; the simulated daemons log to its logs/
#   MULTICA_DEV_VERIFICATION_CODE   the stack's login code (default 888888)
#   KAFKA_CONFIG         what the stack's services were started with (recorded, see below)
# Optional knobs: BENCH_E2E_RATE (200 reports/s), BENCH_E2E_SECONDS (20; small 2),
#   BENCH_E2E_TASKS (100), BENCH_DISPATCH_TASKS (10000; small 500),
#   BENCH_DISPATCH_REPEAT (1: 10,000 tasks take ~3 minutes on 2 cores, once fits the budget),
#   BENCH_DISPATCH_RUNTIMES (4), BENCH_DISPATCH_CAPACITY (16), BENCH_DISPATCH_WORK_MS (20),
#   BENCH_DISPATCH_PACED (5000; small 500) tasks offered at BENCH_DISPATCH_PACED_RATE (500/s).
#
# Output lines (every field a number unless noted):
#   {"bench":"e2e","rep":R,"offered_rps":..,"achieved_rps":..,"reports":..,"tasks":..,
#    "late_reports":..,"accepted_p50_ms":..,"accepted_p99_ms":..,"lag_p50_ms":..,
#    "lag_p99_ms":..,"lag_max_ms":..,"probe_period_ms":..,"batch_wait_ms":..,
#    "kafka_config":"...","ok":true}
#   {"bench":"dispatch","rep":R,"tasks":..,"runtimes":..,"capacity":..,"work_ms":..,
#    "chunks":..,"seconds":..,"tasks_per_s":..,"enqueue_per_s":..,"assign_p50_ms":..,
#    "ws_p50_ms":..,"ws_p99_ms":..,"dispatched_p50_ms":..,"dispatched_p99_ms":..,
#    "claimed_p50_ms":..,"claimed_p99_ms":..,"light_tasks":..,"light_rps":..,
#    "light_ws_p50_ms":..,"light_ws_p99_ms":..,"light_dispatched_p50_ms":..,
#    "light_dispatched_p99_ms":..,"light_claimed_p50_ms":..,"light_claimed_p99_ms":..,
#    "paced_tasks":..,"paced_offered_rps":..,"paced_rps":..,"paced_ws_p50_ms":..,"paced_ws_p99_ms":..,
#    "paced_claimed_p50_ms":..,"paced_claimed_p99_ms":..,"requeues":..,"ws_reconnects":..,"kafka_config":"...","ok":true}
# ok is false when that program's checks failed (the script then exits 1 at the end).
# batch_wait_ms is the ingester's INGEST_BATCH_WAIT as its log reports it (the lag's floor).
set -euo pipefail

: "${GATEWAY_URL:?source the stack env first}" "${DATABASE_URL:?source the stack env first}"
: "${BIN:?}" "${BBIN:?}" "${MULTICA_RUN_DIR:?}"
SMALL=${BENCH_SMALL:-0}
REPEAT=${BENCH_REPEAT:-3}
CODE=${MULTICA_DEV_VERIFICATION_CODE:-888888}
KCONF=${KAFKA_CONFIG:-}
LOGS=$MULTICA_RUN_DIR/logs

E2E_RATE=${BENCH_E2E_RATE:-200}
E2E_TASKS=${BENCH_E2E_TASKS:-100}
DISPATCH_REPEAT=${BENCH_DISPATCH_REPEAT:-1}
DISPATCH_RUNTIMES=${BENCH_DISPATCH_RUNTIMES:-4}
DISPATCH_CAPACITY=${BENCH_DISPATCH_CAPACITY:-16}
DISPATCH_WORK_MS=${BENCH_DISPATCH_WORK_MS:-20}
if [ "$SMALL" = 1 ]; then
    E2E_SECONDS=${BENCH_E2E_SECONDS:-2}
    DISPATCH_TASKS=${BENCH_DISPATCH_TASKS:-500}
    LIGHT=40
    PACED=${BENCH_DISPATCH_PACED:-500}
else
    E2E_SECONDS=${BENCH_E2E_SECONDS:-20}
    DISPATCH_TASKS=${BENCH_DISPATCH_TASKS:-10000}
    LIGHT=200
    PACED=${BENCH_DISPATCH_PACED:-5000}
fi
PACED_RATE=${BENCH_DISPATCH_PACED_RATE:-500}

log() { printf '[flow %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

for b in "$BBIN/multica-bench-e2e" "$BBIN/multica-bench-dispatch" "$BIN/multica-daemon-sim"; do
    if [ ! -x "$b" ]; then
        log "missing $b: run 'make bench' (it builds first)"
        exit 1
    fi
done
command -v jq >/dev/null || {
    log "missing jq (make deps)"
    exit 1
}

# The ingester's batch wait, as it logged it at start (the floor of the lag).
BATCH_WAIT=$(grep -o '"batch_wait_ms":[0-9]*' "$LOGS/usage-ingester.log" 2>/dev/null |
    tail -n 1 | cut -d: -f2 || true)
BATCH_WAIT=${BATCH_WAIT:-null}

# Runs one measurement; prints its line with the run's settings and ok (false when the
# program's checks failed); remembers the failure for the exit status.
FAILED=0
measure() {
    local line ok=true
    line=$("$@") || ok=false
    if [ "$ok" = false ]; then FAILED=1; fi
    if [ -z "$line" ]; then
        log "  $1 printed nothing (exit status says it failed)"
        return
    fi
    line=$(jq -c --argjson bw "$BATCH_WAIT" --arg kc "$KCONF" --argjson ok "$ok" \
        '. + (if .bench == "e2e" then {batch_wait_ms: $bw} else {} end)
           + {kafka_config: $kc, ok: $ok}' <<<"$line")
    log "  $line"
    echo "$line"
}

START=$(date +%s)
for rep in $(seq 1 "$REPEAT"); do
    log "e2e lag, repetition $rep of $REPEAT: $E2E_RATE reports/s for $E2E_SECONDS s over $E2E_TASKS tasks"
    measure "$BBIN/multica-bench-e2e" --gateway "$GATEWAY_URL" --db "$DATABASE_URL" \
        --code "$CODE" --rate "$E2E_RATE" --seconds "$E2E_SECONDS" --tasks "$E2E_TASKS" \
        --rep "$rep"
done

# CPU seconds (user + system, children reaped included) of each service, Postgres (the
# postmaster, its live backends and the ones that ended) and the broker, one "name seconds"
# line each: the profile's steadiest figure on a shared machine.
cpu_seconds() {
    local f pid pg p
    for f in "$MULTICA_RUN_DIR"/pids/*; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        echo "$(basename "$f" .pid) $(awk '{print ($14 + $15) / 100}' "/proc/$pid/stat" 2>/dev/null)"
    done
    if [ -n "${DEV_PG_DIR:-}" ] && [ -r "$DEV_PG_DIR/data/postmaster.pid" ]; then
        pg=$(head -n 1 "$DEV_PG_DIR/data/postmaster.pid")
        # Fields 14-17: utime, stime and the reaped children's cutime, cstime.
        echo "postgres $(for p in "$pg" $(pgrep -P "$pg"); do cat "/proc/$p/stat" 2>/dev/null; done |
            awk '{s += $14 + $15 + $16 + $17} END {print s / 100}')"
    fi
    if [ -n "${KAFKA_DIR:-}" ] && [ -r "$KAFKA_DIR/kafka.pid" ]; then
        echo "kafka $(awk '{print ($14 + $15) / 100}' "/proc/$(cat "$KAFKA_DIR/kafka.pid")/stat" \
            2>/dev/null)"
    fi
}

# Transactions committed and WAL flushes (fsyncs) so far, the whole cluster.
db_counts() {
    psql -X -A -t -F ' ' "$DATABASE_URL" \
        -c "SELECT 'commits', sum(xact_commit) FROM pg_stat_database" \
        -c "SELECT 'wal_syncs', wal_sync FROM pg_stat_wal" 2>/dev/null || true
}

if [ -n "${BENCH_PROFILE_DIR:-}" ]; then # the profile below covers the dispatch figure only
    mkdir -p "$BENCH_PROFILE_DIR"
    cpu_seconds >"$BENCH_PROFILE_DIR/cpu-before.txt"
    db_counts >"$BENCH_PROFILE_DIR/db-before.txt"
    # track = all: the statements inside the SQL functions too (dispatch_round's parts).
    psql -X -q "$DATABASE_URL" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
        -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" -c "SELECT pg_reload_conf()" \
        -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
fi
for rep in $(seq 1 "$DISPATCH_REPEAT"); do
    log "dispatch, repetition $rep of $DISPATCH_REPEAT: $LIGHT tasks at 20/s, $PACED at $PACED_RATE/s, then $DISPATCH_TASKS at once, $DISPATCH_RUNTIMES daemons of capacity $DISPATCH_CAPACITY"
    measure "$BBIN/multica-bench-dispatch" --gateway "$GATEWAY_URL" --db "$DATABASE_URL" \
        --code "$CODE" --sim "$BIN/multica-daemon-sim" --logs "$LOGS" \
        --tasks "$DISPATCH_TASKS" --light "$LIGHT" --light-rate 20 \
        --runtimes "$DISPATCH_RUNTIMES" --capacity "$DISPATCH_CAPACITY" \
        --work-ms "$DISPATCH_WORK_MS" --chunks 1 --paced "$PACED" --paced-rate "$PACED_RATE" \
        --rep "$rep" --timeout 300
done
# BENCH_PROFILE_DIR: where to write what the run cost, for profiling (Postgres started with
# DEV_PG_PRELOAD=pg_stat_statements: its top statements; every service's CPU seconds).
if [ -n "${BENCH_PROFILE_DIR:-}" ]; then
    mkdir -p "$BENCH_PROFILE_DIR"
    psql -X -q "$DATABASE_URL" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
        -c "SELECT calls, round(total_exec_time::numeric, 0) AS ms,
                   round((total_exec_time / nullif(calls, 0))::numeric, 3) AS ms_per_call, rows,
                   left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS query
              FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 60" \
        >"$BENCH_PROFILE_DIR/pgss.txt" 2>&1 || true
    # pgss-roles.txt: every statement with its role and level (top-level calls are what each
    # service sends; the others run inside its functions), for splitting the cost by service.
    psql -X -q "$DATABASE_URL" \
        -c "SELECT r.rolname, s.toplevel, s.calls, round(s.total_exec_time::numeric, 0) AS ms,
                   round((s.total_exec_time / nullif(s.calls, 0))::numeric, 3) AS ms_per_call, s.rows,
                   s.wal_records, round(s.total_plan_time::numeric, 0) AS plan_ms, left(regexp_replace(s.query, '\s+', ' ', 'g'), 220) AS query
              FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
             ORDER BY s.toplevel DESC, s.total_exec_time + s.total_plan_time DESC LIMIT 400" \
        -c "SELECT r.rolname, s.toplevel, sum(s.calls) AS calls,
                   round(sum(s.total_exec_time)::numeric, 0) AS ms,
                   round(sum(s.total_plan_time)::numeric, 0) AS plan_ms, sum(s.wal_records) AS wal
              FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
             GROUP BY 1, 2 ORDER BY 1, 2" \
        -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, n_dead_tup,
                   autovacuum_count, autoanalyze_count
              FROM pg_stat_all_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 1000
             ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC" \
        >"$BENCH_PROFILE_DIR/pgss-roles.txt" 2>&1 || true
    # cpu.txt: per process, CPU seconds of the whole flow stage and of the dispatch figure.
    cpu_seconds >"$BENCH_PROFILE_DIR/cpu-after.txt"
    db_counts >"$BENCH_PROFILE_DIR/db-after.txt"
    # db.txt: the dispatch figure's commits and WAL flushes (group commits show here).
    paste "$BENCH_PROFILE_DIR/db-before.txt" "$BENCH_PROFILE_DIR/db-after.txt" |
        awk '{printf "%-12s %10d\n", $1, $4 - $2}' >"$BENCH_PROFILE_DIR/db.txt"
    awk 'NR == FNR {before[$1] = $2; next}
         {d = $2 - before[$1]; all += $2; disp += d
          printf "%-16s %8.1f s  dispatch %8.1f s\n", $1, $2, d}
         END {printf "%-16s %8.1f s  dispatch %8.1f s\n", "total", all, disp}' \
        "$BENCH_PROFILE_DIR/cpu-before.txt" "$BENCH_PROFILE_DIR/cpu-after.txt" \
        >"$BENCH_PROFILE_DIR/cpu.txt"
fi
log "done in $(($(date +%s) - START)) s"
if [ "$FAILED" != 0 ]; then
    log "some measurements failed their checks (ok: false above)"
    exit 1
fi
