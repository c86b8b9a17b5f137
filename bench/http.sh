#!/usr/bin/env bash
# http.sh: the HTTP figures of `make bench`, measured with wrk against a running local stack.
# bench/run.sh calls it after starting the stack (tools/devstack.sh) and sourcing its env file.
#
#   read     GET /api/runtimes/{id}/usage?days=30 (the rollup) against the same read
#            with &source=raw (task_usage itself), at two history sizes grown in one database
#   read_busy the same rollup read of the same runtime with rows past the rollup's watermark
#            (BENCH_HTTP_BUSY_ROWS rows of its agent over the last BENCH_HTTP_BUSY_HOURS hours,
#            updated now: a runtime reporting all the time), at each size
#   fresh    from the gateway's 202 for a usage report to the dashboard's daily read showing
#            it (sequential reports of one task, each polled), at the last history size
#   gateway  GET /api/workspaces/{id} (JWT, membership check, one row) against
#            multica-bench-hello, a bare libmicrohttpd server answering 200 "ok"
#
# Data: a user logged in through the API (dev verification code 888888), a workspace, 10
# runtimes registered through the daemon API, 2 agents each. task_usage history is generated
# in SQL (generate_series; two rows per task, attributed to one of the 20 agents, with the
# runtime_id the ingester writes) over the last 90 days, so the measured runtime's 30-day
# window holds about 1/30 of the table; the hourly buckets are added with the rollup's own
# sums. The first size is seeded, measured, then grown to the second in the same database.
#
# Environment (set by bench/run.sh): ROOT, BBIN (bench programs), BENCH_SMALL (1 = quick run),
# BENCH_REPEAT (default 3), BENCH_TMP (scratch dir), DATABASE_URL (superuser, db multica),
# GATEWAY_URL. Optional: BENCH_HTTP_SIZES (task_usage rows, default 1000000,10000000; small
# 50000,150000), BENCH_HTTP_SECONDS (wrk duration per side, default 5; small 1),
# BENCH_HTTP_MAX_SECONDS (longest read duration, default 20; small 2: see below),
# BENCH_HTTP_KEEP_DATA=1 keeps the seeded usage (by default it is removed at the end),
# BENCH_FRESH_SAMPLES (reports timed for the fresh figure, default 30; small 5),
# BENCH_HTTP_BUSY_ROWS (rows past the watermark for read_busy, default 300; small 30),
# BENCH_HTTP_BUSY_HOURS (the hours they are spread over, default 3), BENCH_HTTP_EXPLAIN=1
# (the busy read's SQL with its plans and buffers on stderr, auto_explain), BENCH_PROFILE_DIR
# (with DEV_PG_PRELOAD=pg_stat_statements: what each read measurement ran, below),
# BENCH_HTTP_TAIL=1 (where the quiet read's tail comes from: read_tail lines, tail_probe below;
# every wrk side then also carries "tail": p90, p99.9 and the reads over 2.5, 5 and 10 ms),
# BENCH_HTTP_TAIL_PERF=1 (with it: one more quiet read with the whole machine under perf).
#
# wrk: reads with 1 thread and 1 connection, gateway with 2 threads and 8 connections; both
# sides of a ratio with the same threads, connections and duration. wrk counts only requests
# that complete within its duration, so a read size whose raw read takes long runs both sides
# for 3 x one warm raw read (between BENCH_HTTP_SECONDS and BENCH_HTTP_MAX_SECONDS).
#
# stdout: one JSON line per measurement (every repetition its own line); progress on stderr.
#   {"bench":"read_setup","rows":N,"seed_s":S,"hourly_s":S,"buckets":B,"window_rows":W,
#    "window_buckets":WB,"raw_once_s":S,"raw_warm_s":S,"check":"ok"}
#   {"bench":"read","rows":N,"rep":R,"endpoint":"GET /api/runtimes/{id}/usage?days=30",
#    "window_rows":W,"window_buckets":WB,"wrk":{"threads":1,"connections":1,"seconds":D},
#    "rollup":SIDE,"raw":SIDE}
#   {"bench":"read_busy","rows":N,"rep":R,"endpoint":"GET /api/runtimes/{id}/usage?days=30",
#    "busy_rows":B,"fresh_hours_before":H,"fresh_hours_after":H,"deltas_after":D,
#    "wrk":{"threads":1,"connections":1,"seconds":D},"rollup":SIDE}
#   {"bench":"fresh","rows":N,"endpoint":"GET /api/dashboard/usage/daily?days=1","samples":S,
#    "p50_ms":..,"p99_ms":..,"max_ms":..,"min_ms":..}
#   {"bench":"gateway","rep":R,"endpoint":"GET /api/workspaces/{id}",
#    "wrk":{"threads":2,"connections":8,"seconds":D},"ours":SIDE,"hello":SIDE}
# where SIDE = {"rps":..,"p50_ms":..,"p99_ms":..,"mean_ms":..,"max_ms":..,"requests":..,
#               "non2xx":..,"socket_errors":..}
# rows: task_usage rows in the table; buckets: hourly rows of the workspace; window_rows:
# task_usage rows the raw read aggregates (the runtime's 30 days); window_buckets: hourly rows
# the rollup read aggregates; raw_once_s, raw_warm_s: one raw read alone, the first after
# seeding (the correctness check's) and the next;
# seed_s, hourly_s: time to add the layer to task_usage (indexes, vacuum) and to the hourly
# table. non2xx is wrk's status error count (responses with status >= 400; none of these
# paths redirects).
#
# Exits non-zero when a check fails: the rollup and raw answers differ (every row: day,
# provider, model, token sums, task count), or a wrk run completed no request or saw a status
# error or a timeout.
set -euo pipefail

: "${ROOT:?}" "${BBIN:?}" "${DATABASE_URL:?}" "${GATEWAY_URL:?}"
REPEAT=${BENCH_REPEAT:-3}
SMALL=${BENCH_SMALL:-0}
TMP=${BENCH_TMP:-$(mktemp -d)}
if [ "$SMALL" = 1 ]; then
    SIZES=${BENCH_HTTP_SIZES:-50000,150000}
    SECONDS_PER_SIDE=${BENCH_HTTP_SECONDS:-1}
    READ_MAX_SECONDS=${BENCH_HTTP_MAX_SECONDS:-2}
else
    SIZES=${BENCH_HTTP_SIZES:-1000000,10000000}
    SECONDS_PER_SIDE=${BENCH_HTTP_SECONDS:-5}
    READ_MAX_SECONDS=${BENCH_HTTP_MAX_SECONDS:-20}
fi
FRESH_SAMPLES=${BENCH_FRESH_SAMPLES:-$([ "$SMALL" = 1 ] && echo 5 || echo 30)}
BUSY_ROWS=${BENCH_HTTP_BUSY_ROWS:-$([ "$SMALL" = 1 ] && echo 30 || echo 300)}
BUSY_HOURS=${BENCH_HTTP_BUSY_HOURS:-3}
# Reads: one connection, so a request never waits behind another and the percentiles are the
# read's own cost (a raw read uses both cores through parallel workers). Gateway: enough connections to saturate both servers.
READ_THREADS=1
READ_CONNS=1
GW_THREADS=2
GW_CONNS=8
# Seeded task ids all start with this, so they are told apart from anything else in the stack.
TASK_PREFIX=b0b0b0b0-0000-7000-8000-
RUNTIMES=10
AGENTS_PER_RUNTIME=2
DAYS=30
HISTORY_DAYS=90

log() { printf '[http %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
    log "FAILED: $*"
    exit 1
}

for t in wrk jq psql curl; do
    command -v "$t" >/dev/null || fail "missing $t"
done
[ -x "$BBIN/multica-bench-hello" ] || fail "missing $BBIN/multica-bench-hello"
mkdir -p "$TMP"

HELLO_PID=
STOPPED_PIDS=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # shellcheck disable=SC2086
    if [ -n "$STOPPED_PIDS" ]; then kill -CONT $STOPPED_PIDS 2>/dev/null || true; fi
    if [ -n "$HELLO_PID" ] && kill -0 "$HELLO_PID" 2>/dev/null; then
        kill -TERM "$HELLO_PID" 2>/dev/null || true
        wait "$HELLO_PID" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_hello LOG [ARGS...]: multica-bench-hello (ARGS added) on a free port below Linux's
# ephemeral range (32768-60999, where the stack's broker listens), answering before it
# returns; sets HELLO_PORT and HELLO_PID. stop_hello ends it.
start_hello() {
    local log=$1 p
    shift
    HELLO_PORT=
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            HELLO_PORT=$p
            break
        fi
    done
    [ -n "$HELLO_PORT" ] || fail "no free port for the hello world"
    "$BBIN/multica-bench-hello" --port "$HELLO_PORT" --bind 127.0.0.1 "$@" 2>"$log" &
    HELLO_PID=$!
    for _ in $(seq 1 50); do
        curl -fsS "http://127.0.0.1:$HELLO_PORT/" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$HELLO_PORT/" >/dev/null ||
        fail "the hello world did not start: $(cat "$log")"
}
stop_hello() {
    kill -TERM "$HELLO_PID" 2>/dev/null || true
    wait "$HELLO_PID" 2>/dev/null || true
    HELLO_PID=
}

# A result line: stdout for bench/run.sh, and stderr so the progress shows it too.
emit() {
    printf '%s\n' "$1"
    printf '%s\n' "$1" >&2
}

sql() { psql -X -q -v ON_ERROR_STOP=1 -tA "$DATABASE_URL" "$@"; }

# api METHOD PATH [BODY]: one request with the session token; prints the body, fails on >= 400.
api() {
    local out status
    local auth=()
    if [ -n "${TOKEN:-}" ]; then auth=(-H "Authorization: Bearer $TOKEN"); fi
    out=$(curl -sS -X "$1" "$GATEWAY_URL$2" "${auth[@]}" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} -w '\n%{http_code}')
    status=${out##*$'\n'}
    out=${out%$'\n'*}
    [ "$status" -lt 400 ] || fail "$1 $2 answered $status: $out"
    printf '%s' "$out"
}

# BENCH_HTTP_TAIL=1: where the quiet read's tail comes from, once per size after its
# repetitions (read_tail lines; per-thread CPU in $BENCH_TMP/tail-*.txt):
#   idle    nothing asked of the stack for SECONDS_PER_SIDE s: the CPU each process and
#           thread of the machine used (the services' idle work, the broker's, Postgres's)
#   read    the quiet read as measured above, with the same CPU accounting, the gateway's own
#           latency histogram for the route (the handler, its Postgres statement included)
#           and the Postgres statements slower than 2 ms (log_min_duration_statement)
#   hello   the same wrk (1 thread, 1 connection) against multica-bench-hello, stack running:
#           answering "ok", then answering the read's own text (--body)
#   alone   the quiet read with the dispatcher, the ingester and the scheduler stopped
#           (SIGSTOP; SIGCONT after): the gateway, Postgres and the broker only
# cpu_snap: "pid|tid|thread|process ticks" for every user thread on the machine, and
# "pid|all|-|process ticks" for each process (its exited threads included).
cpu_snap() {
    local p t line rest comm name f
    for p in /proc/[0-9]*; do
        name=$({ tr '\0' ' ' <"$p/cmdline" | cut -c1-60; } 2>/dev/null) || continue
        [ -n "$name" ] || continue
        for t in "$p" "$p"/task/[0-9]*; do
            read -r line <"$t/stat" 2>/dev/null || continue
            rest=${line##*) }
            comm=${line#*(}
            comm=${comm%)*}
            # shellcheck disable=SC2086
            set -- $rest
            f=$((${12} + ${13}))
            if [ "$f" -gt 0 ]; then
                if [ "$t" = "$p" ]; then
                    printf '%s|all|-|%s %s\n' "${p#/proc/}" "$name" "$f"
                else
                    printf '%s|%s|%s|%s %s\n' "${p#/proc/}" "${t##*/}" "$comm" "$name" "$f"
                fi
            fi
        done
    done
    return 0
}
# cpu_diff BEFORE AFTER SECONDS OUT: per thread and per process, the CPU ms used in between
# (only >= 10 ms, one clock tick); prints the per-process lines' total ms.
cpu_diff() {
    awk -v secs="$3" -v tick="$(getconf CLK_TCK)" '
        function key(l,   f) { split(l, f, "|"); return f[1] "|" f[2] "|" f[3] }
        NR == FNR { b[key($0)] = $NF; next }
        # Keyed by pid, tid and thread name: a process title changes with its state (a
        # Postgres backend: idle, SELECT). A thread not in the first snapshot is not counted.
        (key($0) in b) { k = $0; sub(/ [0-9]+$/, "", k); d = $NF - b[key($0)]
          if (d > 0) { split(k, f, "|"); if (f[2] == "all") pr[f[1] "|" f[4]] = d; else th[k] = d } }
        END {
          for (k in pr) { printf "process %8.0f ms  %s\n", pr[k] * 1000 / tick, k; tot += pr[k] }
          for (k in th) printf "thread  %8.0f ms  %s\n", th[k] * 1000 / tick, k
          printf "total   %8.0f ms over %s s\n", tot * 1000 / tick, secs
        }' "$1" "$2" | sort -k1,1 -k2,2nr >"$4"
    awk '$1 == "total" {print $2}' "$4"
}
gw_hist() {
    curl -fsS "$GATEWAY_URL/metrics" |
        awk '/_bucket/ && /GET/ && /\/api\/runtimes\/:runtime_id\/usage"/ && /status="200"/ {
               match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); print le, $NF }'
}
# children_cpu VAR: the CPU seconds of this shell's finished children (wrk and its jq, around
# one measure) into VAR (`times` in this shell, not in a command substitution's).
children_cpu() {
    times >"$TMP/times"
    printf -v "$1" '%s' "$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
                                          print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$TMP/times")"
}
tail_probe() {
    local rows=$1 secs=$2 out="$TMP/tail-$1" pids s pglog pgpos
    mkdir -p "$out"
    log "tail at $rows rows: idle ${SECONDS_PER_SIDE} s, then the read, hello, the read alone ($secs s each)"
    cpu_snap >"$out/idle.0"
    sleep "$SECONDS_PER_SIDE"
    cpu_snap >"$out/idle.1"
    idle_ms=$(cpu_diff "$out/idle.0" "$out/idle.1" "$SECONDS_PER_SIDE" "$out/idle.txt")
    # Postgres's slow statements: its log from here on.
    pglog="$(sql -c "SHOW data_directory")/../postgres.log"
    pgpos=$(stat -c %s "$pglog" 2>/dev/null || echo 0)
    sql -c "ALTER SYSTEM SET log_min_duration_statement = '2ms'" -c "SELECT pg_reload_conf()" >/dev/null
    gw_hist >"$out/hist.0"
    cpu_snap >"$out/read.0"
    local wrk_cpu0='' wrk_cpu1=''
    children_cpu wrk_cpu0
    read_side=$(measure "$GATEWAY_URL$READ_PATH" "$READ_THREADS" "$READ_CONNS" "$secs")
    children_cpu wrk_cpu1
    cpu_snap >"$out/read.1"
    gw_hist >"$out/hist.1"
    sql -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null
    read_ms=$(cpu_diff "$out/read.0" "$out/read.1" "$secs" "$out/read.txt")
    tail -c +"$((pgpos + 1))" "$pglog" 2>/dev/null | grep 'duration:' >"$out/pg-slow.txt" || true
    hist=$(join "$out/hist.0" "$out/hist.1" | awk '{printf "%s\"%s\":%d", (NR > 1 ? "," : "{"), $1, $3 - $2} END {print (NR ? "}" : "{}")}')
    # The floor: the bare server, the same wrk.
    start_hello "$TMP/hello-tail.log"
    hello_side=$(measure "http://127.0.0.1:$HELLO_PORT/" "$READ_THREADS" "$READ_CONNS" "$secs")
    stop_hello
    # The same, answering the read's own text (its bytes through the same engine).
    start_hello "$TMP/hello-tail.log" --body "$TMP/rollup.json"
    body_side=$(measure "http://127.0.0.1:$HELLO_PORT/" "$READ_THREADS" "$READ_CONNS" "$secs")
    stop_hello
    # The read with the other three services stopped.
    pids=
    for s in task-dispatcher usage-ingester rollup-scheduler; do
        pids="$pids $(cat "$MULTICA_RUN_DIR/pids/$s.pid")"
    done
    STOPPED_PIDS=$pids
    # shellcheck disable=SC2086
    kill -STOP $pids
    cpu_snap >"$out/alone.0"
    alone_side=$(measure "$GATEWAY_URL$READ_PATH" "$READ_THREADS" "$READ_CONNS" "$secs")
    cpu_snap >"$out/alone.1"
    # shellcheck disable=SC2086
    kill -CONT $pids
    STOPPED_PIDS=
    alone_ms=$(cpu_diff "$out/alone.0" "$out/alone.1" "$secs" "$out/alone.txt")
    # BENCH_HTTP_TAIL_PERF=1: the read once more under perf, the whole machine sampled (the
    # read's figures of this run are not reported: perf's own cost is in them).
    if [ "${BENCH_HTTP_TAIL_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
        perf record -a -g -F 1999 -o "$out/perf.data" -- sleep "$secs" 2>"$out/perf.log" &
        local perf_pid=$!
        measure "$GATEWAY_URL$READ_PATH" "$READ_THREADS" "$READ_CONNS" "$secs" >"$out/perf-read.json"
        wait "$perf_pid" || true
        perf report -i "$out/perf.data" --no-children --stdio --sort comm,dso \
            >"$out/perf-comm.txt" 2>/dev/null || true
        perf report -i "$out/perf.data" --no-children --stdio -g none --sort comm,dso,sym \
            --percent-limit 0.3 >"$out/perf-sym.txt" 2>/dev/null || true
    fi
    emit "$(jq -cn --argjson rows "$rows" --argjson d "$secs" --argjson read "$read_side" \
        --argjson hello "$hello_side" --argjson alone "$alone_side" --argjson hist "$hist" \
        --argjson body "$body_side" --argjson wrk_cpu "$(awk -v a="$wrk_cpu0" -v b="$wrk_cpu1" 'BEGIN { print b - a }')" \
        --argjson bytes "$(wc -c <"$TMP/rollup.json")" \
        --argjson idle "$idle_ms" --argjson rms "$read_ms" --argjson ams "$alone_ms" \
        --argjson slow "$(wc -l <"$out/pg-slow.txt")" --arg dir "$out" \
        --argjson idles "$SECONDS_PER_SIDE" \
        '{bench: "read_tail", rows: $rows, seconds: $d, dir: $dir,
          idle_cpu_ms: $idle, idle_seconds: $idles, read_cpu_ms: $rms, alone_cpu_ms: $ams,
          wrk_cpu_s: $wrk_cpu, pg_statements_over_2ms: $slow, gateway_hist_delta: $hist,
          answer_bytes: $bytes, read: $read, hello: $hello, hello_answer: $body, alone: $alone}')"
}

# ---- a real workspace: a logged-in user, runtimes registered by the daemon API, agents ----
EMAIL="bench-http-$$@example.com"
log "log in as $EMAIL, create a workspace, $RUNTIMES runtimes, $((RUNTIMES * AGENTS_PER_RUNTIME)) agents"
api POST /api/auth/send-code "{\"email\":\"$EMAIL\"}" >/dev/null
TOKEN=$(api POST /api/auth/verify-code "{\"email\":\"$EMAIL\",\"code\":\"888888\"}" | jq -r .token)
WS=$(api POST /api/workspaces '{"name":"Bench usage reads"}' | jq -r .id)
PAT=$(api POST /api/tokens '{"name":"bench daemon"}' | jq -r .token)
RUNTIME_IDS=()
AGENT_IDS=()
for r in $(seq 1 "$RUNTIMES"); do
    # As Multica's daemon registers a runtime: its personal access token, a daemon id.
    rt=$(TOKEN=$PAT api POST /api/daemon/register \
        "{\"workspace_id\":\"$WS\",\"daemon_id\":\"bench-daemon-$r\",\"runtimes\":[{\"name\":\"bench-runtime-$r\",\"type\":\"claude\"}]}" |
        jq -r '.runtimes[0].id')
    RUNTIME_IDS+=("$rt")
    for a in $(seq 1 "$AGENTS_PER_RUNTIME"); do
        AGENT_IDS+=("$(api POST "/api/agents?workspace_id=$WS" \
            "{\"name\":\"bench-agent-$r-$a\",\"runtime_id\":\"$rt\"}" | jq -r .id)")
    done
done
RT=${RUNTIME_IDS[0]}
# Agent k (0-based) runs on runtime k / AGENTS_PER_RUNTIME: the arrays line up by index.
AGENT_RUNTIMES=()
for k in "${!AGENT_IDS[@]}"; do
    AGENT_RUNTIMES+=("${RUNTIME_IDS[$((k / AGENTS_PER_RUNTIME))]}")
done
pg_array() { local IFS=,; printf '{%s}' "$*"; }
AGENTS_ARR=$(pg_array "${AGENT_IDS[@]}")
AGENT_RT_ARR=$(pg_array "${AGENT_RUNTIMES[@]}")
log "workspace $WS, measured runtime $RT"

# The rollup scheduler runs in the stack: its watermark moves to now, and every seeded row is
# updated before that, so no tick recomputes seeded history while we measure.
sql -c "SELECT usage.stamp_rollup_watermark(now())" >/dev/null
END_TS=$(sql -c "SELECT now() - interval '1 hour'")

# seed FROM TO: adds tasks [FROM, TO) with two usage rows each (two of six provider/model
# pairs), attributed to one of the workspace's agents (and that agent's runtime), created_at
# spread over the last HISTORY_DAYS days by a golden-ratio sequence (each layer interleaves
# with the previous ones), updated 10 minutes after creation. Token counts are hashes of the
# task number, so the layer is a pure function of it (the view bench_layer): task_usage gets
# its rows, and task_usage_hourly its sums per (agent, provider, model, UTC hour of created_at)
# from a second pass over the same view. That is what the rollup computes (the correctness
# check compares it with task_usage itself) without joining and sorting 10M rows by uuid,
# which took 90 s where the second pass takes a few. Buckets are written in time order, as
# the scheduled rollup writes them (hour after hour): a runtime's 30 days then sit on a few
# hundred pages of task_usage_hourly, not one page per bucket as a random order would leave. Task ids grow with the task number, so
# both primary keys load in order; the secondary indexes of task_usage are dropped and built
# again around the layer (definitions read from the catalog); then every table is vacuumed
# and analysed, as autovacuum would. Prints the seconds the hourly pass took.
seed() {
    sql -v lo="$1" -v hi="$2" -v end="$END_TS" -v days="$HISTORY_DAYS" -v ws="$WS" \
        -v agents="$AGENTS_ARR" -v agent_rts="$AGENT_RT_ARR" -v prefix="$TASK_PREFIX" <<'SQL'
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';
CREATE TEMP TABLE IF NOT EXISTS bench_pairs (n, provider, model) AS VALUES
    (0, 'anthropic', 'claude-sonnet-4-5-20250929'), (1, 'anthropic', 'claude-opus-4-1-20250805'),
    (2, 'openai', 'gpt-5-codex'), (3, 'openai', 'gpt-5-mini-2025-08-07'),
    (4, 'google', 'gemini-2.5-pro'), (5, 'google', 'gemini-2.5-flash');
CREATE TEMP VIEW bench_layer AS
WITH t AS (
    SELECT i, 1 + abs(hashint8(i)::bigint) % cardinality(:'agents'::uuid[]) AS agent,
           :'end'::timestamptz - make_interval(days => :days::int) *
              (1 - ((i * 0.6180339887498949) - floor(i * 0.6180339887498949))) AS created,
           abs(hashint8(i * 3 + 1)::bigint) % 6 AS pair
      FROM generate_series(:lo::bigint, :hi::bigint - 1) AS i),
pairs AS (SELECT * FROM bench_pairs)
SELECT t.i, t.agent, p.provider, p.model,
       500 + abs(hashint8(t.i * 8 + k * 4)::bigint) % 150000 AS input_tokens,
       50 + abs(hashint8(t.i * 8 + k * 4 + 1)::bigint) % 16000 AS output_tokens,
       abs(hashint8(t.i * 8 + k * 4 + 2)::bigint) % 600000 AS cache_read_tokens,
       abs(hashint8(t.i * 8 + k * 4 + 3)::bigint) % 40000 AS cache_write_tokens,
       t.created + k * interval '1 second' AS created_at
  FROM t CROSS JOIN generate_series(0, 1) AS k
  JOIN pairs p ON p.n = (t.pair + k * 3) % 6;

CREATE TEMP TABLE bench_idx AS
    SELECT indexname, indexdef FROM pg_indexes
     WHERE schemaname = 'usage' AND tablename = 'task_usage' AND indexname <> 'task_usage_pkey';
SELECT format('DROP INDEX usage.%I', indexname) FROM bench_idx \gexec
INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, runtime_id, version, updated_at)
SELECT (:'prefix' || lpad(to_hex(i), 12, '0'))::uuid, :'ws'::uuid,
       (:'agents'::uuid[])[1 + abs(hashint8(i)::bigint) % cardinality(:'agents'::uuid[])],
       (:'agent_rts'::uuid[])[1 + abs(hashint8(i)::bigint) % cardinality(:'agents'::uuid[])],
       1, :'end'::timestamptz
  FROM generate_series(:lo::bigint, :hi::bigint - 1) AS i;
INSERT INTO usage.task_usage (task_id, provider, model, input_tokens, output_tokens,
       cache_read_tokens, cache_write_tokens, reported_at, created_at, updated_at, runtime_id)
SELECT (:'prefix' || lpad(to_hex(i), 12, '0'))::uuid, provider, model, input_tokens,
       output_tokens, cache_read_tokens, cache_write_tokens, created_at, created_at,
       created_at + interval '10 minutes', (:'agent_rts'::uuid[])[agent]
  FROM bench_layer;
SELECT indexdef FROM bench_idx \gexec

SELECT clock_timestamp() AS hourly_start \gset
INSERT INTO usage.task_usage_hourly AS h (workspace_id, runtime_id, agent_id, provider, model,
       bucket_hour, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, task_count,
       uncosted_input_tokens, uncosted_output_tokens, uncosted_cache_read_tokens,
       uncosted_cache_write_tokens, estimated_cost_usd_ticks, unpriced_tokens)
SELECT :'ws'::uuid, (:'agent_rts'::uuid[])[l.agent], (:'agents'::uuid[])[l.agent], l.provider,
       l.model, date_trunc('hour', l.created_at, 'UTC'), sum(l.input_tokens),
       sum(l.output_tokens), sum(l.cache_read_tokens), sum(l.cache_write_tokens), count(*),
       sum(l.input_tokens), sum(l.output_tokens), sum(l.cache_read_tokens),
       sum(l.cache_write_tokens), sum(c.estimated_cost_usd_ticks), sum(c.unpriced_tokens)
  FROM bench_layer l
  LEFT JOIN (SELECT s.* FROM (SELECT array_agg(:'ws'::uuid) AS w, array_agg(provider) AS p,
                                     array_agg(model) AS m FROM bench_pairs) k
              CROSS JOIN LATERAL usage.price_segments(k.w, k.p, k.m) s) s
    ON s.provider = l.provider AND s.model = l.model AND l.created_at >= s.valid_from
   AND (s.valid_until IS NULL OR l.created_at < s.valid_until)
 CROSS JOIN LATERAL usage.row_cost(l.input_tokens, l.output_tokens, l.cache_read_tokens,
       l.cache_write_tokens, NULL, s.input_ticks_per_mtok, s.output_ticks_per_mtok,
       s.cache_read_ticks_per_mtok, s.cache_write_ticks_per_mtok) c
 GROUP BY l.agent, l.provider, l.model, date_trunc('hour', l.created_at, 'UTC')
 ORDER BY 6, 3, 4, 5
ON CONFLICT ON CONSTRAINT task_usage_hourly_key DO UPDATE
   SET input_tokens = h.input_tokens + EXCLUDED.input_tokens,
       output_tokens = h.output_tokens + EXCLUDED.output_tokens,
       cache_read_tokens = h.cache_read_tokens + EXCLUDED.cache_read_tokens,
       cache_write_tokens = h.cache_write_tokens + EXCLUDED.cache_write_tokens,
       task_count = h.task_count + EXCLUDED.task_count,
       uncosted_input_tokens = h.uncosted_input_tokens + EXCLUDED.uncosted_input_tokens,
       uncosted_output_tokens = h.uncosted_output_tokens + EXCLUDED.uncosted_output_tokens,
       uncosted_cache_read_tokens = h.uncosted_cache_read_tokens + EXCLUDED.uncosted_cache_read_tokens,
       uncosted_cache_write_tokens = h.uncosted_cache_write_tokens + EXCLUDED.uncosted_cache_write_tokens,
       estimated_cost_usd_ticks = h.estimated_cost_usd_ticks + EXCLUDED.estimated_cost_usd_ticks,
       unpriced_tokens = h.unpriced_tokens + EXCLUDED.unpriced_tokens,
       revision = nextval('usage.task_usage_hourly_revision_seq'), updated_at = now();
SELECT extract(epoch FROM clock_timestamp() - :'hourly_start'::timestamptz);
VACUUM ANALYZE usage.task_usage;
VACUUM ANALYZE usage.task_attribution;
VACUUM ANALYZE usage.task_usage_hourly;
SQL
}

# busy FIRST: BUSY_ROWS tasks of the measured runtime's first agent from task number FIRST on,
# one usage row each (a pair the history has), created over the last BUSY_HOURS hours and
# updated now, as a daemon reporting all the time leaves them: past the rollup's watermark
# (the scheduler folds them only after its safety lag, 5 minutes), so every read of the
# runtime's window takes their hours from task_usage. Prints how many hours of the window
# the rollup has not reached.
busy() {
    sql -v lo="$1" -v n="$BUSY_ROWS" -v hours="$BUSY_HOURS" -v ws="$WS" -v rt="$RT" \
        -v agent="${AGENT_IDS[0]}" -v prefix="$TASK_PREFIX" -v days="$DAYS" <<'SQL'
INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, runtime_id, version, updated_at)
SELECT (:'prefix' || lpad(to_hex(:lo::bigint + i), 12, '0'))::uuid, :'ws'::uuid, :'agent'::uuid,
       :'rt'::uuid, 1, now()
  FROM generate_series(0, :n::int - 1) AS i;
INSERT INTO usage.task_usage (task_id, provider, model, input_tokens, output_tokens,
       cache_read_tokens, cache_write_tokens, reported_at, created_at, updated_at, runtime_id)
SELECT (:'prefix' || lpad(to_hex(:lo::bigint + i), 12, '0'))::uuid, 'openai', 'gpt-5-codex',
       1000 + i, 100 + i, 0, 0, c, c, now(), :'rt'::uuid
  FROM generate_series(0, :n::int - 1) AS i,
       LATERAL (SELECT now() - make_interval(secs => (i + 0.5) * :hours::int * 3600.0 / :n::int)
                    AS c) t;
SELECT count(*) FROM usage.usage_fresh_hours(:'rt'::uuid, NULL, now() - make_interval(days => :days::int + 1),
                                             (SELECT watermark FROM usage.rollup_state));
SQL
}
fresh_hours() {
    sql -v rt="$RT" -v days="$DAYS" <<'SQL'
SELECT count(*) FROM usage.usage_fresh_hours(:'rt'::uuid, NULL, now() - make_interval(days => :days::int + 1),
                                             (SELECT watermark FROM usage.rollup_state));
SQL
}

# The Lua side of wrk: the same Authorization header on both sides of a ratio, and one
# machine-readable summary line (latencies in microseconds; status errors are >= 400).
cat >"$TMP/wrk.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,' ..
        '"timeouts":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
        summary.requests, summary.duration, e.status, e.connect + e.read + e.write, e.timeout,
        latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
    -- The tail in detail (BENCH_HTTP_TAIL): more percentiles, and how many reads took longer
    -- than the gateway's histogram bounds of 2.5, 5 and 10 ms (latency(i): the i-th distinct
    -- value and its count).
    local n, o25, o5, o10 = 0, 0, 0, 0
    for i = 1, #latency do
        local v, c = latency(i)
        n = n + c
        if v > 2500 then o25 = o25 + c end
        if v > 5000 then o5 = o5 + c end
        if v > 10000 then o10 = o10 + c end
    end
    io.write(string.format(
        'WRKTAIL {"p90_us":%d,"p999_us":%d,"recorded":%d,"over_2_5ms":%d,"over_5ms":%d,"over_10ms":%d}\n',
        latency:percentile(90), latency:percentile(99.9), n, o25, o5, o10))
end
LUA

# measure URL THREADS CONNS SECONDS: one wrk run; prints a SIDE object. A run with no completed
# request, a status error or a timeout fails the benchmark.
measure() {
    local out line
    out=$(BENCH_TOKEN=$TOKEN wrk -t "$2" -c "$3" -d "${4}s" --timeout 60s \
        -s "$TMP/wrk.lua" "$1" 2>&1) || fail "wrk $1: $out"
    line=$(printf '%s\n' "$out" | sed -n 's/^WRKJSON //p')
    [ -n "$line" ] || fail "wrk $1 printed no summary: $out"
    if [ "${BENCH_HTTP_TAIL:-0}" = 1 ]; then
        line=$(jq -c --argjson t "$(printf '%s\n' "$out" | sed -n 's/^WRKTAIL //p')" \
            '. + {tail: ($t | .p90_ms = (.p90_us / 1000) | .p999_ms = (.p999_us / 1000)
                       | del(.p90_us, .p999_us))}' <<<"$line")
    fi
    printf '%s' "$line" | jq -c '
        if .requests == 0 or .status_errors > 0 or .timeouts > 0 then
            error("wrk: \(.requests) requests, \(.status_errors) status errors, \(.timeouts) timeouts")
        else . end
        | def ms: round / 1000;
        {rps: (.requests / (.duration_us / 1e6) * 1000 | round / 1000),
         p50_ms: (.p50_us | ms), p99_ms: (.p99_us | ms), mean_ms: (.mean_us | ms),
         max_ms: (.max_us | ms), requests, non2xx: .status_errors, socket_errors}
        + (if .tail then {tail} else {} end)' ||
        fail "wrk $1"
}

# BENCH_PROFILE_DIR (with DEV_PG_PRELOAD=pg_stat_statements): what the quiet and the busy
# read cost, per size: prof_start before a measurement, prof_stop LABEL after it writes
# read-LABEL.txt (every statement run during it, top-level and nested, with calls and mean
# time, from pg_stat_statements; the CPU seconds of the gateway and of Postgres over it; the
# reads wrk completed).
prof_cpu() {
    local pg gw
    gw=$(cat "$MULTICA_RUN_DIR/pids/api-gateway.pid" 2>/dev/null || true)
    pg=$(head -n 1 "${DEV_PG_DIR:-/nonexistent}/data/postmaster.pid" 2>/dev/null || true)
    echo "$(awk '{print ($14 + $15) / 100}' "/proc/$gw/stat" 2>/dev/null || echo 0)" \
        "$(for p in $pg $(pgrep -P "${pg:-1}" 2>/dev/null); do cat "/proc/$p/stat" 2>/dev/null; done |
            awk '{s += $14 + $15 + $16 + $17} END {print s / 100}')"
}
prof_start() {
    [ -n "${BENCH_PROFILE_DIR:-}" ] || return 0
    mkdir -p "$BENCH_PROFILE_DIR"
    psql -X -q "$DATABASE_URL" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
        -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" -c "SELECT pg_reload_conf()" \
        -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
    PROF_CPU=$(prof_cpu)
}
prof_stop() {
    [ -n "${BENCH_PROFILE_DIR:-}" ] || return 0
    local f="$BENCH_PROFILE_DIR/read-$1.txt"
    {
        echo "reads: $2"
        echo "cpu s (gateway postgres) before: $PROF_CPU after: $(prof_cpu)"
        psql -X -q "$DATABASE_URL" \
            -c "SELECT s.toplevel, s.calls, round(s.total_exec_time::numeric, 1) AS ms,
                       round((s.total_exec_time / nullif(s.calls, 0))::numeric, 4) AS ms_per_call,
                       round((s.total_plan_time / nullif(s.calls, 0))::numeric, 4) AS plan_ms_per_call,
                       s.rows, s.shared_blks_hit AS hit, left(regexp_replace(s.query, '\s+', ' ', 'g'), 200) AS query
                  FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                 WHERE r.rolname <> current_user
                 ORDER BY s.toplevel DESC, s.total_exec_time DESC LIMIT 60" 2>&1 || true
    } >"$f"
}

READ_PATH="/api/runtimes/$RT/usage?days=$DAYS"
tasks=0
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
for rows in "${SIZE_LIST[@]}"; do
    want=$((rows / 2))
    [ "$want" -gt "$tasks" ] || fail "BENCH_HTTP_SIZES must grow: $SIZES"
    log "read: seeding tasks $tasks..$want ($((2 * (want - tasks))) usage rows), hourly buckets"
    t0=$(date +%s.%N)
    hourly_s=$(seed "$tasks" "$want" | tail -n 1)
    seed_s=$(awk -v a="$(date +%s.%N)" -v b="$t0" -v h="$hourly_s" 'BEGIN { print a - b - h }')
    tasks=$want

    # Correctness, once per size: both answers must be the same rows (day, provider, model,
    # every sum and the task count). The raw read is timed cold (this first one) and warm (a
    # second), the warm time sizing the wrk duration below.
    api GET "$READ_PATH" >"$TMP/rollup.json"
    t0=$(date +%s.%N)
    api GET "$READ_PATH&source=raw" >"$TMP/raw.json"
    t1=$(date +%s.%N)
    api GET "$READ_PATH&source=raw" >/dev/null
    t2=$(date +%s.%N)
    raw_once_s=$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')
    raw_warm_s=$(awk -v a="$t2" -v b="$t1" 'BEGIN { print a - b }')
    if ! jq -e --slurpfile raw "$TMP/raw.json" '. == $raw[0] and length > 0' \
        "$TMP/rollup.json" >/dev/null; then
        fail "rollup and raw answers differ at $rows rows (see $TMP/rollup.json, $TMP/raw.json)"
    fi
    window_rows=$(jq '[.[].task_count] | add' "$TMP/raw.json")
    window_buckets=$(sql -v rt="$RT" -v days="$DAYS" <<'SQL'
SELECT count(*) FROM usage.task_usage_hourly
 WHERE runtime_id = :'rt'::uuid
   AND bucket_hour >= ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC';
SQL
)
    buckets=$(sql -c "SELECT count(*) FROM usage.task_usage_hourly WHERE workspace_id = '$WS'")
    # wrk counts only requests that complete within its duration: when one raw read takes
    # seconds, both sides run long enough for the raw side to complete about three (3 x
    # one warm raw read, within READ_MAX_SECONDS).
    secs=$(awk -v s="$SECONDS_PER_SIDE" -v r="$raw_warm_s" -v m="$READ_MAX_SECONDS" \
        'BEGIN { d = int(3 * r + 0.999); if (d < s) d = s; if (d > m) d = m; print d }')
    emit "$(jq -cn --argjson rows "$rows" --argjson seed "$seed_s" --argjson hourly "$hourly_s" \
        --argjson buckets "$buckets" --argjson wr "$window_rows" --argjson wb "$window_buckets" \
        --argjson once "$raw_once_s" --argjson warm "$raw_warm_s" \
        '{bench: "read_setup", rows: $rows, seed_s: ($seed * 100 | round / 100),
          hourly_s: ($hourly * 100 | round / 100), buckets: $buckets, window_rows: $wr,
          window_buckets: $wb, raw_once_s: ($once * 1000 | round / 1000),
          raw_warm_s: ($warm * 1000 | round / 1000), check: "ok"}')"

    for rep in $(seq 1 "$REPEAT"); do
        log "read at $rows rows, repetition $rep of $REPEAT: rollup, then raw ($secs s each)"
        prof_start
        rollup=$(measure "$GATEWAY_URL$READ_PATH" "$READ_THREADS" "$READ_CONNS" "$secs")
        prof_stop "quiet-$rows-$rep" "$(jq .requests <<<"$rollup")"
        raw=$(measure "$GATEWAY_URL$READ_PATH&source=raw" "$READ_THREADS" "$READ_CONNS" "$secs")
        emit "$(jq -cn --argjson rows "$rows" --argjson rep "$rep" --argjson wr "$window_rows" \
            --argjson wb "$window_buckets" --argjson rollup "$rollup" --argjson raw "$raw" \
            --arg ep "GET /api/runtimes/{id}/usage?days=$DAYS" --argjson t "$READ_THREADS" \
            --argjson c "$READ_CONNS" --argjson d "$secs" \
            '{bench: "read", rows: $rows, rep: $rep, endpoint: $ep, window_rows: $wr,
              window_buckets: $wb, wrk: {threads: $t, connections: $c, seconds: $d},
              rollup: $rollup, raw: $raw}')"
    done

    if [ "${BENCH_HTTP_TAIL:-0}" = 1 ]; then tail_probe "$rows" "$secs"; fi

    # The busy case: the same read with rows past the watermark (the figure the p99 target
    # stands for: the busiest runtime reports all the time). Checked against raw once.
    busy_from=$((0xb0000000000 + rows))
    # The scheduler's rollup (every 5 minutes) folds every logged change at once, with no
    # safety lag for them: a tick during the busy measurement would leave nothing unfolded and
    # turn the rest of it into a quiet read (read10 saw main's busy p50 fall to the quiet one's
    # that way). The rollup's lock (4246) is held until the measurement ends, so that its runs
    # return at once; deltas_after in the JSON says what was left to read.
    PGAPPNAME=bench-rollup-hold psql -X -q -tA "$DATABASE_URL" \
        -c "SELECT pg_advisory_lock(4246)" -c "SELECT pg_sleep(86400)" >/dev/null 2>&1 &
    rollup_hold=$!
    until [ "$(sql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                        AND objid = 4246 AND granted AND pid <> pg_backend_pid()")" -ge 1 ]; do
        sleep 0.1
    done
    hours_before=$(busy "$busy_from" | tail -n 1)
    [ "$hours_before" -gt 0 ] || fail "busy: no hour past the watermark"
    api GET "$READ_PATH" >"$TMP/busy.json"
    api GET "$READ_PATH&source=raw" >"$TMP/busy_raw.json"
    if ! jq -e --slurpfile raw "$TMP/busy_raw.json" '. == $raw[0] and length > 0' \
        "$TMP/busy.json" >/dev/null; then
        fail "busy: rollup and raw answers differ at $rows rows (see $TMP/busy.json)"
    fi
    # BENCH_HTTP_EXPLAIN=1: the busy read's SQL, every statement of it with its plan and
    # buffers (auto_explain, nested), on stderr, before the measurement.
    if [ "${BENCH_HTTP_EXPLAIN:-0}" = 1 ]; then
        sql -v rt="$RT" -v days="$DAYS" >&2 <<'SQL'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_timing = on;
SET auto_explain.log_nested_statements = on;
SET client_min_messages = log;
SELECT count(*) FROM usage.usage_fresh_rows(:'rt'::uuid,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', 'UTC');
SET client_min_messages = notice;
EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM usage.usage_fresh_rows(:'rt'::uuid,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', 'UTC');
-- The same read warm (its session's plans made), every statement again, then three times
-- bare, its delta rows alone and the gateway's warm-up (gw_usage_warm), timed.
SET client_min_messages = log;
SELECT count(*) FROM usage.usage_fresh_rows(:'rt'::uuid,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', 'UTC');
SET client_min_messages = notice;
SET auto_explain.log_min_duration = -1;
\timing on
SELECT count(*) FROM usage.usage_fresh_rows(:'rt'::uuid,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', 'UTC');
SELECT count(*) FROM usage.usage_fresh_rows(:'rt'::uuid,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', 'UTC');
SELECT count(*) FROM usage.usage_fresh_rows(:'rt'::uuid,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', 'UTC');
SELECT count(*) FROM usage.usage_delta_rows(:'rt'::uuid, NULL,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', NULL, 'UTC');
SELECT count(*) FROM usage.usage_fresh_rows(NULL, now(), 'UTC');
-- Where the gateway keeps the priced changes (usage.usage_fresh_parts, read10): its read once
-- it has them, asking only for the changes from its snapshot's boundary on, three times.
SELECT to_regprocedure('usage.usage_fresh_parts(uuid,timestamptz,text,xid8)') IS NOT NULL
       AS has_parts \gset
\if :has_parts
SELECT count(*) FROM usage.usage_fresh_parts(:'rt'::uuid,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', 'UTC',
       pg_snapshot_xmin(pg_current_snapshot()));
SELECT count(*) FROM usage.usage_fresh_parts(:'rt'::uuid,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', 'UTC',
       pg_snapshot_xmin(pg_current_snapshot()));
SELECT count(*) FROM usage.usage_fresh_parts(:'rt'::uuid,
       ((now() AT TIME ZONE 'UTC')::date - :days::int)::timestamp AT TIME ZONE 'UTC', 'UTC',
       pg_snapshot_xmin(pg_current_snapshot()));
\endif
\timing off
SQL
    fi
    for rep in $(seq 1 "$REPEAT"); do
        log "read_busy at $rows rows ($BUSY_ROWS rows past the watermark, $hours_before hours), repetition $rep of $REPEAT ($secs s)"
        prof_start
        rollup=$(measure "$GATEWAY_URL$READ_PATH" "$READ_THREADS" "$READ_CONNS" "$secs")
        prof_stop "busy-$rows-$rep" "$(jq .requests <<<"$rollup")"
        hours_after=$(fresh_hours)
        deltas_after=$(sql -v rt="$RT" <<'SQL'
SELECT count(*) FROM usage.task_usage_delta WHERE runtime_id = :'rt'::uuid;
SQL
)
        emit "$(jq -cn --argjson rows "$rows" --argjson rep "$rep" --argjson br "$BUSY_ROWS" \
            --argjson hb "$hours_before" --argjson ha "$hours_after" --argjson rollup "$rollup" \
            --arg ep "GET /api/runtimes/{id}/usage?days=$DAYS" --argjson d "$secs" \
            --argjson da "$deltas_after" \
            '{bench: "read_busy", rows: $rows, rep: $rep, endpoint: $ep, busy_rows: $br,
              fresh_hours_before: $hb, fresh_hours_after: $ha, deltas_after: $da,
              wrk: {threads: 1, connections: 1, seconds: $d}, rollup: $rollup}')"
    done
    sql >/dev/null -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                        WHERE application_name = 'bench-rollup-hold'"
    wait "$rollup_hold" 2>/dev/null || true # psql ends with an error: its backend was terminated
    until [ "$(sql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                        AND objid = 4246")" = 0 ]; do
        sleep 0.1
    done
    # The rollup folds them now (as its next run past the safety lag would), so that the next
    # size's read has nothing past the watermark again.
    sql >/dev/null <<'SQL'
SET multica.rollup_safety_lag = '0';
SELECT usage.rollup_task_usage_hourly() FROM generate_series(1, 3);
SQL
    [ "$(fresh_hours)" = 0 ] || fail "busy: hours still past the watermark after the rollup"
done

# ---- fresh: how soon a dashboard read shows a report the gateway accepted ----
# One task of the measured runtime, created as Multica creates them (an issue assigned to one
# of its agents). Report k (cumulative totals: input_tokens = 1000 k, under a provider/model
# nothing else uses) is POSTed as the daemon does; from its 202, the dashboard's daily read
# (the workspace, today, UTC) is polled until its row shows 1000 k. Samples are sequential, so
# each one is the path alone: gateway -> broker -> ingester -> task_usage -> the read, which
# takes the hours the rollup has not reached from task_usage. The figure includes up to one
# poll (a curl and a jq, about 20-30 ms). The old read waited for the rollup: the safety lag
# (5 minutes) and then the next run of its 5-minute plan.
fresh_bench() {
    local issue task k t0 t1 got deadline lat=()
    issue=$(api POST "/api/issues?workspace_id=$WS" \
        "{\"title\":\"bench fresh\",\"assignee_type\":\"agent\",\"assignee_id\":\"${AGENT_IDS[0]}\"}")
    task=$(printf '%s' "$issue" | jq -r '.task_id // empty')
    [ -n "$task" ] || fail "the fresh issue has no task: $issue"
    deadline=$((SECONDS + 60))
    until [ "$(sql -c "SELECT count(*) FROM usage.task_attribution a JOIN gateway.tasks t
                         USING (task_id) WHERE task_id = '$task'")" = 1 ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "task $task never reached the gateway and the ingester"
        sleep 0.1
    done
    local path="/api/dashboard/usage/daily?workspace_id=$WS&days=1&tz=UTC"
    for k in $(seq 1 "$FRESH_SAMPLES"); do
        TOKEN=$PAT api POST "/api/daemon/tasks/$task/usage" \
            "{\"usage\":[{\"provider\":\"bench\",\"model\":\"fresh-probe\",\"input_tokens\":$((1000 * k)),\"output_tokens\":1,\"cache_read_tokens\":0,\"cache_write_tokens\":0}]}" \
            >/dev/null
        t0=$(date +%s.%N)
        deadline=$((SECONDS + 900))
        while :; do
            got=$(api GET "$path" | jq '[.[] | select(.provider == "bench" and .model == "fresh-probe") | .input_tokens] | add // 0')
            [ "$got" -lt $((1000 * k)) ] || break
            [ "$SECONDS" -lt "$deadline" ] || fail "report $k of task $task not visible after 15 minutes"
        done
        t1=$(date +%s.%N)
        lat+=("$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.1f", (a - b) * 1000 }')")
    done
    # The task's rows go, so that the seeded usage is all that is removed at the end.
    sql -c "DELETE FROM usage.task_usage WHERE task_id = '$task'" >/dev/null
    sql -c "DELETE FROM usage.task_attribution WHERE task_id = '$task'" >/dev/null
    emit "$(printf '%s\n' "${lat[@]}" | jq -cs --arg ep "GET /api/dashboard/usage/daily?days=1" \
        --argjson rows "$rows" 'sort as $s | ($s | length) as $n |
        def pct(p): $s[([($n * p | ceil) - 1, 0] | max)];
        {bench: "fresh", rows: $rows, endpoint: $ep, samples: $n, p50_ms: pct(0.5),
         p99_ms: pct(0.99), max_ms: $s[-1], min_ms: $s[0]}')"
}
log "fresh: $FRESH_SAMPLES reports, each polled in the dashboard's read from its 202"
fresh_bench

# ---- gateway: an authenticated read against a bare libmicrohttpd hello world ----
start_hello "$TMP/hello.log"
api GET "/api/workspaces/$WS" >/dev/null
for rep in $(seq 1 "$REPEAT"); do
    log "gateway, repetition $rep of $REPEAT: GET /api/workspaces/{id}, then hello ($SECONDS_PER_SIDE s each)"
    ours=$(measure "$GATEWAY_URL/api/workspaces/$WS" "$GW_THREADS" "$GW_CONNS" "$SECONDS_PER_SIDE")
    hello=$(measure "http://127.0.0.1:$HELLO_PORT/" "$GW_THREADS" "$GW_CONNS" "$SECONDS_PER_SIDE")
    emit "$(jq -cn --argjson rep "$rep" --argjson ours "$ours" --argjson hello "$hello" \
        --argjson t "$GW_THREADS" --argjson c "$GW_CONNS" --argjson d "$SECONDS_PER_SIDE" \
        '{bench: "gateway", rep: $rep, endpoint: "GET /api/workspaces/{id}",
          wrk: {threads: $t, connections: $c, seconds: $d}, ours: $ours, hello: $hello}')"
done

# The seeded usage goes, so later stages of the run start from the tables they would find
# otherwise. When nothing else is in them (the usual case) TRUNCATE is instant where deleting
# 10M rows takes minutes.
if [ "${BENCH_HTTP_KEEP_DATA:-0}" != 1 ]; then
    log "removing the seeded usage"
    sql -v lo="${TASK_PREFIX}000000000000" -v hi="${TASK_PREFIX}ffffffffffff" -v ws="$WS" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM usage.task_usage WHERE task_id < :'lo'::uuid OR task_id > :'hi'::uuid)
   AND NOT EXISTS (SELECT 1 FROM usage.task_attribution
                    WHERE task_id < :'lo'::uuid OR task_id > :'hi'::uuid)
   AND NOT EXISTS (SELECT 1 FROM usage.task_usage_hourly WHERE workspace_id <> :'ws'::uuid)
       AS only_ours \gset
\if :only_ours
TRUNCATE usage.task_usage, usage.task_attribution, usage.task_usage_hourly;
\else
DELETE FROM usage.task_usage_hourly WHERE workspace_id = :'ws'::uuid;
DELETE FROM usage.task_usage WHERE task_id BETWEEN :'lo'::uuid AND :'hi'::uuid;
DELETE FROM usage.task_attribution WHERE task_id BETWEEN :'lo'::uuid AND :'hi'::uuid;
\endif
SQL
fi
log "done"
