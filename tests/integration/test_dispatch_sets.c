/* test_dispatch_sets.c: dispatch.apply_commands applies runs of requests, starts and finishes
 * set-wise; every outcome, row and transition must be the one its commands give when applied
 * one by one by their functions (the reference below is the loop apply_commands was). */
#include "dispatch_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ids: runtimes R1 and R2, agents A1..A3, tasks T(nn). */
#define R1   "5e700001-0000-7000-8000-000000000001"
#define R2   "5e700001-0000-7000-8000-000000000002"
#define A1   "5e700002-0000-7000-8000-000000000001"
#define A2   "5e700002-0000-7000-8000-000000000002"
#define A3   "5e700002-0000-7000-8000-000000000003"
#define T(n) "5e700004-0000-7000-8000-0000000000" #n
#define DAY1 "2026-01-01T00:00:00Z"
#define DAY2 "2026-01-02T00:00:00Z"
#define REQ(t, a, rt, at)                                                                          \
    "{\"op\":\"request_task\",\"p\":[\"" t "\",\"" WS "\",\"" a "\",\"" rt                         \
    "\",null,\"t\",\"1\",\"3\",\"" at "\"]}"
#define START(t, rt) "{\"op\":\"start_task\",\"p\":[\"" t "\",\"" rt "\"]}"
#define FINISH(t, rt, ev, res, why)                                                                \
    "{\"op\":\"finish_task\",\"p\":[\"" t "\"," rt ",\"" ev "\"," res "," why "]}"

/* The reference: each command by its function, in order (the former apply_commands). */
static const char *const one_by_one =
    "CREATE FUNCTION pg_temp.one_by_one(p_cmds jsonb) "
    "RETURNS TABLE (cmd integer, change dispatch.task_change) LANGUAGE plpgsql AS $$ "
    "DECLARE c jsonb; i integer; p jsonb; "
    "BEGIN FOR c, i IN SELECT x.value, x.ordinality FROM jsonb_array_elements(p_cmds) "
    "WITH ORDINALITY AS x ORDER BY x.ordinality LOOP p := c -> 'p'; CASE c ->> 'op' "
    "WHEN 'request_task' THEN RETURN QUERY SELECT i, r FROM dispatch.request_task("
    "(p->>0)::uuid, (p->>1)::uuid, (p->>2)::uuid, (p->>3)::uuid, (p->>4)::uuid, p->>5, "
    "(p->>6)::integer, (p->>7)::integer, (p->>8)::timestamptz) r; "
    "WHEN 'start_task' THEN RETURN QUERY SELECT i, r FROM dispatch.start_task((p->>0)::uuid, "
    "(p->>1)::uuid) r; "
    "WHEN 'finish_task' THEN RETURN QUERY SELECT i, r FROM dispatch.finish_task((p->>0)::uuid, "
    "(p->>1)::uuid, p->>2, p->>3, p->>4) r; "
    "WHEN 'cancel_task' THEN RETURN QUERY SELECT i, r FROM dispatch.cancel_task((p->>0)::uuid, "
    "p->>1, (p->>2)::boolean) r; "
    "WHEN 'runtime_seen' THEN RETURN QUERY SELECT i, r FROM dispatch.runtime_seen("
    "(p->>0)::uuid, (p->>1)::uuid, (p->>2)::integer, (p->>3)::timestamptz) r; "
    "END CASE; END LOOP; END $$";

/* Tasks 01..07 in every state the batches meet: 01 queued, 02 dispatched on R1, 03 and 04
 * running on R1, 05 completed, 06 cancelled and deleted, 07 (agent A2) dispatched on R2. */
static void seed(void)
{
    th_sql("SELECT dispatch.runtime_seen('" R1 "', '" WS "', 10, now())");
    th_sql("SELECT dispatch.runtime_seen('" R2 "', '" WS "', 10, now())");
    th_sql("SELECT dispatch.request_task(('5e700004-0000-7000-8000-0000000000' || "
           "lpad(n::text, 2, '0'))::uuid, '" WS "', CASE n WHEN 7 THEN '" A2 "' ELSE '" A1
           "' END::uuid, CASE n WHEN 7 THEN '" R2 "' ELSE '" R1 "' END::uuid, NULL, 't', 1, 3, "
           "'" DAY1 "') FROM generate_series(1, 7) n");
    th_sql("UPDATE dispatch.agent_task_queue SET status = 'dispatched', version = 2, "
           "dispatched_at = now(), lease_until = now() + interval '1 hour' "
           "WHERE task_id IN ('" T(02) "', '" T(03) "', '" T(04) "', '" T(05) "', '" T(07) "')");
    th_sql("UPDATE dispatch.agent_task_queue SET status = 'running', version = 3, "
           "lease_until = NULL, started_at = now(), last_progress_at = now() "
           "WHERE task_id IN ('" T(03) "', '" T(04) "', '" T(05) "')");
    th_sql("UPDATE dispatch.agent_task_queue SET status = 'completed', version = 4, "
           "completed_at = now() WHERE task_id = '" T(05) "'");
    th_sql("SELECT dispatch.cancel_task('" T(06) "', 'gone', true)");
}

/* One result as text (malloc'd): the rows fn returns for batch, in their order, without
 * their times, then the queue, the transitions and the agents it leaves; rolled back. */
static char *run(const char *fn, const char *batch)
{
    static const char *const rows_sql =
        "SELECT string_agg(ROW(b.cmd, (b.change).outcome, (b.change).event, (b.change).task_id, "
        "(b.change).workspace_id, (b.change).agent_id, (b.change).runtime_id, "
        "(b.change).issue_id, (b.change).version, (b.change).status, (b.change).from_status, "
        "(b.change).attempt, (b.change).lease_until IS NULL, (b.change).seq, (b.change).text, "
        "(b.change).result, (b.change).reason, (b.change).old_runtime_id, "
        "(b.change).waited_ms IS NULL, (b.change).at IS NULL)::text, E'\\n' ORDER BY b.n) "
        "FROM %s($1::jsonb) WITH ORDINALITY AS b(cmd, change, n)";
    static const char *const state_sql =
        "SELECT concat_ws(E'\\n---\\n', (SELECT string_agg(ROW(q.task_id, q.workspace_id, "
        "q.agent_id, q.runtime_id, q.status, q.version, q.attempt, q.lease_until IS NULL, "
        "q.started_at IS NULL, q.last_progress_at IS NULL, q.last_progress_seq, "
        "q.completed_at IS NULL, q.deleted_at IS NULL, q.result, q.failure_reason, "
        "q.wait_reason, q.priority, q.title)::text, E'\\n' ORDER BY q.task_id) "
        "FROM dispatch.agent_task_queue q), (SELECT string_agg(ROW(t.task_id, t.from_status, "
        "t.to_status, t.event, t.version, t.runtime_id, t.old_runtime_id, t.reason)::text, "
        "E'\\n' ORDER BY t.task_id, t.version) FROM dispatch.task_transitions t), "
        "(SELECT string_agg(ROW(a.agent_id, a.workspace_id, a.runtime_id, "
        "a.max_concurrent_tasks, a.described_at)::text, E'\\n' ORDER BY a.agent_id) "
        "FROM dispatch.agents a))";
    char sql[1024];
    snprintf(sql, sizeof sql, rows_sql, fn);
    th_sql("BEGIN");
    const char *params[] = {batch};
    PGresult *r = PQexecParams(th_pg(), sql, 1, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", fn, PQerrorMessage(th_pg()));
    PGresult *s = PQexec(th_pg(), state_sql);
    ck_assert_msg(PQresultStatus(s) == PGRES_TUPLES_OK, "%s", PQerrorMessage(th_pg()));
    size_t n = strlen(PQgetvalue(r, 0, 0)) + strlen(PQgetvalue(s, 0, 0)) + 8;
    char *out = malloc(n);
    snprintf(out, n, "%s\n===\n%s", PQgetvalue(r, 0, 0), PQgetvalue(s, 0, 0));
    PQclear(r);
    PQclear(s);
    th_sql("ROLLBACK");
    return out;
}

/* The batch (its commands joined into a JSON array): its outcomes
 * (position:outcome:event:reason), then its whole result against the reference's. */
static void check_batch(const char *const *cmds, size_t n, const char *want)
{
    char batch[8192] = "[";
    for (size_t i = 0; i < n; i++) {
        strcat(batch, i ? "," : "");
        strcat(batch, cmds[i]);
    }
    strcat(batch, "]");
    const char *params[] = {batch};
    th_sql("BEGIN");
    PGresult *r = PQexecParams(
        th_pg(),
        "SELECT string_agg(b.cmd || ':' || (b.change).outcome || ':' || (b.change).event || ':' "
        "|| coalesce((b.change).reason, ''), ',' ORDER BY b.n) FROM dispatch.apply_commands("
        "$1::jsonb) WITH ORDINALITY AS b(cmd, change, n)",
        1, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(th_pg()));
    ck_assert_str_eq(PQgetvalue(r, 0, 0), want);
    PQclear(r);
    th_sql("ROLLBACK");
    char *set = run("dispatch.apply_commands", batch);
    char *ref = run("pg_temp.one_by_one", batch);
    ck_assert_str_eq(set, ref);
    free(set);
    free(ref);
}

/* Agents unchanged (one insert for the requests): a duplicate of a known task and of one the
 * batch itself queued, every refusal beside applied moves, a task started then finished in one
 * batch, a start after its finish, and a runtime event between two runs. */
START_TEST(set_batch_matches_one_by_one)
{
    th_db_new();
    th_sql(one_by_one);
    seed();
    static const char *const cmds[] = {
        REQ(T(08), A1, R1, DAY1),
        REQ(T(01), A1, R1, DAY1),
        START(T(02), R1),
        START(T(07), R1),
        FINISH(T(03), "\"" R1 "\"", "completed", "\"ok\"", "null"),
        FINISH(T(05), "\"" R1 "\"", "completed", "\"x\"", "null"),
        START(T(99), R1),
        FINISH(T(06), "\"" R1 "\"", "failed", "null", "\"boom\""),
        FINISH(T(02), "\"" R1 "\"", "completed", "\"done\"", "null"),
        REQ(T(08), A1, R1, DAY1),
        START(T(02), R1),
        FINISH(T(04), "null", "failed", "null", "\"crash\""),
        "{\"op\":\"runtime_seen\",\"p\":[\"" R1 "\",\"" WS "\",\"10\",\"" DAY2 "\"]}",
        START(T(01), R1),
    };
    check_batch(cmds, MC_ARRAY_LEN(cmds),
                "1:applied:queued:,2:noop:queued:duplicate,3:applied:started:,"
                "4:refused:started:runtime_mismatch,5:applied:completed:,"
                "6:refused:completed:illegal_transition,7:refused:started:unknown_task,"
                "8:refused:failed:deleted,9:applied:completed:,10:noop:queued:duplicate,"
                "11:refused:started:illegal_transition,12:applied:failed:crash,"
                "14:refused:started:illegal_transition");
}
END_TEST

/* Agents that change (the requests one by one): A1 moved to R2 by a newer request, then an
 * older one that must not move it back; a new agent; a cancel between runs. */
START_TEST(set_batch_with_agent_changes_matches_one_by_one)
{
    th_db_new();
    th_sql(one_by_one);
    seed();
    static const char *const cmds[] = {
        REQ(T(20), A1, R2, DAY2),
        REQ(T(21), A1, R1, "2026-01-01T12:00:00Z"),
        REQ(T(22), A3, R1, DAY1),
        REQ(T(01), A1, R1, DAY1),
        START(T(07), R2),
        "{\"op\":\"cancel_task\",\"p\":[\"" T(07) "\",\"stop\",\"false\"]}",
        FINISH(T(07), "\"" R2 "\"", "completed", "null", "null"),
    };
    check_batch(cmds, MC_ARRAY_LEN(cmds),
                "1:applied:queued:,2:applied:queued:,3:applied:queued:,"
                "4:noop:queued:duplicate,5:applied:started:,6:applied:cancelled:stop,"
                "7:refused:completed:illegal_transition");
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.agent_task_queue"), 7);
    /* A finish with an event the state machine does not name fails the whole batch. */
    PGresult *r =
        PQexec(th_pg(), "SELECT * FROM dispatch.apply_commands('[" START(T(02), R1) "," FINISH(
                            T(03), "null", "bogus", "null", "null") "]')");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    ck_assert_int_eq(th_sql_int("SELECT version FROM dispatch.agent_task_queue WHERE task_id = "
                                "'" T(02) "'"),
                     2);
}
END_TEST

TCase *dt_case_sets(void)
{
    TCase *tc = tcase_create("sets");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, set_batch_matches_one_by_one);
    tcase_add_test(tc, set_batch_with_agent_changes_matches_one_by_one);
    return tc;
}
